"""The plan of a batch: which inputs, named how, and which fail before they are read."""

from __future__ import annotations

import os

import pytest

from ferkit.batch.plan import build_plan, read_list
from ferkit.errors import UsageError
from imagefiles import astronaut, jpeg_bytes, write_bad_files


def _names(plan):
    return [i.name for i in plan.items]


def test_images_are_planned_as_ferkit_analyze_names_them(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(jpeg_bytes(astronaut()))
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    write_bad_files(tmp_path / "a" / "bad")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    plan = build_plan([tmp_path / "a", fifo, tmp_path / "missing.jpg", str(tmp_path / "none*.png")])
    by_name = {i.name: i for i in plan.items}
    assert set(by_name) == {str(tmp_path / "a" / p) for p in
                            ("x.jpg", "bad/empty.jpg", "bad/truncated.jpg", "bad/notes.jpg", "bad/bomb.png")
                            } | {str(fifo), str(tmp_path / "missing.jpg"), str(tmp_path / "none*.png")}
    # Known to fail before anything is read: said in ferkit analyze's words, never opened.
    assert by_name[str(fifo)].error == f"not a regular file: {fifo} is a pipe (FIFO)"
    assert by_name[str(tmp_path / "missing.jpg")].error.startswith("file not found")
    assert by_name[str(tmp_path / "none*.png")].error.startswith("no files match")
    # Broken files are read by the engines (their records say what is wrong).
    assert by_name[str(tmp_path / "a" / "bad/truncated.jpg")].error is None
    assert any("notes.txt" in notice for notice in plan.skipped)
    assert [i.name for i in plan.pending({str(tmp_path / "a" / "x.jpg")}).items] == [
        n for n in _names(plan) if n != str(tmp_path / "a" / "x.jpg")]


def test_videos_get_one_output_folder_each(tmp_path):
    for rel in ("in/a.mp4", "in/sub/a.mp4", "in/b.MOV", "in/photo.jpg", "other/a.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"video?")
    plan = build_plan([tmp_path / "in", tmp_path / "other" / "a.mp4", tmp_path / "empty*.mp4"],
                      kind="videos")
    folders = {i.name.removeprefix(str(tmp_path) + "/"): i.folder for i in plan.items}
    assert folders == {"in/a.mp4": "a.mp4", "in/b.MOV": "b.MOV", "in/sub/a.mp4": "sub/a.mp4",
                       "other/a.mp4": "a.mp4-2", "empty*.mp4": None}
    assert plan.items[-1].error.startswith("no files match")
    assert plan.skipped == [f"{tmp_path / 'in'}: skipped 1 file that is not a video"]
    (tmp_path / "nothing").mkdir()
    assert build_plan([tmp_path / "nothing"], kind="videos").items[0].error.startswith("no videos found")


def test_object_store_uris_are_listed_with_pyarrow(tmp_path):
    pytest.importorskip("pyarrow")
    (tmp_path / "d" / "s").mkdir(parents=True)
    for rel in ("d/1.jpg", "d/s/2.PNG", "d/skip.txt"):
        (tmp_path / rel).write_bytes(b"x")
    plan = build_plan([f"file://{tmp_path}/d", f"file://{tmp_path}/d/1.jpg", f"file://{tmp_path}/nope"])
    assert _names(plan) == [f"file://{tmp_path}/d/1.jpg", f"file://{tmp_path}/d/s/2.PNG",
                            f"file://{tmp_path}/nope"]
    assert plan.skipped == ["skipped 1 input listed already"]
    assert plan.items[-1].error == f"file not found: file://{tmp_path}/nope"
    assert [i.source for i in plan.items[:2]] == _names(plan)[:2]


def test_list_files_and_bad_arguments(tmp_path):
    listing = tmp_path / "inputs.txt"
    listing.write_text("# photos\na.jpg\n\n  s3://bucket/b.jpg  \n")
    assert read_list(listing) == ["a.jpg", "s3://bucket/b.jpg"]
    with pytest.raises(UsageError, match="cannot read the input list"):
        read_list(tmp_path / "missing.txt")
    with pytest.raises(UsageError):
        build_plan([], kind="images")
    with pytest.raises(UsageError):
        build_plan(["x"], kind="sounds")
