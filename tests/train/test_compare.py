"""Run comparison: summaries from run folders, ensemble folders expanded, curves drawn."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from ferkit.errors import UsageError
from ferkit.train.compare import compare_table, plot_curves, read_run, run_folders

METRICS = """epoch,lr,train_loss,train_acc,val_loss,val_acc,wall_time_s
1,0.05,1.7,0.30,1.5,0.40,100.0
2,0.04,1.3,0.50,1.2,0.55,200.0
3,0.01,1.1,0.60,1.25,0.52,300.0
"""


def write_run(folder, finished=True, model="fercnn_s"):
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text(METRICS)
    (folder / "config.json").write_text(json.dumps({
        "name": folder.name, "model": model, "channels": 1, "input_size": 40, "epochs": 5,
        "data": {"kind": "ferplus", "label_mode": "soft"}}))
    if finished:
        (folder / "result.json").write_text("{}")
    return folder


def test_read_run_picks_the_best_validation_epoch(tmp_path):
    r = read_run(write_run(tmp_path / "a", finished=False))
    assert (r.best_epoch, r.best_val_accuracy, r.best_val_loss) == (2, 0.55, 1.2)
    assert (r.epochs_run, r.epochs_planned, r.finished) == (3, 5, False)
    assert (r.model, r.input, r.data, r.wall_time_s) == ("fercnn_s", "1x40", "ferplus soft", 300.0)


def test_ensemble_folders_expand_and_curves_are_drawn(tmp_path):
    for i in (10, 0, 2):
        write_run(tmp_path / "ens" / f"member-{i}", model="resnet18" if i == 2 else "fercnn_s")
    single = write_run(tmp_path / "single")
    folders = run_folders([tmp_path / "ens", single])
    assert [f.name for f in folders] == ["member-0", "member-2", "member-10", "single"]
    runs = [read_run(f) for f in folders]
    assert runs[1].label == "ens/member-2" and runs[1].model == "resnet18"
    assert compare_table(runs).row_count == 4
    png = plot_curves(runs, tmp_path / "curves.png")
    assert Image.open(png).size[0] > 800
    with pytest.raises(UsageError, match="not a training run"):
        run_folders([tmp_path])
