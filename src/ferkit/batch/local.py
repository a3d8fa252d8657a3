"""The local engine: the batch's plan run in this process by a bounded pool of threads,
each with its own :class:`~ferkit.analyzer.Analyzer` (ONNX Runtime and the image
decoders release the GIL, so threads run in parallel)."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from ferkit.results import ImageResult

from .plan import Item
from .work import BatchSettings, ImageWork, VideoOutcome, run_video


class LocalEngine:
    """Runs a plan in-process with ``workers`` threads (default 1); at most two batches
    per worker are in flight, so memory stays bounded whatever the plan's size.
    Results come back in plan order."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or 1)
        self._local = threading.local()

    def _settings(self, settings: BatchSettings) -> BatchSettings:
        # Several workers share the cores: one ONNX Runtime thread pool each, sized to its share.
        if self.workers == 1:
            return settings
        return settings.with_threads(max(1, (os.cpu_count() or 1) // self.workers))

    def _image_work(self, settings: BatchSettings) -> ImageWork:
        work = getattr(self._local, "images", None)
        if work is None:
            work = self._local.images = ImageWork(settings)
        return work

    def images(self, items: list[Item], settings: BatchSettings) -> Iterator[ImageResult]:
        settings = self._settings(settings)

        def run(chunk: list[Item]) -> list[ImageResult]:
            work = self._image_work(settings)
            return [work.run(item) for item in chunk]

        chunks = (items[i:i + settings.batch_size] for i in range(0, len(items), settings.batch_size))
        yield from _bounded(run, chunks, self.workers)

    def videos(self, items: list[Item], settings: BatchSettings) -> Iterator[VideoOutcome]:
        settings = self._settings(settings)

        def run(chunk: list[Item]) -> list[VideoOutcome]:
            analyzer = getattr(self._local, "analyzer", None)
            if analyzer is None:
                from ferkit.analyzer import Analyzer

                analyzer = self._local.analyzer = Analyzer.from_options(settings.analyzer)
            return [run_video(item, settings, analyzer) for item in chunk]

        yield from _bounded(run, ([item] for item in items), self.workers)

    def close(self) -> None:
        pass


def _bounded(fn, chunks, workers: int):
    """``fn`` over ``chunks`` on ``workers`` threads, at most ``2 * workers`` chunks in
    flight; the items of each chunk's result list, in order."""
    if workers == 1:   # no thread: the analyzer loads and runs here, as in ferkit analyze
        for chunk in chunks:
            yield from fn(chunk)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="ferkit-batch") as pool:
        pending: deque = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(fn, chunk))
                if len(pending) >= 2 * workers:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


__all__ = ["LocalEngine"]
