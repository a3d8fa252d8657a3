"""``ferkit batch`` with the local engine: the records of ``ferkit analyze``, errors as
records, resuming without duplicates, and ferkit video's files for each video."""

from __future__ import annotations

import csv
import json
import os

import pyarrow.parquet as pq
import pytest
from batchsetup import OPTIONS
from typer.testing import CliRunner

from clirun import run_cli_fresh
from ferkit.analyzer import Analyzer
from ferkit.batch import load_records, read_log, run_batch, video_options_for_batch
from ferkit.batch.store import BatchStore
from ferkit.cli import app
from ferkit.errors import OutputError, UsageError
from ferkit.inputs import expand_inputs
from ferkit.results import FACES_CSV, face_records
from ferkit.video import VideoOptions, analyze_video

runner = CliRunner()
BAD = {"empty.jpg": "empty file (0 bytes)", "truncated.jpg": "corrupt or truncated image",
       "notes.jpg": "not an image (unrecognised format)", "bomb.png": "image too large"}


def _key(record: dict):
    return record["file"], -1 if record["face"] is None else record["face"]


@pytest.fixture(scope="module")
def expected(mixed_folder):
    """The folder's records as ferkit analyze makes them (Analyzer.analyze_files)."""
    analyzer = Analyzer.from_options(OPTIONS)
    results = list(analyzer.analyze_files(expand_inputs([mixed_folder]).files))
    columns = FACES_CSV.columns(analyzer.labels)
    rows = [{c: rec[c] for c in columns} for r in results for rec in face_records(r, analyzer.labels)]
    return results, sorted(rows, key=_key)


def test_records_are_those_of_ferkit_analyze(mixed_folder, expected, tmp_path):
    results, rows = expected
    errors = []
    report = run_batch([mixed_folder], tmp_path / "out", options=OPTIONS, workers=2, part_size=3,
                       batch_size=2, on_error=errors.append)
    assert sorted(load_records(tmp_path / "out"), key=_key) == rows   # typed and unrounded, all columns
    # The folder reads as one Parquet dataset (the bookkeeping files start with "_").
    assert sorted(pq.read_table(tmp_path / "out").to_pylist(), key=_key) == rows
    assert report.ok is False and report.unprocessed == []
    assert report.planned == report.analysed == len(results) == len(list(mixed_folder.glob("*.*"))) + 4
    assert report.faces == sum(len(r.faces) for r in results) >= 8
    failed = {r.file.rsplit("/", 1)[-1]: r.error for r in results if r.error}
    assert {k: v.split(":")[0] for k, v in failed.items()} == BAD
    assert sorted(errors) == sorted(failed.values()) and report.failed == 4
    assert any("clips" in n for n in report.notices)   # the videos are passed over, with a notice
    parts = [e["part"] for e in read_log(tmp_path / "out")]
    assert parts == [f"part-{i:05d}.parquet" for i in range(len(parts))] and len(parts) >= 4


def test_jsonl_lines_are_ferkit_analyze_lines(mixed_folder, tmp_path):
    args = [str(mixed_folder), "--detect-size", "320", "--threads", "1", "-q"]
    analyzed = runner.invoke(app, ["analyze", *args, "--out", str(tmp_path / "a.jsonl")])
    batched = runner.invoke(app, ["batch", *args, "--out", str(tmp_path / "b"), "--format", "jsonl"])
    assert analyzed.exit_code == batched.exit_code == 1, batched.output
    lines = sorted((tmp_path / "a.jsonl").read_text().splitlines())
    assert sorted(p for f in (tmp_path / "b").glob("part-*.jsonl") for p in f.read_text().splitlines()) == lines
    assert sorted(json.dumps(r) for r in load_records(tmp_path / "b")) == sorted(
        json.dumps(json.loads(line)) for line in lines)


def test_a_rerun_skips_what_is_done_and_redoes_what_a_killed_run_left(mixed_folder, expected, tmp_path):
    out = tmp_path / "out"
    first = run_batch([mixed_folder], out, options=OPTIONS, part_size=4)
    # A run killed after writing its last part but before listing it, mid-way through a log line.
    log = (out / "_done.jsonl").read_text().splitlines()
    lost = json.loads(log[-1])
    (out / "_done.jsonl").write_text("\n".join(log[:-1]) + '\n{"part": "part-0')
    (out / lost["part"]).rename(out / "part-00007.parquet")   # unlisted, whatever its number
    (out / ".part-00008.parquet.tmp").write_bytes(b"PAR1")    # and one cut short
    second = run_batch([mixed_folder], out, options=OPTIONS, part_size=4)
    assert (second.skipped, second.analysed) == (first.planned - len(lost["inputs"]), len(lost["inputs"]))
    assert not (out / "part-00007.parquet").exists() and not (out / ".part-00008.parquet.tmp").exists()
    assert [e["part"] for e in read_log(out)] == [f"part-{i:05d}.parquet" for i in range(len(log))]
    assert sorted(load_records(out), key=_key) == expected[1]   # complete, nothing twice
    third = run_batch([mixed_folder], out, options=OPTIONS)
    assert (third.skipped, third.analysed, third.ok) == (first.planned, 0, True)

    with pytest.raises(UsageError, match="holds results of another batch .settings differ"):
        run_batch([mixed_folder], out, options=OPTIONS.__class__(detect_size=640, threads=1))
    with pytest.raises(UsageError, match="format differ"):
        run_batch([mixed_folder], out, options=OPTIONS, fmt="jsonl")
    again = run_batch([mixed_folder / "fer_justin.jpg"], out, options=OPTIONS, fmt="jsonl", overwrite=True)
    assert again.analysed == 1 and sorted(p.name for p in out.iterdir()) == [
        "_batch.json", "_done.jsonl", "part-00000.jsonl"]


def test_one_run_per_output_folder(tmp_path):
    with BatchStore(tmp_path, kind="images", fmt="parquet", labels=["a"], settings={}):
        with pytest.raises(OutputError, match="being written by another ferkit run"):
            BatchStore(tmp_path, kind="images", fmt="parquet", labels=["a"], settings={})


def test_videos_get_ferkit_videos_files_and_one_summary_table(mixed_folder, tmp_path):
    clips = mixed_folder / "clips"
    options = video_options_for_batch(VideoOptions(fps=1.0))
    errors = []
    report = run_batch([clips], tmp_path / "out", kind="videos", options=OPTIONS, video=options,
                       on_error=errors.append)
    assert (report.planned, report.analysed, report.failed) == (3, 3, 1)
    assert errors == [next(e["error"] for e in read_log(tmp_path / "out") if e["error"])]
    assert "broken.mp4" in errors[0]
    summary = list(csv.DictReader(open(tmp_path / "out" / "summaries.csv", newline="")))
    for name in ("facerec_short_hamilton_clip.mp4", "pyfeat_face_noface.mov"):
        alone = tmp_path / "alone" / name
        analyze_video(clips / name, options, out_dir=alone, detect_size=320, threads=1).collect()
        got = tmp_path / "out" / name
        for file in ("frames.csv", "tracks.csv"):
            assert (got / file).read_text() == (alone / file).read_text(), file
        tracks = json.loads((got / "tracks.json").read_text())
        assert tracks["source"] == str(clips / name) and tracks["outputs"]["frames.csv"] == str(got / "frames.csv")
        rows = [r for r in summary if r["video"] == str(clips / name)]
        assert [r["track"] for r in rows] == [r["track"] for r in csv.DictReader(open(alone / "tracks.csv"))]
    assert report.tracks == sum(1 for r in summary if r["track"]) > 0
    broken = [r for r in summary if r["video"].endswith("broken.mp4")]
    assert len(broken) == 1 and broken[0]["track"] == "" and broken[0]["error"] == errors[0]
    rerun = run_batch([clips], tmp_path / "out", kind="videos", options=OPTIONS, video=options)
    assert (rerun.skipped, rerun.analysed) == (3, 0)
    assert list(csv.DictReader(open(tmp_path / "out" / "summaries.csv", newline=""))) == summary


@pytest.mark.parametrize("args,message", [
    (["x.jpg", "--address", "auto"], "need --engine ray"),
    (["x.jpg", "--annotate"], "--annotate needs --video"),
    ([], "give inputs"),
    (["x.jpg", "--engine", "spark"], "spark"),
])
def test_usage_errors_are_refused_before_anything_loads(args, message, tmp_path):
    wide = {**os.environ, "COLUMNS": "300", "TERMINAL_WIDTH": "300"}   # the error box on one line
    result = run_cli_fresh(["batch", *args, "--out", str(tmp_path / "out")], tmp_path, env=wide)
    assert result.code == 2 and message in result.stderr, result.stderr
    assert result.heavy == [] and "ray" not in result.modules
    assert not (tmp_path / "out").exists()
