"""``ferkit batch``: many images or videos, in this process or on a Ray cluster, resumably.

Options are checked before the inference stack (and Ray) load.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from . import app
from ._common import (
    CUT_THRESHOLD,
    DETECT_EVERY,
    DETECT_SIZE,
    DETECTOR,
    EVERY,
    FPS,
    MARGIN,
    MAX_GAP,
    MIN_FACE_SIZE,
    MIN_TRACK_FRAMES,
    MODEL,
    PRIOR_CORRECTION,
    QUIET,
    SMOOTHING,
    THREADS,
    analyzer_options,
    check_names,
    err_console,
    print_error,
    print_warning,
    video_options,
)


class Engine(str, Enum):
    """``--engine``: the names :data:`ferkit.batch.run.ENGINES` lists."""

    local = "local"
    ray = "ray"


class BatchFormat(str, Enum):
    """``--format``: the names :data:`ferkit.batch.store.FORMATS` lists."""

    parquet = "parquet"
    jsonl = "jsonl"


@app.command()
def batch(
    inputs: Optional[list[str]] = typer.Argument(None, metavar="[INPUTS...]", help="Image (or, with --video, video) files, folders, glob patterns, or s3:// / gs:// / file:// URIs."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the results; a rerun into it resumes (see --overwrite)."),
    file_list: Optional[Path] = typer.Option(None, "--list", help="A text file naming more inputs, one a line (# starts a comment)."),
    engine: Engine = typer.Option(Engine.local, "--engine", help="local (this process) or ray (a Ray cluster: see --address)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster: auto (the one this machine belongs to), host:port or ray://host:10001; default RAY_ADDRESS, else a local one."),
    fmt: BatchFormat = typer.Option(BatchFormat.parquet, "--format", "-f", help="Image results as parquet (one row per face, the CSV columns of ferkit analyze) or jsonl (one object per image)."),
    video: bool = typer.Option(False, "--video", help="The inputs are videos: one task per video, ferkit video's files under OUT/<video>/, all summaries in OUT/summaries.csv."),
    annotate: bool = typer.Option(False, "--annotate", help="With --video, also write each video's annotated.mp4."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Parallel workers: threads (local, default 1) or actors (ray, default one per CPU of the cluster)."),
    cpus_per_worker: Optional[float] = typer.Option(None, "--cpus-per-worker", min=0.01, help="CPUs each Ray worker asks for (default 0.9, leaving room for the reads)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Images a worker analyses per call."),
    part_size: int = typer.Option(1000, "--part-size", min=1, help="Images per result file (part); a part is also written after 60 s."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over: remove the results of earlier runs in --out instead of resuming."),
    crops: bool = typer.Option(False, "--crops", help="Each image is one already-cropped face: no detection, the whole image is classified."),
    every: Optional[int] = EVERY, fps: Optional[float] = FPS, detect_every: int = DETECT_EVERY,
    smoothing: str = SMOOTHING, min_track_frames: int = MIN_TRACK_FRAMES, max_gap: int = MAX_GAP,
    cut_threshold: float = CUT_THRESHOLD,
    detector: Optional[str] = DETECTOR, model: Optional[str] = MODEL, min_face_size: Optional[int] = MIN_FACE_SIZE,
    margin: Optional[float] = MARGIN, detect_size: Optional[int] = DETECT_SIZE, prior_correction: Optional[float] = PRIOR_CORRECTION, threads: int = THREADS,
    quiet: bool = QUIET,
) -> None:
    """Analyse many images or videos, in this process or on a Ray cluster, resumably."""
    if engine is Engine.local and (address is not None or cpus_per_worker is not None):
        raise typer.BadParameter("--address and --cpus-per-worker need --engine ray", param_hint="--engine")
    if annotate and not video:
        raise typer.BadParameter("--annotate needs --video", param_hint="--annotate")
    per_video = None
    if video:
        per_video = video_options(every, fps, detect_every, smoothing, False, min_track_frames,
                                  max_gap, cut_threshold, annotate=annotate, plots=False, audio=annotate)
    names = list(inputs or [])
    if file_list is not None:
        from ferkit.batch.plan import read_list

        names += read_list(file_list)
    if not names:
        raise typer.BadParameter("give inputs, or --list with a file naming them", param_hint="INPUTS")
    check_names(detector, model)
    from ferkit.batch import run_batch

    err = err_console()
    report = run_batch(names, out, kind="videos" if video else "images", engine=engine.value,
                       fmt=fmt.value, options=analyzer_options(detector, model, margin, min_face_size,
                                                               detect_size, threads, prior_correction),
                       crop=crops, video=per_video, address=address, workers=workers,
                       cpus_per_worker=cpus_per_worker, batch_size=batch_size, part_size=part_size,
                       overwrite=overwrite, progress=not quiet, on_error=print_error,
                       on_notice=print_warning)
    if report.unprocessed:
        print_warning(f"{len(report.unprocessed)} inputs were not processed (their files could not be "
                      f"read by the cluster, e.g. {report.unprocessed[0]}); run again to retry them")
    if not quiet:
        what = (f"{report.faces} faces" if not video else f"{report.tracks} people summarised")
        earlier = f", {report.skipped} done by an earlier run" if report.skipped else ""
        err.print(f"{report.analysed - report.failed}/{report.analysed} inputs analysed{earlier}, {what}, "
                  f"{report.failed} failed, in {report.seconds:.1f} s ({engine.value}); results in {out}")
    raise typer.Exit(0 if report.ok else 1)
