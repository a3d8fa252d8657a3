"""``ferkit compare --table/--chart`` on two tiny real runs, one of them evaluated."""

from __future__ import annotations

import csv
import io
import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.train.compare import read_run, summary_rows, table_text

runner = CliRunner()


@pytest.fixture(scope="module")
def two_runs(tiny_checkpoint, tiny_fer, tmp_path_factory, torch1):
    """The tiny fercnn_s run, evaluated on PrivateTest, and a 1-epoch run of another seed."""
    from ferkit.train import TrainConfig, train
    from ferkit.train.evaluate import evaluate_checkpoint

    first = tiny_checkpoint.parent
    report = evaluate_checkpoint(tiny_checkpoint, split="PrivateTest", dataset=tiny_fer,
                                 out_dir=first / "eval", progress=False)
    cfg = TrainConfig(name="tiny-b", model="fercnn_s", augment="none", optimizer="adamw", lr=2e-3,
                      epochs=1, warmup_epochs=0, batch_size=64, amp=False, threads=1, seed=1)
    second = tmp_path_factory.mktemp("tiny-b") / "run"
    train(cfg, second, dataset=tiny_fer, progress=False)
    return first, second, report


def test_table_export_markdown_and_csv(two_runs, tmp_path):
    first, second, report = two_runs
    md, csv_path, png = tmp_path / "runs.md", tmp_path / "out" / "runs.csv", tmp_path / "bars.png"
    r = runner.invoke(app, ["compare", str(first), str(second), "--table", str(md),
                            "--chart", str(png)])
    assert r.exit_code == 0, r.output
    assert f"table: {md}" in r.output and f"chart: {png}" in r.output
    r = runner.invoke(app, ["compare", str(first), str(second), "--table", str(csv_path)])
    assert r.exit_code == 0, r.output

    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    assert len(rows) == 2
    by_epochs = {row["epochs"]: row for row in rows}
    evaluated, plain = by_epochs["2/2"], by_epochs["1/1"]
    assert evaluated["eval split"] == "PrivateTest"
    assert float(evaluated["accuracy"]) == pytest.approx(report.accuracy, abs=1e-4)
    assert float(evaluated["macro-F1"]) == pytest.approx(report.macro_f1, abs=1e-4)
    for c, m in report.per_class.items():
        assert float(evaluated[f"recall {c}"]) == pytest.approx(m["recall"], abs=1e-4)
    assert plain["accuracy"] == "" and plain["eval split"] == ""      # not evaluated: blank
    assert evaluated["hardware"] and plain["hardware"]
    val = [read_run(p).best_val_accuracy for p in (first, second)]
    assert [float(row["val acc"]) for row in rows] == sorted([round(v, 4) for v in val],
                                                              reverse=True)

    lines = md.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4 and lines[0].startswith("| run | model |")
    assert lines[1].count("---") == lines[0].count("|") - 1
    assert f"{report.accuracy:.4f}" in md.read_text(encoding="utf-8")
    assert Image.open(png).size[0] > 600


def test_table_refuses_other_formats(two_runs, tmp_path):
    first, second, _ = two_runs
    r = runner.invoke(app, ["compare", str(first), "--table", str(tmp_path / "t.xlsx")])
    assert r.exit_code != 0 and ".md" in r.output
    with pytest.raises(Exception, match=".md or .csv"):
        table_text(summary_rows([read_run(first)]), ".html")


def test_markdown_escapes_pipes(tmp_path):
    rows = [{"run": "a|b", "accuracy": 0.5, "note": None}]
    text = table_text(rows, ".md")
    assert "a\\|b" in text and text.splitlines()[1] == "|---|---:|---:|"
    assert json.dumps(rows)       # rows stay plain data
