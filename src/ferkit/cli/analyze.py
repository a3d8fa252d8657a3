"""``ferkit analyze``, ``ferkit models`` and ``ferkit --version``.

Options are checked before the inference stack (OpenCV, ONNX Runtime) is
imported, so a usage error is said at once.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from . import app
from ._common import (
    DETECT_SIZE,
    DETECTOR,
    LABEL_NAMES,
    MARGIN,
    MIN_FACE_SIZE,
    MODEL,
    PRIOR_CORRECTION,
    QUIET,
    THREADS,
    LabelNames,
    analyzer_options,
    check_names,
    err_console,
    print_error,
    print_warning,
)


class OutputFormat(str, Enum):
    """``--format``: the names :data:`ferkit.writers.FORMATS` lists (repeated here
    so that the choice is checked without importing the writers and numpy)."""

    jsonl = "jsonl"
    json = "json"
    csv = "csv"


def _version(value: bool) -> None:
    if value:
        from ferkit import __version__

        typer.echo(f"ferkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """ferkit: facial expression recognition in photos, videos and streams."""


@app.command()
def analyze(
    paths: list[Path] = typer.Argument(..., help="Image files, folders (searched recursively) or glob patterns."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write results here (default: standard output)."),
    fmt: OutputFormat = typer.Option(OutputFormat.jsonl, "--format", "-f", help="jsonl (one object per image), json (one array) or csv (one row per face)."),
    annotate: Optional[Path] = typer.Option(None, "--annotate", help="Save annotated copies of the images in this folder."),
    save_crops: Optional[Path] = typer.Option(None, "--save-crops", help="Save each face's aligned crop in this folder."),
    detector: Optional[str] = DETECTOR, model: Optional[str] = MODEL, min_face_size: Optional[int] = MIN_FACE_SIZE,
    margin: Optional[float] = MARGIN, detect_size: Optional[int] = DETECT_SIZE,
    crops: bool = typer.Option(False, "--crops", help="Each image is one already-cropped face: no detection, the whole image is classified."),
    label_names: LabelNames = LABEL_NAMES,
    prior_correction: Optional[float] = PRIOR_CORRECTION, threads: int = THREADS, quiet: bool = QUIET,
) -> None:
    """Find every face in images and say its expression."""
    check_names(detector, model)
    from ferkit.analyzer import Analyzer
    from ferkit.inputs import expand_inputs
    from ferkit.progress import progress_bar
    from ferkit.results import ImageResult
    from ferkit.writers import ResultWriter, prepare_folder

    err = err_console()
    options = analyzer_options(detector, model, margin, min_face_size, detect_size, threads,
                               prior_correction)
    analyzer = Analyzer.from_options(options, keep_crops=save_crops is not None)
    from ferkit.labels import display_names

    names = display_names(analyzer.labels, label_names.value)
    for folder, flag in ((annotate, "--annotate"), (save_crops, "--save-crops")):
        if folder is not None:
            prepare_folder(folder, f"the {flag} folder")
    scan = expand_inputs(paths)
    for notice in scan.skipped:
        print_warning(notice)

    n_faces = n_failed = 0
    with ResultWriter(out, fmt.value, [names[k] for k in analyzer.labels]) as writer:
        for problem in scan.problems:
            writer.write(ImageResult(problem.name, error=problem.message,
                                     labels=analyzer.labels).with_label_names(names))
            print_error(problem.message)
        n_failed += len(scan.problems)
        with progress_bar(not quiet and len(scan.files) > 1, console=err) as bar:
            task = bar.add_task("analysing", total=len(scan.files))
            results = analyzer.analyze_files(scan.files, crop=crops,
                                             keep_images=annotate is not None)
            for i, result in enumerate(results):
                writer.write(result.with_label_names(names))
                if result.error:
                    n_failed += 1
                    print_error(result.error)
                else:
                    n_faces += len(result.faces)
                    _save_pictures(result, f"{i:05d}_{Path(result.file).stem}", annotate, save_crops)
                bar.advance(task)
    if not quiet:
        total = len(scan.files) + len(scan.problems)
        err.print(f"{total - n_failed}/{total} inputs analysed, {n_faces} faces, {n_failed} failed"
                  + (f"; results in {out}" if out else ""))
    raise typer.Exit(1 if n_failed else 0)


def _save_pictures(result, stem: str, annotate: Path | None, save_crops: Path | None) -> None:
    from ferkit.annotate import draw_faces
    from ferkit.writers import write_image

    if annotate is not None:
        write_image(annotate / f"{stem}.jpg", draw_faces(result.image, result.faces))
    if save_crops is not None:
        for k, face in enumerate(result.faces):
            if face.crop is not None:
                write_image(save_crops / f"{stem}_face{k}_{face.label}.png", face.crop)


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="Print the model cards as JSON.")) -> None:
    """List the packaged models with their cards."""
    from rich.console import Console
    from rich.table import Table

    from ferkit.card import ModelCard, card_path_for
    from ferkit.models import DEFAULT_MODEL, packaged_models

    cards = {name: ModelCard.load(card_path_for(p)) for name, p in packaged_models().items()}
    if as_json:
        typer.echo(json.dumps({k: c.to_dict() for k, c in cards.items()}, indent=2, ensure_ascii=False))
        return
    from ferkit.models import MODELS_DIR

    table = Table(title="ferkit models")
    for col in ("name", "label set", "input", "architecture", "size", "ms/face", "accuracy", "prior corr.",
                "--init"):
        table.add_column(col)
    for name, c in cards.items():
        accuracy = "\n".join(f"{m.value:.4f} {m.dataset} {m.split}" for m in c.metrics
                             if m.name == "accuracy")
        cost = (c.training.get("export") or {}).get("flip_tta_cost") or {}
        speed = cost.get("latency_ms_batch1_with_flip")
        size = packaged_models()[name].stat().st_size / 1e6
        table.add_row(name + (" (default)" if name == DEFAULT_MODEL else ""),
                      f"{c.label_set} ({len(c.labels)})", f"{c.input.channels}x{c.input.size}x{c.input.size}",
                      f"{c.architecture} ({c.parameters / 1e6:.1f}M)", f"{size:.1f} MB",
                      f"{speed:.1f}" if isinstance(speed, (int, float)) else "-", accuracy,
                      _prior_correction(c), "yes" if (MODELS_DIR / f"{name}.weights.npz").is_file() else "no")
    Console().print(table)
    Console().print("ms/face: batch 1, one thread, with the mirrored view, as measured at export; "
                    "prior corr.: the class-prior correction applied by default (tau; "
                    "--prior-correction sets it); --init: ships float weights for "
                    "`ferkit train --init NAME`; full cards: --json")


def _prior_correction(card) -> str:
    """``tau`` of the card's class-prior correction, ``off``, or ``-`` when it records no prior."""
    pc = card.prior_correction
    return "-" if pc is None else ("off" if pc.tau == 0 else f"tau {pc.tau:g}")
