"""``run_batch``: a plan, an engine and an output folder tied together."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ferkit.analyzer import AnalyzerOptions
from ferkit.errors import UsageError, check_int
from ferkit.results import ImageResult
from ferkit.video.options import VideoOptions

from .plan import KINDS, build_plan
from .store import DEFAULT_PART_SECONDS, DEFAULT_PART_SIZE, BatchStore
from .work import DEFAULT_BATCH_SIZE, BatchSettings, VideoOutcome

ENGINES = ("local", "ray")


@dataclass
class BatchReport:
    """What a run did. ``planned`` inputs were found, ``skipped`` of them were done by
    an earlier run, ``analysed`` got their results in this run, ``failed`` of those
    are errors; ``unprocessed`` names inputs the engine never returned (a rerun
    retries them). ``faces`` (images) or ``tracks`` (videos: summarised people)."""

    out: Path
    kind: str
    engine: str
    planned: int = 0
    skipped: int = 0
    analysed: int = 0
    failed: int = 0
    faces: int = 0
    tracks: int = 0
    unprocessed: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.unprocessed


def create_engine(engine: str, *, address: str | None = None, workers: int | None = None,
                  cpus_per_worker: float | None = None):
    if engine == "local":
        from .local import LocalEngine

        if address is not None or cpus_per_worker is not None:
            raise UsageError("--address and --cpus-per-worker are options of --engine ray")
        return LocalEngine(workers)
    if engine == "ray":
        from .ray_engine import RayEngine

        return RayEngine(address, workers, cpus_per_worker)
    raise UsageError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")


def run_batch(inputs, out: str | os.PathLike, *, kind: str = "images", engine: str = "local",
              fmt: str = "parquet", options: AnalyzerOptions | None = None, crop: bool = False,
              video: VideoOptions | None = None, address: str | None = None,
              workers: int | None = None, cpus_per_worker: float | None = None,
              batch_size: int = DEFAULT_BATCH_SIZE, overwrite: bool = False,
              part_size: int = DEFAULT_PART_SIZE, part_seconds: float = DEFAULT_PART_SECONDS,
              progress: bool = False, on_error: Callable[[str], None] | None = None,
              on_notice: Callable[[str], None] | None = None) -> BatchReport:
    """Analyse every image (``kind="images"``) or video (``kind="videos"``) that ``inputs``
    name (files, folders, globs, object-store URIs) into the folder ``out``, with the
    ``local`` engine (this process) or ``ray`` (a Ray cluster; see
    :class:`~ferkit.batch.ray_engine.RayEngine` for ``address``). Both write the same
    records; see :mod:`ferkit.batch.store` for the folder's layout.

    Resumable: inputs an earlier run into ``out`` finished are skipped (``overwrite``
    starts over). One bad input never stops the run: it gets an error record (and
    ``on_error`` is called with its message). ``on_notice`` is called with each notice
    about files the inputs' folders hold that are passed over, once the plan is made.
    """
    started = time.perf_counter()
    if kind not in KINDS:
        raise UsageError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if engine not in ENGINES:
        raise UsageError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    check_int("batch_size", batch_size, low=1)
    check_int("part_size", part_size, low=1)
    if workers is not None:
        check_int("workers", workers, low=1)
    if cpus_per_worker is not None and not (isinstance(cpus_per_worker, (int, float))
                                            and 0 < cpus_per_worker <= 1024):
        raise UsageError(f"cpus_per_worker must be a number > 0, got {cpus_per_worker!r}")
    from ferkit.models import resolve_model

    options = options or AnalyzerOptions()
    if not isinstance(options.model, (str, os.PathLike)):
        raise UsageError("a batch needs a model name or path (its workers load it themselves)")
    labels = resolve_model(options.model)[1].labels
    if kind == "videos":
        video = video or video_options_for_batch()
    settings = BatchSettings(options, crop, video if kind == "videos" else None, batch_size)
    plan = build_plan(inputs, kind)
    report = BatchReport(Path(out), kind, engine, planned=len(plan.items), notices=plan.skipped)
    for notice in plan.skipped if on_notice is not None else ():
        on_notice(notice)

    with BatchStore(out, kind=kind, fmt=fmt, labels=labels, settings=settings.describe(),
                    overwrite=overwrite, part_size=part_size, part_seconds=part_seconds) as store:
        todo = plan.pending(store.done)
        report.skipped = len(plan.items) - len(todo.items)
        runnable = todo.runnable
        expected = {item.name for item in runnable}
        from ferkit.progress import progress_bar

        with progress_bar(progress and len(todo.items) > 1) as bar:
            task = bar.add_task(f"analysing {kind}", total=len(todo.items))

            def done(error: str | None, count: int) -> None:
                report.analysed += 1
                if error:
                    report.failed += 1
                    if on_error is not None:
                        on_error(error)
                elif kind == "images":
                    report.faces += count
                else:
                    report.tracks += count
                bar.advance(task)

            for item in todo.failed:   # known to fail before anything is read
                if kind == "images":
                    store.add(ImageResult(item.name, error=item.error, labels=labels))
                else:
                    store.add_video(VideoOutcome(item, error=item.error))
                done(item.error, 0)
            if runnable:
                runner = create_engine(engine, address=address, workers=workers,
                                       cpus_per_worker=cpus_per_worker)
                try:
                    if kind == "images":
                        for result in runner.images(runnable, settings):
                            if result.file in expected:
                                expected.discard(result.file)
                                store.add(result)
                                done(result.error, len(result.faces))
                    else:
                        for outcome in runner.videos(runnable, settings):
                            expected.discard(outcome.item.name)
                            store.add_video(outcome)
                            tracks = len(outcome.result.tracks) if outcome.result is not None else 0
                            done(outcome.error, tracks)
                finally:
                    runner.close()
        report.unprocessed = [item.name for item in runnable if item.name in expected]
    report.seconds = time.perf_counter() - started
    return report


def video_options_for_batch(options: VideoOptions | None = None, *, annotate: bool = False) -> VideoOptions:
    """``options`` (default: ferkit video's) as a batch runs them: no charts, ``annotate`` as asked."""
    return replace(options or VideoOptions(), annotate=annotate, plots=False, audio=annotate)


__all__ = ["ENGINES", "BatchReport", "create_engine", "run_batch", "video_options_for_batch"]
