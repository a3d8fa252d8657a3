"""``ferkit data`` and ``ferkit survey`` on the command line: thin layers over the API,
clear one-line errors, and nothing heavy loaded before the options are checked."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from clirun import HEAVY, run_cli_fresh
from ferkit.cli import app
from ferkit.data.manifest import read_manifest, write_manifest

runner = CliRunner()


def _invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _dataset(tmp_path, photos_dir):
    (tmp_path / "crops").mkdir(parents=True)
    rows = []
    for i in range(12):
        label = ("happy", "sad", "angry")[i % 3]
        shutil.copy(photos_dir / "fer_justin.jpg", tmp_path / "crops" / f"{i}.jpg")
        rows.append({"id": str(i), "file": f"crops/{i}.jpg", "source": f"person{i // 2}/{i}.jpg",
                     "label": label, "decision": "keep"})
    write_manifest(tmp_path, rows)
    return tmp_path


def test_label_clean_split_balance_stats(tmp_path, photos_dir):
    src = tmp_path / "raw"
    src.mkdir()
    shutil.copy(photos_dir / "fer_justin.jpg", src / "happy-smiling-man.jpg")
    shutil.copy(photos_dir / "pyfeat_angry_black.jpg", src / "furious-woman-260nw-1.jpg")
    shutil.copy(photos_dir / "facerec_two_people.jpg", src / "sad-upset-men.jpg")
    r = _invoke("data", "label", src, "--out", tmp_path / "labels.csv", "--quiet")
    assert r.exit_code == 0, r.output
    with open(tmp_path / "labels.csv", newline="") as f:
        status = {row["file"]: (row["status"], row["label"]) for row in csv.DictReader(f)}
    assert status == {"happy-smiling-man.jpg": ("labelled", "happy"), "furious-woman-260nw-1.jpg": ("labelled", "angry"),
                      "sad-upset-men.jpg": ("review", "")}
    out = tmp_path / "ds"
    r = _invoke("data", "clean", src, "--out", out, "--labels", tmp_path / "labels.csv", "--no-ocr")
    assert r.exit_code == 0, r.output
    assert "3 pictures (0 done before), 4 faces: 2 keep, 2 review, 0 reject" in r.output
    rows = {row["source"]: row for row in read_manifest(out).rows}
    assert "no label: keywords of several labels: sad (sad), angry (upset)" in rows["sad-upset-men.jpg"]["reasons"]

    ds = _dataset(tmp_path / "d2", photos_dir)
    r = _invoke("data", "split", ds, "--val", "0.25", "--test", "0.25", "--group-by", r"^(person\d+)/")
    assert r.exit_code == 0, r.output
    assert "groups" in r.output
    groups: dict[str, set] = {}
    for row in read_manifest(ds).rows:
        groups.setdefault(row["group"], set()).add(row["split"])
    assert len(groups) == 6 and all(len(s) == 1 for s in groups.values())
    r = _invoke("data", "balance", ds, "--per-class", "3", "--strategy", "oversample")
    assert r.exit_code == 0, r.output
    r = _invoke("data", "stats", ds, "--json")
    assert r.exit_code == 0, r.output
    stats = json.loads(r.output[r.output.index("{"):])
    assert stats["kept"] == 12 and set(stats["training_samples"].values()) <= {3, 0}
    assert (ds / "stats.json").is_file()
    r = _invoke("data", "stats", ds)
    assert r.exit_code == 0 and "training samples" in r.output


@pytest.mark.parametrize("args,message", [
    (["data", "split", "{ds}", "--join", "nonsense"], "--join 'nonsense': write A=B"),
    (["data", "split", "{tmp}/none"], "no manifest"),
    (["data", "balance", "{ds}", "--per-class", "2", "--strategy", "smote"], "Invalid value"),
    (["data", "clean", "{tmp}/empty", "--out", "{tmp}/o"], "no images found in folder"),
    (["data", "clean", "{tmp}/empty", "--out", "{tmp}/o", "--keywords", "default", "--pattern", "x"],
     "give one of --labels, --keywords and --pattern"),
    (["data", "label", "{tmp}/empty", "--keywords", "{tmp}/nope.yaml"], "keyword map not found"),
    (["data", "clean", "{tmp}/empty", "--out", "{tmp}/o", "--config", "{tmp}/bad.json"], "unknown clean config option"),
    (["survey", "report", "{tmp}"], "not a survey folder"),
    (["survey", "create", "--from", "{tmp}/empty", "--out", "{tmp}/s"], "neither a dataset folder"),
])
def test_errors_are_one_line(args, message, tmp_path, photos_dir):
    ds = _dataset(tmp_path / "ds", photos_dir)
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text(json.dumps({"min_sharpnes": 3}))
    before = (ds / "manifest.csv").read_bytes()
    r = runner.invoke(app, [a.format(ds=ds, tmp=tmp_path) for a in args])
    assert r.exit_code in (1, 2), r.output
    assert message in r.output
    assert "Traceback" not in r.output
    assert (ds / "manifest.csv").read_bytes() == before


@pytest.mark.parametrize("args", [["data", "--help"], ["data", "clean", "--help"], ["survey", "--help"],
                                  ["data", "balance", "x", "--per-class", "0"],
                                  ["survey", "create", "--from", "x", "--out", "y", "--order", "random"]])
def test_help_and_usage_errors_load_nothing_heavy(args, tmp_path):
    result = run_cli_fresh(args, tmp_path)
    assert result.code in (0, 2), result.stderr
    assert not set(HEAVY) & set(result.modules)
