"""``ferkit train``, ``ferkit evaluate`` and ``ferkit export``.

Training, checkpoints and export need PyTorch (``pip install 'ferkit[train]'``);
it is imported inside the commands, so inference-only installs still start, and
evaluating an ONNX model needs only ONNX Runtime. Nothing heavy (torch, ONNX
Runtime, rich) is imported when ``ferkit`` starts.
"""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path

import typer

from ferkit.errors import ConfigError, UsageError

from . import app


def _console():
    """Standard output for results: printed verbatim, one line each when piped (no
    wrapping of long paths)."""
    from rich.console import Console

    return Console(highlight=False, markup=False, soft_wrap=not sys.stdout.isatty())

# Path-valued options, declared once at module level.
RUN_OUT = typer.Option(None, "--out", "-o", help="Run folder (default: runs/<config name>).")
EXPERIMENT_LOG = typer.Option(None, "--experiment-log", help="Append one row per finished run to this CSV.")
EVAL_OUT = typer.Option(None, "--out", "-o", help="Write report.json, confusion.png and reliability.png here.")
CHECKPOINTS = typer.Argument(..., help="Training checkpoint(s) (best.ckpt) or run folder(s); several, or an ensemble run folder, export as one model averaging their logits.")
EXPORT_OUT = typer.Option(..., "--out", "-o", help="ONNX file to write; its model card goes beside it (.json).")
RUNS = typer.Argument(..., help="Run folders written by ferkit train (ensemble folders stand for their members).")
CURVES_OUT = typer.Option(None, "--out", "-o", help="Also draw the runs' loss and accuracy curves into this PNG.")
TABLE_OUT = typer.Option(None, "--table", help="Also write the table to this file: Markdown (.md) or CSV (.csv).")
CHART_OUT = typer.Option(None, "--chart", help="Also draw a bar chart of each run's accuracy (and macro-F1 where evaluated) into this PNG.")


class QuantizeMode(str, Enum):
    """``export --quantize``: :data:`ferkit.train.export.QUANTIZE_MODES`, repeated here
    so that the choice is checked before PyTorch loads."""

    static = "static"
    dynamic = "dynamic"


class WeightFormat(str, Enum):
    """``export --weights``: :data:`ferkit.train.export.WEIGHT_FORMATS` (see :class:`QuantizeMode`)."""

    float16 = "float16"
    float32 = "float32"


def _require_torch() -> None:
    """Refuse the command when PyTorch is not installed; looks for it without importing it
    (that takes seconds), so call it after the cheap checks and before the work."""
    from importlib.util import find_spec

    try:
        found = find_spec("torch") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise UsageError("this command needs PyTorch, which is not installed: "
                         "pip install 'ferkit[train]'")


def _packaged_configs() -> list[str]:
    return sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.json"))


def _load_config(config: str):
    from ferkit.train.config import TrainConfig

    path = Path(config)
    if not path.is_file():
        packaged = Path(__file__).resolve().parents[1] / "configs" / f"{config}.json"
        if not packaged.is_file():
            raise ConfigError(f"config not found: {config} (a .json/.yaml file or a packaged "
                              f"config name: {', '.join(_packaged_configs())})")
        path = packaged
    return TrainConfig.load(path), path


@app.command("train")
def train_command(
    config: str = typer.Argument(..., help="Training config (.json or .yaml), or a packaged config name such as default_fer7."),
    out: Path | None = RUN_OUT,
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last.ckpt (same data, architecture and labels). Without it, an --out that holds a run is refused."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override the config's epochs (every ensemble member's too; so do the options below)."),
    model: str | None = typer.Option(None, "--model", help="Override the architecture (fercnn_s/m/l or a timm name)."),
    lr: float | None = typer.Option(None, "--lr", min=0.0, help="Override the learning rate."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Override the batch size."),
    data: str | None = typer.Option(None, "--data", help="Override data.path."),
    max_train_samples: int | None = typer.Option(None, "--max-train-samples", min=0, help="Train on a random subset of this size."),
    threads: int | None = typer.Option(None, "--threads", min=0, help="torch CPU threads (0 = torch's default)."),
    seed: int | None = typer.Option(None, "--seed", help="Override the random seed."),
    init: str | None = typer.Option(None, "--init", help="Fine-tune: start from a packaged model's float weights (e.g. fer7-crowd; `ferkit models` shows which ship them) or a checkpoint / run folder. Its architecture and input are used; a new label set gets a new head."),
    freeze_epochs: int | None = typer.Option(None, "--freeze-epochs", min=0, help="With --init: train only the classifier head for this many epochs, then every layer."),
    experiment_log: Path | None = EXPERIMENT_LOG,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train an expression model (or each member of an ensemble config) from a config.

    A checkpoint is written every epoch; --resume continues a run."""
    cfg, path = _load_config(config)
    overrides = {"epochs": epochs, "model": model, "lr": lr, "batch_size": batch_size,
                 "max_train_samples": max_train_samples, "threads": threads, "seed": seed,
                 "init_weights": init, "freeze_epochs": freeze_epochs}
    out = out or Path("runs") / cfg.name
    argv = ["ferkit", "train", config, "--out", str(out)] + (["--resume"] if resume else [])
    overrides = {key: value for key, value in overrides.items() if value is not None}
    cfg.override(**overrides)
    for key, value in overrides.items():
        argv += ["--init" if key == "init_weights" else f"--{key.replace('_', '-')}", str(value)]
    if data is not None:
        cfg.data.path = data
        argv += ["--data", data]
    try:
        cfg.validate()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    _require_torch()
    from ferkit.train.trainer import train, train_ensemble

    command = {"argv": argv, "cwd": str(Path.cwd()),
               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    options = {"resume": resume, "progress": not quiet, "experiment_log": experiment_log,
               "command": command}
    results = (train_ensemble(cfg, out, **options) if cfg.ensemble
               else [train(cfg, out, **options)])
    console = _console()
    for result in results:
        console.print(f"best validation accuracy {result.best_val_accuracy:.4f} at epoch "
                      f"{result.best_epoch} of {result.epochs_run}; checkpoint "
                      f"{result.best_checkpoint}")
    if cfg.ensemble:
        console.print(f"export the ensemble as one model with: ferkit export {out} --out <model>.onnx")


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Argument(..., help="A checkpoint (.ckpt), an .onnx file with its card, or a packaged model name."),
    data: str | None = typer.Option(None, "--data", help="FER2013 CSV, a folder of class folders, a folder of labelled file names (with --pattern), or a data config (.json/.yaml). Default: the model's training data."),
    votes: str | None = typer.Option(None, "--votes", help="FER+ votes (fer2013new.csv): evaluate on FER+ labels."),
    label_mode: str = typer.Option("majority", "--label-mode", help="FER+ labels: majority (or soft: its argmax)."),
    pattern: str | None = typer.Option(None, "--pattern", help="Regex with a named group 'label' matched on file names."),
    label_set: str | None = typer.Option(None, "--label-set", help="Label set of folder/file-name data (default: inferred)."),
    detector: str | None = typer.Option(None, "--detector", help="Detect and align faces in raw photos with this detector."),
    split: str | None = typer.Option(None, "--split", help="Split to evaluate (default: the test split, e.g. PrivateTest); 'all' for everything."),
    tta: str | None = typer.Option(None, "--tta", help="Checkpoints: none, flip (default) or ten-crop. ONNX models carry theirs in the graph."),
    temperature: float = typer.Option(1.0, "--temperature", min=1e-3, help="Checkpoints: softmax temperature."),
    out: Path | None = EVAL_OUT,
    threads: int = typer.Option(0, "--threads", min=0, help="ONNX Runtime threads (0 = automatic)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Accuracy, per-class precision/recall/F1, macro-F1, confusion matrix and calibration (ECE)."""
    from ferkit.train.config import TTA_MODES

    if tta is not None and tta not in TTA_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(TTA_MODES)}", param_hint="--tta")
    from ferkit.train.evaluate import data_config_for, evaluate_onnx, load_onnx_model

    data_cfg = None
    if data is not None:
        pre = {"detector": detector} if detector else None
        data_cfg = data_config_for(data, votes, pattern, label_mode, label_set, pre)
    elif votes or pattern or detector:
        raise typer.BadParameter("needs --data", param_hint="--votes/--pattern/--detector")
    if model.endswith((".ckpt", ".pt", ".pth")):
        _require_torch()
        from ferkit.train.evaluate import evaluate_checkpoint

        report = evaluate_checkpoint(model, data_cfg, split, tta or "flip", temperature,
                                     out_dir=out, progress=not quiet)
    else:
        clf = load_onnx_model(model, threads)
        baked = clf.card.training.get("export", {}).get("tta", "none")
        if tta is not None and tta != baked:
            raise typer.BadParameter(f"this ONNX model's graph does TTA {baked!r}; "
                                     "--tta applies to checkpoints", param_hint="--tta")
        report = evaluate_onnx(clf, data_cfg, split, out_dir=out, progress=not quiet)
    console = _console()
    console.print(report.table())
    if out is not None:
        console.print(f"report: {out / 'report.json'}; plots: {out / 'confusion.png'}, "
                      f"{out / 'reliability.png'}")


@app.command("export")
def export_command(
    checkpoints: list[Path] = CHECKPOINTS,
    out: Path = EXPORT_OUT,
    calibrate: bool = typer.Option(True, "--calibrate/--no-calibrate", help="Fit the softmax temperature on the validation split."),
    quantize: QuantizeMode | None = typer.Option(None, "--quantize", help="Also write an int8 copy: static or dynamic (accuracy measured)."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Average the mirrored view inside the graph (as validation did)."),
    weights: WeightFormat = typer.Option(WeightFormat.float16, "--weights", help="Store weights as float16 (half the size) or float32."),
    name: str | None = typer.Option(None, "--name", help="Model name in the card (default: the file name)."),
    data: str | None = typer.Option(None, "--data", help="Override data.path of the checkpoint's config (for calibration and metrics)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Export a checkpoint (or an ensemble of them) to ONNX with its model card.

    The card holds the measured metrics, the softmax temperature and the provenance."""
    _require_torch()
    from ferkit.train.checkpoint import find_checkpoints, load_checkpoint
    from ferkit.train.export import export_onnx

    quantize = quantize.value if quantize is not None else None
    members = [load_checkpoint(c) for path in checkpoints for c in find_checkpoints(path)]
    if data is not None:
        for ck in members:
            ck.config.data.path = data
    result = export_onnx(members, out, name=name, flip_tta=flip, weights=weights.value,
                         calibrate=calibrate, quantize=quantize, progress=not quiet)
    card = result.card
    console = _console()
    console.print(f"wrote {result.onnx_path} ({result.onnx_path.stat().st_size / 1e6:.1f} MB) and "
                  f"its card; parity with torch {result.parity_max_abs_diff:.1e}; "
                  f"temperature {card.temperature:.3f}")
    for m in card.metrics:
        console.print(f"  {m.name} {m.value:.4f} on {m.dataset} {m.split} ({m.samples})")
    if result.quantized is not None:
        q = card.training["export"]["quantized"]
        console.print(f"int8 ({quantize}): {result.quantized} ({q['file_bytes'] / 1e6:.1f} MB), "
                      f"accuracy {q['accuracy']:.4f} on {q['split']}")


@app.command("compare")
def compare_command(
    runs: list[Path] = RUNS,
    out: Path | None = CURVES_OUT,
    table: Path | None = TABLE_OUT,
    chart: Path | None = CHART_OUT,
) -> None:
    """Compare training runs: validation accuracy, evaluation scores, epochs, time, curves.

    A run folder holding an evaluation report (ferkit evaluate RUN --out RUN/eval) also
    shows its accuracy, macro-F1 and per-class recall."""
    if table is not None and table.suffix.lower() not in (".md", ".csv"):
        raise UsageError(f"--table {table}: give a .md (Markdown) or .csv file name")
    from ferkit.train.compare import (
        compare_table,
        plot_curves,
        plot_scores,
        read_run,
        run_folders,
        summary_rows,
        write_table,
    )

    summaries = [read_run(p) for p in run_folders(runs)]
    console = _console()
    console.print(compare_table(summaries))
    if out is not None:
        console.print(f"curves: {plot_curves(summaries, out)}")
    if table is not None:
        console.print(f"table: {write_table(summary_rows(summaries), table)}")
    if chart is not None:
        console.print(f"chart: {plot_scores(summaries, chart)}")
