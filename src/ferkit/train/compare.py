"""Comparing training runs: one summary row per run folder and their learning curves.

A run folder is what :func:`ferkit.train.train` writes (``config.json``,
``metrics.csv``, and ``result.json`` once finished). An ensemble folder
(``member-<i>/``) stands for its members. Needs no torch.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ferkit.errors import UsageError

from .config import member_dirs
from .plotting import plot_learning_curves


@dataclass
class RunSummary:
    """What one run trained and how far it got."""

    path: Path
    name: str
    model: str
    input: str                 # channels x input size
    data: str
    epochs_run: int
    epochs_planned: int
    best_val_accuracy: float
    best_val_loss: float
    best_epoch: int
    wall_time_s: float
    finished: bool
    history: list[dict]        # metrics.csv rows, numbers as floats

    @property
    def label(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}" if self.path.name.startswith(
            "member-") else self.path.name


def run_folders(paths) -> list[Path]:
    """The run folders ``paths`` name, ensemble folders expanded to their members."""
    out = []
    for p in map(Path, paths):
        if (p / "metrics.csv").is_file():
            out.append(p)
        elif members := [d for d in member_dirs(p) if (d / "metrics.csv").is_file()]:
            out += members
        else:
            raise UsageError(f"{p}: not a training run folder (no metrics.csv)")
    return out


def read_run(path: str | os.PathLike) -> RunSummary:
    """Summarise a run folder from its config, per-epoch metrics and result."""
    path = Path(path)
    with open(path / "metrics.csv", newline="") as f:
        history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if not history:
        raise UsageError(f"{path}: metrics.csv has no epochs yet")
    cfg = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    result_file = path / "result.json"
    best = max(history, key=lambda r: r["val_acc"])
    data = cfg.get("data", {})
    return RunSummary(
        path=path, name=cfg.get("name", path.name), model=cfg.get("model", "?"),
        input=f"{cfg.get('channels', '?')}x{cfg.get('input_size', '?')}",
        data=f"{data.get('kind', '?')}" + (f" {data['label_mode']}" if data.get("kind") == "ferplus"
                                          else ""),
        epochs_run=int(history[-1]["epoch"]), epochs_planned=int(cfg.get("epochs", 0)),
        best_val_accuracy=best["val_acc"], best_val_loss=best["val_loss"],
        best_epoch=int(best["epoch"]), wall_time_s=history[-1]["wall_time_s"],
        finished=result_file.is_file(), history=history)


def compare_table(runs: list[RunSummary]):
    """A Rich table of the runs, best validation accuracy first."""
    from rich import box
    from rich.table import Table

    t = Table(title="training runs: best epoch on each run's validation split",
              caption="* still running or stopped before its last epoch",
              box=box.SIMPLE_HEAD, show_edge=False)
    for col in ("run", "model", "input", "data", "epochs", "val acc", "at", "time"):
        t.add_column(col, justify="left" if col in ("run", "model", "data") else "right",
                     no_wrap=col != "data")
    for r in sorted(runs, key=lambda r: -r.best_val_accuracy):
        epochs = f"{r.epochs_run}/{r.epochs_planned}" + ("" if r.finished else "*")
        t.add_row(r.label, r.model, r.input, r.data, epochs, f"{r.best_val_accuracy:.4f}",
                  str(r.best_epoch), f"{r.wall_time_s / 60:.0f}m")
    return t


def plot_curves(runs: list[RunSummary], path: str | os.PathLike) -> Path:
    """Loss and accuracy per epoch of ``runs`` (training dashed, validation solid) into ``path``."""
    return plot_learning_curves(runs, path)
