"""The server's CPU side: models loaded once per process, and a bounded pool that
runs at most ``workers`` analyses at a time with at most ``queue`` more waiting.

Admission happens before a request's body is read (:meth:`WorkPool.reserve`), so
memory stays bounded by the pool's size too: a request beyond it costs a ``503``
and nothing else.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ferkit.errors import UnknownNameError
from ferkit.serve.security import ApiError, Busy
from ferkit.serve.settings import ServeSettings

log = logging.getLogger(__name__)


class Models:
    """Analyzers by ``(model, detector)``, each built once and shared by every thread
    (ONNX Runtime sessions run concurrently). The server's own model and detector
    load at start-up (:meth:`load_default`, what ``/readyz`` waits for); a client may
    name another *packaged* model or another detector, loaded on first use. Paths
    from clients are never accepted."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self._analyzers: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        self.default_key: tuple[str, str] | None = None
        self.error: str | None = None
        self.loaded_at: float | None = None

    @property
    def ready(self) -> bool:
        return self.default_key is not None and self.default_key in self._analyzers

    def load_default(self) -> None:
        """Build the server's analyzer (``--model``, ``--detector``); errors are kept in :attr:`error`."""
        from ferkit.analyzer import Analyzer, AnalyzerOptions

        s = self.settings
        started = time.perf_counter()
        try:
            options = AnalyzerOptions(detector=s.detector, model=s.model, detect_size=s.detect_size,
                                      threads=s.inference_threads, prior_correction=s.prior_correction)
            analyzer = Analyzer.from_options(options)
        except Exception as e:
            self.error = str(e)
            log.error("models failed to load: %s", e)
            raise
        key = (analyzer.card.name, analyzer.detector.name)
        with self._lock:
            self._analyzers[key] = analyzer
            self.default_key = key
        self.loaded_at = time.time()
        log.info("models loaded: %s with the %s detector (%.1f s); ready", key[0], key[1],
                 time.perf_counter() - started)

    def names(self) -> dict[str, str]:
        """The loaded analyzers: model name → detector names."""
        with self._lock:
            out: dict[str, list[str]] = {}
            for model, detector in self._analyzers:
                out.setdefault(model, []).append(detector)
        return {k: ", ".join(v) for k, v in out.items()}

    def key(self, model: str | None, detector: str | None) -> tuple[str, str]:
        """The cache key for a client's ``model``/``detector`` choice (checked: only packaged
        model names, only known detectors; ``UsageError``/``UnknownNameError`` otherwise)."""
        from ferkit.detect import check_detector_name
        from ferkit.models import packaged_models

        if self.default_key is None:
            raise ApiError(503, "not_ready", "the models are still loading", {"Retry-After": "2"})
        default_model, default_detector = self.default_key
        if model in (None, "", "default", default_model):
            model = default_model
        else:
            shipped = packaged_models()
            if model not in shipped:
                raise UnknownNameError(f"unknown model {model!r}; this server offers: "
                                       f"{', '.join(sorted({default_model, *shipped}))}")
        detector = default_detector if detector in (None, "") else check_detector_name(detector)
        return model, detector

    def get(self, model: str | None = None, detector: str | None = None, margin: float | None = None):
        """The analyzer for a client's choices; ``margin`` gives a light copy sharing its models.
        Called on worker threads: loading a new model happens there, once."""
        from ferkit.analyzer import MAX_MARGIN, Analyzer
        from ferkit.errors import check_number

        check_number("margin", margin, low=0.0, high=MAX_MARGIN, optional=True)
        key = self.key(model, detector)
        with self._lock:
            analyzer = self._analyzers.get(key)
            if analyzer is None:
                log.info("loading model %s with detector %s", *key)
                analyzer = Analyzer(detector=key[1], model=key[0], detect_size=self.settings.detect_size,
                                    threads=self.settings.inference_threads)
                self._analyzers[key] = analyzer
        if margin is not None and margin != analyzer.margin:
            analyzer = copy.copy(analyzer)   # shares the classifier and the detector
            analyzer.margin = margin
        return analyzer


class Slot:
    """A reserved place in the pool (running or waiting); :meth:`WorkPool.run` uses it once,
    :meth:`release` gives it back unused."""

    def __init__(self, pool: "WorkPool") -> None:
        self._pool = pool
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release()

    def __enter__(self) -> "Slot":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class WorkPool:
    """At most ``workers`` analyses at a time on their own threads, and ``queue`` waiting.

    :meth:`reserve` takes a place or raises :class:`~ferkit.serve.security.Busy`
    (``503``, with a ``Retry-After`` estimated from recent service times);
    :meth:`run` runs a function in the reserved place and waits at most
    ``timeout`` seconds for it (``504``; a function still waiting is cancelled,
    one already running finishes and then frees its place).
    """

    def __init__(self, workers: int, queue: int, name: str = "ferkit-analysis") -> None:
        self.workers = workers
        self.capacity = workers + queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._taken = 0
        self._running = 0
        self._durations: deque[float] = deque(maxlen=64)
        self.completed = 0
        self.rejected = 0

    @property
    def in_use(self) -> int:
        return self._taken

    @property
    def running(self) -> int:
        return self._running

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the queue's length times the mean service time."""
        with self._lock:
            mean = sum(self._durations) / len(self._durations) if self._durations else 1.0
            return max(1, math.ceil(mean * max(self._taken, 1) / self.workers))

    def reserve(self) -> Slot:
        with self._lock:
            if self._taken >= self.capacity:
                self.rejected += 1
                full = True
            else:
                self._taken += 1
                full = False
        if full:
            raise Busy(f"the server is busy ({self.capacity} analyses running or waiting); "
                       "try again shortly", self.retry_after())
        return Slot(self)

    def _release(self) -> None:
        with self._lock:
            self._taken -= 1

    async def run(self, slot: Slot, fn, *args, timeout: float | None = None, cleanup=None):
        """``fn(*args)`` on a worker thread in ``slot``'s place. When it ends (or is cancelled
        before it started) the slot is released and ``cleanup()`` called, even if the
        caller stopped waiting for it."""
        if slot._released:
            raise RuntimeError("this slot was already used")

        def timed():
            started = time.perf_counter()
            with self._lock:
                self._running += 1
            try:
                return fn(*args)
            finally:
                with self._lock:
                    self._running -= 1
                    self._durations.append(time.perf_counter() - started)
                    self.completed += 1

        try:
            future = self._executor.submit(timed)
        except RuntimeError:   # shutting down
            slot.release()
            if cleanup is not None:
                cleanup()
            raise ApiError(503, "shutting_down", "the server is shutting down") from None

        def done(_) -> None:
            # files first: a free place never waits on the last request's files
            try:
                if cleanup is not None:
                    cleanup()
            finally:
                slot.release()

        future.add_done_callback(done)
        wrapped = asyncio.wrap_future(future)
        try:
            return await asyncio.wait_for(asyncio.shield(wrapped), timeout)
        except asyncio.TimeoutError:
            future.cancel()   # still waiting: it never runs (its callback frees the slot)
            raise ApiError(504, "timeout", f"the analysis took longer than {timeout:g} s") from None
        except asyncio.CancelledError:
            future.cancel()   # the client went away while it waited
            raise

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

