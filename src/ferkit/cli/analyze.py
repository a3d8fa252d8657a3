"""``ferkit analyze``, ``ferkit models`` and ``ferkit --version``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from . import app

err = Console(stderr=True)


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
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl (one object per image), json or csv (one row per face)."),
    annotate: Optional[Path] = typer.Option(None, "--annotate", help="Save annotated copies of the images in this folder."),
    save_crops: Optional[Path] = typer.Option(None, "--save-crops", help="Save each face's aligned crop in this folder."),
    detector: str = typer.Option("retinaface", "--detector", help="Face detector backend."),
    model: str = typer.Option("default", "--model", help="Packaged model name or path to an .onnx file with its card."),
    min_face_size: int = typer.Option(16, "--min-face-size", min=1, help="Ignore faces smaller than this (pixels)."),
    margin: Optional[float] = typer.Option(None, "--margin", min=0.0, help="Extra context around the aligned face (fraction of the crop; default: the model card's)."),
    crops: bool = typer.Option(False, "--crops", help="Each image is one already-cropped face: no detection, the whole image is classified."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads for inference (0 = automatic)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Find every face in images and say its expression."""
    import cv2

    from ferkit.analyzer import Analyzer, expand_inputs
    from ferkit.annotate import draw_faces
    from ferkit.writers import FORMATS, ResultWriter

    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--format")
    try:
        analyzer = Analyzer(detector, model, margin=margin, min_face_size=min_face_size,
                            threads=threads, keep_crops=save_crops is not None)
    except (FileNotFoundError, KeyError, ValueError, ImportError) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2)
    files, input_errors = expand_inputs(paths)
    for folder in (annotate, save_crops):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    n_faces = n_failed = 0
    with ResultWriter(out, fmt, analyzer.labels) as writer:
        for result in input_errors:
            writer.write(result)
            err.print(f"[red]error:[/red] {result.error}")
        n_failed += len(input_errors)
        progress = _progress(quiet or len(files) < 2)
        with progress:
            task = progress.add_task("analysing", total=len(files))
            for i, (result, rgb) in enumerate(analyzer.analyze_files(files, crop=crops)):
                writer.write(result)
                if result.error:
                    n_failed += 1
                    progress.console.print(f"[red]error:[/red] {result.error}")
                else:
                    n_faces += len(result.faces)
                    stem = f"{i:05d}_{Path(result.file).stem}"
                    if annotate is not None:
                        bgr = cv2.cvtColor(draw_faces(rgb, result.faces), cv2.COLOR_RGB2BGR)
                        cv2.imwrite(str(annotate / f"{stem}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
                    if save_crops is not None:
                        for k, face in enumerate(result.faces):
                            if face.crop is not None:
                                cv2.imwrite(str(save_crops / f"{stem}_face{k}_{face.label}.png"),
                                            cv2.cvtColor(face.crop, cv2.COLOR_RGB2BGR))
                progress.advance(task)
    if not quiet:
        total = len(files) + len(input_errors)
        err.print(f"{total - n_failed}/{total} inputs analysed, {n_faces} faces, {n_failed} failed"
                  + (f"; results in {out}" if out else ""))
    raise typer.Exit(1 if n_failed else 0)


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="Print the model cards as JSON.")) -> None:
    """List the packaged models with their cards."""
    from ferkit.card import ModelCard, card_path_for
    from ferkit.models import DEFAULT_MODEL, packaged_models

    cards = {name: ModelCard.load(card_path_for(p)) for name, p in packaged_models().items()}
    if as_json:
        typer.echo(json.dumps({k: c.to_dict() for k, c in cards.items()}, indent=2, ensure_ascii=False))
        return
    table = Table(title="ferkit models")
    for col in ("name", "labels", "input", "architecture", "params", "metrics"):
        table.add_column(col)
    for name, c in cards.items():
        metrics = "\n".join(f"{m.name} {m.value:.4f} ({m.dataset} {m.split})" for m in c.metrics)
        table.add_row(name + (" (default)" if name == DEFAULT_MODEL else ""), ", ".join(c.labels),
                      f"{c.input.channels}x{c.input.size}x{c.input.size}", c.architecture,
                      f"{c.parameters / 1e6:.2f}M", metrics)
    Console().print(table)


def _progress(disable: bool):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err, disable=disable)
