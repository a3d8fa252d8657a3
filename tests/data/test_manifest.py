"""Fast checks of ``ferkit data clean`` and the manifest: decisions, duplicates across
labels, bad places, unreadable pictures, and manifests edited into nonsense."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ferkit.data.clean import clean, decide, mark_duplicates
from ferkit.data.manifest import read_manifest, write_manifest
from ferkit.errors import DatasetError, UsageError


def _rows(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("reasons,decision", [
    ([], "keep"), (["several faces: 2"], "review"), (["no label: x", "blurred: 3"], "reject"),
    (["model disagrees: happy 0.95"], "review"), (["duplicate: of a.jpg"], "reject")])
def test_decide(reasons, decision):
    assert decide(reasons) == decision


def test_copies_of_one_picture_under_two_labels_go_to_review():
    rows = [{"source": s, "label": lab, "phash": h, "width": 10, "height": 10, "_reasons": []}
            for s, lab, h in (("a.jpg", "happy", "ff00ff00ff00ff00"), ("b.jpg", "sad", "ff00ff00ff00ff01"),
                              ("c.jpg", "sad", "00ff00ff00ff00ff"))]
    mark_duplicates(rows, 4)
    assert [r["_reasons"] for r in rows] == [["same picture, other label: copies labelled happy, sad"]] * 2 + [[]]


@pytest.mark.parametrize("case", ["empty", "missing", "inside", "other-source"])
def test_bad_places_are_refused_before_any_work(case, tmp_path, photos_dir):
    src = tmp_path / "raw"
    src.mkdir()
    out = tmp_path / "ds"
    if case == "empty":
        (src / "readme.txt").write_text("x")
        with pytest.raises(DatasetError, match="no images found in folder"):
            clean(src, out, progress=False)
    elif case == "missing":
        with pytest.raises(DatasetError, match="not a folder"):
            clean(tmp_path / "nope", out, progress=False)
    elif case == "inside":
        shutil.copy(photos_dir / "fer_justin.jpg", src / "happy.jpg")
        with pytest.raises(UsageError, match="inside the source folder"):
            clean(src, src / "dataset", progress=False)
    else:
        out.mkdir()
        (out / "dataset.json").write_text(json.dumps({"source": "/somewhere/else"}))
        shutil.copy(photos_dir / "fer_justin.jpg", src / "happy.jpg")
        with pytest.raises(UsageError, match="cleaned from /somewhere/else"):
            clean(src, out, progress=False)
    assert not (out / "manifest.csv").exists()


def test_an_unreadable_picture_is_a_reason_and_the_rest_goes_on(tmp_path, photos_dir):
    src = tmp_path / "raw"
    (src / "happy").mkdir(parents=True)
    shutil.copy(photos_dir / "fer_justin.jpg", src / "happy" / "man.jpg")
    (src / "happy" / "zero.jpg").write_bytes(b"")
    (src / "happy" / "text.png").write_text("not a png")
    summary = clean(src, tmp_path / "ds", progress=False, ocr=False)
    rows = {r["source"]: r for r in _rows(tmp_path / "ds")}
    assert rows["happy/man.jpg"]["decision"] == "keep" and rows["happy/man.jpg"]["label"] == "happy"
    for name in ("happy/zero.jpg", "happy/text.png"):
        assert rows[name]["decision"] == "reject" and rows[name]["reasons"].startswith("not decodable")
    assert summary.decisions == {"keep": 1, "reject": 2}


def test_write_manifest_round_trips(tmp_path):
    rows = [{"id": "a-0", "file": "crops/a-0.jpg", "source": "a.jpg", "label": "happy", "decision": "keep",
             "yaw": -3.25, "copies": 2}]
    write_manifest(tmp_path, rows)
    back = read_manifest(tmp_path).rows[0]
    assert back["yaw"] == "-3.25" and back["copies"] == "2" and back["split"] == ""
    assert np.isclose(float(back["yaw"]), -3.25)


GOOD = ("id,file,source,face,faces,label,decision,reasons,split,copies\n"
        "a-0,crops/a-0.jpg,a.jpg,0,1,happy,keep,,train,1\n"
        "b-0,crops/b-0.jpg,b.jpg,0,1,sad,keep,,val,\n")


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.replace("happy,keep", "happy,maybe"), r"manifest.csv:2: decision 'maybe' is not one of"),
    (lambda t: t.replace("happy,keep", "glad-ish,keep"), r"manifest.csv:2: label: unknown expression label 'glad-ish'"),
    (lambda t: t.replace("b-0,crops", "a-0,crops"), r"manifest.csv:3: id 'a-0' repeats line 2"),
    (lambda t: t.replace(",val,", ",holdout,"), r"manifest.csv:3: split 'holdout' is not one of train, val, test"),
    (lambda t: t.replace("train,1", "train,-2"), r"manifest.csv:2: copies '-2' is not an integer >= 0"),
    (lambda t: t.replace("happy,keep", ",keep"), r"manifest.csv:2: a kept row needs a label"),
    (lambda t: t.replace("crops/a-0.jpg", "../../etc/passwd"), r"must be a path inside the dataset folder"),
    (lambda t: t.replace("id,file", "key,file"), r"not a ferkit manifest: column\(s\) id missing"),
    (lambda t: t + "c-0,x.jpg,c.jpg,0,1,happy,keep,,,,extra,fields,here\n", r"manifest.csv:4: more fields than"),
    (lambda t: "", r"empty manifest"),
], ids=["decision", "label", "duplicate-id", "split", "copies", "no-label", "escape", "columns", "fields", "empty"])
def test_nonsense_manifests_are_refused_with_line_and_column(edit, message, tmp_path):
    (tmp_path / "manifest.csv").write_text(edit(GOOD))
    with pytest.raises(DatasetError, match=message):
        read_manifest(tmp_path)


def test_binary_garbage_and_missing_manifests(tmp_path):
    with pytest.raises(DatasetError, match="no manifest"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DatasetError, match="cannot read the manifest|not a ferkit manifest|not a readable CSV"):
        read_manifest(tmp_path)


def test_hand_edits_are_honoured(tmp_path):
    (tmp_path / "manifest.csv").write_text(GOOD.replace("happy,keep", "Happiness,KEEP").replace(",val,", ",Val,"))
    m = read_manifest(tmp_path)
    assert [(r["label"], r["decision"], r["split"]) for r in m.rows] == [("happy", "keep", "train"),
                                                                        ("sad", "keep", "val")]
