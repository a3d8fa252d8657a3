"""Comparing training runs: one summary row per run folder and their learning curves.

A run folder is what :func:`ferkit.train.train` writes (``config.json``,
``metrics.csv``, and ``result.json`` once finished). An ensemble folder
(``member-<i>/``) stands for its members. A run evaluated with ``ferkit evaluate
RUN --out RUN/<folder>`` (a ``report.json`` in the run folder or a folder inside
it; the newest counts) also shows that evaluation's split, accuracy, macro-F1 and
per-class recall. :func:`summary_rows` is the one table of the runs: printed
(:func:`compare_table`), written as Markdown or CSV (:func:`write_table`) and
drawn as a bar chart (:func:`plot_scores`). Needs no torch.
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
from .plotting import plot_scores as plot_score_bars

TABLE_FORMATS = (".md", ".csv")


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
    hardware: str = ""
    evaluation: dict | None = None   # the run's newest report.json (ferkit evaluate), if any

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
    result = _read_json(result_file) if result_file.is_file() else {}
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
        finished=result_file.is_file(), history=history, hardware=result.get("hardware", ""),
        evaluation=latest_evaluation(path))


def _read_json(path: Path) -> dict:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"{path}: not readable JSON ({e})") from None
    return d if isinstance(d, dict) else {}


def latest_evaluation(path: Path) -> dict | None:
    """The newest evaluation report (``report.json``) in run folder ``path`` or a folder
    directly inside it, or ``None``."""
    reports = [p for p in (path / "report.json", *path.glob("*/report.json")) if p.is_file()]
    for report in sorted(reports, key=lambda p: p.stat().st_mtime, reverse=True):
        d = _read_json(report)
        if "accuracy" in d and "per_class" in d:
            return d
    return None


def summary_rows(runs: list[RunSummary]) -> list[dict]:
    """One row per run, best validation accuracy first: column name -> value (numbers as
    numbers, missing values ``None``). Evaluation columns (split, accuracy, macro-F1, one
    recall per class, in the order the reports list them) appear when any run has one."""
    classes = list(dict.fromkeys(c for r in runs if r.evaluation
                                 for c in r.evaluation["per_class"]))
    rows = []
    for r in sorted(runs, key=lambda r: -r.best_val_accuracy):
        row = {"run": r.label, "model": r.model, "input": r.input, "data": r.data,
               "epochs": f"{r.epochs_run}/{r.epochs_planned}" + ("" if r.finished else "*"),
               "val acc": round(r.best_val_accuracy, 4), "best epoch": r.best_epoch,
               "time (min)": round(r.wall_time_s / 60, 1)}
        if classes:
            ev = r.evaluation or {}
            per = ev.get("per_class", {})
            row.update({"eval split": ev.get("split"), "accuracy": _round(ev.get("accuracy")),
                        "macro-F1": _round(ev.get("macro_f1"))})
            row.update({f"recall {c}": _round(per.get(c, {}).get("recall")) for c in classes})
        row["hardware"] = r.hardware
        rows.append(row)
    return rows


def _round(v, digits: int = 4):
    return None if v is None else round(float(v), digits)


def _cell(v) -> str:
    return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


def table_text(rows: list[dict], fmt: str) -> str:
    """``rows`` (dicts with the same keys) as a Markdown (``.md``) or CSV (``.csv``) table."""
    columns = list(rows[0]) if rows else []
    if fmt == ".csv":
        from ferkit.writers import csv_lines

        return csv_lines([columns] + [["" if row[c] is None else str(row[c]) for c in columns]
                                      for row in rows])
    if fmt != ".md":
        raise UsageError(f"a table is written as {' or '.join(TABLE_FORMATS)}, not {fmt!r}")
    def md(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    numeric = [all(isinstance(row[c], (int, float)) or row[c] is None for row in rows)
               for c in columns]
    lines = [md(columns), "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += [md(_cell(row[c]) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


def write_table(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write ``rows`` to ``path`` as Markdown or CSV, chosen by its suffix."""
    from ferkit.writers import check_output_file, write_text_atomic

    path = Path(path)
    text = table_text(rows, path.suffix.lower())
    write_text_atomic(check_output_file(path), text)
    return path


def plot_scores(runs: list[RunSummary], path: str | os.PathLike) -> Path:
    """A bar chart of every run's scores: best validation accuracy, and the accuracy and
    macro-F1 of its evaluation report where it has one."""
    from ferkit.writers import check_output_file

    rows = summary_rows(runs)
    scores = {"val acc (best epoch)": [r["val acc"] for r in rows]}
    if "accuracy" in rows[0]:
        split = {r["eval split"] for r in rows if r["eval split"]}
        on = f" ({', '.join(sorted(split))})"
        scores[f"accuracy{on}"] = [r["accuracy"] for r in rows]
        scores[f"macro-F1{on}"] = [r["macro-F1"] for r in rows]
    return plot_score_bars([f"{r['run']} ({r['model']})" for r in rows], scores,
                           check_output_file(path), title="training runs")


def compare_table(runs: list[RunSummary]):
    """A Rich table of the runs (:func:`summary_rows`), best validation accuracy first."""
    from rich import box
    from rich.table import Table

    t = Table(title="training runs: best epoch on each run's validation split",
              caption="* still running or stopped before its last epoch",
              box=box.SIMPLE_HEAD, show_edge=False)
    rows = summary_rows(runs)
    # The terminal table leaves per-class recall and hardware to --table.
    columns = [c for c in rows[0] if c != "hardware" and not c.startswith("recall ")] if rows \
        else []
    for col in columns:
        t.add_column(col, justify="left" if col in ("run", "model", "data", "eval split")
                     else "right", no_wrap=col != "data")
    for row in rows:
        t.add_row(*(_cell(row[c]) for c in columns))
    return t


def plot_curves(runs: list[RunSummary], path: str | os.PathLike) -> Path:
    """Loss and accuracy per epoch of ``runs`` (training dashed, validation solid) into ``path``."""
    return plot_learning_curves(runs, path)
