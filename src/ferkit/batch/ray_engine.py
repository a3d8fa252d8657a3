"""The Ray engine: images through Ray Data, videos as Ray tasks, on any Ray cluster.

Images: ``read_binary_files`` reads the bytes (one bad file cannot abort the
run the way ``read_images`` does: decoding happens in ferkit, where a bad image
is a record), an actor pool of :class:`ImageActor` s decodes and analyses them
(one model load per actor, batches of images per call), and the results stream
back to the driver, which writes them (:mod:`ferkit.batch.store`). Results are
small, so the driver is no bottleneck, and the workers need no access to the
output folder.

Sizing: one actor per CPU of the cluster, each asking for :data:`WORKER_CPUS`
(less than one) and read tasks for :data:`READ_CPUS`, so reads always find room
beside a full pool (an actor pool that takes every CPU starves the reads and
the run hangs). Each actor runs ONNX Runtime on one thread unless ``threads``
is set. Actors are restarted when they die and their batch is retried
(Ray Data's defaults for actor pools: ``max_restarts=-1``, ``max_task_retries=-1``); a block whose files cannot be read at
all (a file removed after the plan was made) leaves its inputs unprocessed
without failing the run, and a rerun retries them.

Videos: one task per video (:func:`ferkit.batch.work.run_video`), retried
:data:`VIDEO_RETRIES` times when its worker dies; the outputs travel back to the
driver with the result.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterator
from dataclasses import replace

from ferkit.errors import FerkitError, UsageError
from ferkit.results import ImageResult

from .plan import Item, is_uri
from .work import BatchSettings, ImageWork, VideoOutcome, read_failure, read_source, run_video

#: CPUs an analysing actor (or a video task) asks for.
WORKER_CPUS = 0.9
#: CPUs a read task asks for (reading is I/O).
READ_CPUS = 0.1
#: Times a video task is retried when its worker dies.
VIDEO_RETRIES = 3

log = logging.getLogger(__name__)


class EngineError(FerkitError):
    """The cluster failed the run (the results written so far are kept)."""


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError("--engine ray needs Ray: pip install 'ferkit[ray]'") from None
    return ray


class ImageActor:
    """One Ray actor: an :class:`~ferkit.batch.work.ImageWork` applied to batches of
    ``{"path", "bytes"}`` rows; returns ``{"path", "result"}`` (pickled
    :class:`~ferkit.results.ImageResult` s). Images are named by their path here;
    the driver gives each result its input's name."""

    def __init__(self, settings: BatchSettings) -> None:
        self.work = ImageWork(settings)

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        paths = [str(p) for p in batch["path"]]
        results = [pickle.dumps(self.work.analyse(p, bytes(data)))
                   for p, data in zip(paths, batch["bytes"])]
        return {"path": np.array(paths, dtype=object), "result": np.array(results, dtype=object)}


def _key(source: str) -> str:
    """The path Ray Data reports for ``source``: URIs lose their scheme, local paths become absolute."""
    if is_uri(source):
        return source.partition("://")[2]
    return os.path.abspath(source)


def _renamed(result: ImageResult, path: str, name: str) -> ImageResult:
    if name == path:
        return result
    error = result.error.replace(path, name) if result.error else None
    return replace(result, file=name, error=error)


class RayEngine:
    """Runs a plan on the Ray cluster at ``address`` (``None``: ``RAY_ADDRESS``, else a
    local one started for the run; ``"auto"``: the cluster this machine belongs to;
    ``"ray://host:10001"``: Ray Client). ``workers`` caps the actor pool (default: one
    per CPU of the cluster); ``cpus_per_worker`` is what each actor asks for."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None,
                 cpus_per_worker: float | None = None) -> None:
        ray = self.ray = import_ray()
        self._owned = not ray.is_initialized()
        if self._owned:
            kwargs = {"address": address, "logging_level": logging.WARNING, "log_to_driver": False}
            if address is None and not os.environ.get("RAY_ADDRESS"):
                kwargs["include_dashboard"] = False
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise UsageError(f"cannot connect to the Ray cluster at "
                                 f"{address or os.environ.get('RAY_ADDRESS') or 'a new local one'}: "
                                 f"{_first_line(e)}{_auth_hint(e)}") from None
        self.cpus = cpus_per_worker or WORKER_CPUS
        total = ray.cluster_resources().get("CPU", 1.0)
        self.workers = workers or max(1, int(total))

    def _settings(self, settings: BatchSettings) -> BatchSettings:
        return settings.with_threads(max(1, round(self.cpus)))

    # -- images --------------------------------------------------------------------------------

    def images(self, items: list[Item], settings: BatchSettings) -> Iterator[ImageResult]:
        ray = self.ray
        from ray.data import ActorPoolStrategy, DataContext

        logging.getLogger("ray.data").setLevel(logging.ERROR)   # ferkit shows the progress
        context = DataContext.get_current()
        context.enable_progress_bars = False
        context.max_errored_blocks = -1   # unreadable blocks: inputs left unprocessed, run goes on
        names: dict[str, list[str]] = {}
        by_scheme: dict[str, list[str]] = {}
        by_driver = []   # names pyarrow cannot spell (not UTF-8): read here, sent with the rows
        for item in items:
            key = _key(item.source)
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                by_driver.append(item)
                continue
            if key not in names:
                scheme = item.source.partition("://")[0] if is_uri(item.source) else ""
                by_scheme.setdefault(scheme, []).append(item.source if scheme else key)
            names.setdefault(key, []).append(item.name)
        datasets = [ray.data.read_binary_files(sources, include_paths=True, num_cpus=READ_CPUS)
                    for sources in by_scheme.values()]
        rows = []
        for item in by_driver:
            try:
                rows.append({"path": item.name, "bytes": read_source(item.source)})
                names[item.name] = [item.name]
            except OSError as e:
                yield ImageResult(item.name, error=read_failure(item.name, e))
        if rows:
            datasets.append(ray.data.from_items(rows))
        if not datasets:
            return
        ds = datasets[0].union(*datasets[1:]) if len(datasets) > 1 else datasets[0]
        ds = ds.map_batches(ImageActor, fn_constructor_kwargs={"settings": self._settings(settings)},
                            batch_size=settings.batch_size, batch_format="numpy",
                            compute=ActorPoolStrategy(min_size=1, max_size=self.workers),
                            num_cpus=self.cpus)   # Ray Data's actors: max_restarts=-1, max_task_retries=-1
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for path, blob in zip(batch["path"], batch["result"]):
                    path, result = str(path), pickle.loads(blob)
                    for name in names.pop(path, ()):
                        yield _renamed(result, path, name)
        except self.ray.exceptions.RayError as e:
            raise EngineError(f"the Ray run failed: {_first_line(e)}") from None

    # -- videos --------------------------------------------------------------------------------

    def videos(self, items: list[Item], settings: BatchSettings) -> Iterator[VideoOutcome]:
        ray = self.ray
        settings = self._settings(settings)
        task = ray.remote(run_video).options(num_cpus=self.cpus, max_retries=VIDEO_RETRIES)
        queue = iter(items)
        running: dict = {}

        def submit() -> None:
            for item in queue:
                source = item.source if is_uri(item.source) else os.path.abspath(item.source)
                running[task.remote(replace(item, source=source), settings)] = item
                if len(running) >= 2 * self.workers:
                    return

        submit()
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            item = running.pop(ready[0])
            try:
                outcome = ray.get(ready[0])
                outcome.item = item
            except ray.exceptions.RayError as e:   # the worker died VIDEO_RETRIES + 1 times
                outcome = VideoOutcome(item, error=f"analysis failed: {_first_line(e)}")
            yield outcome
            submit()

    def close(self) -> None:
        if self._owned and self.ray.is_initialized():
            self.ray.shutdown()


def _auth_hint(error: BaseException) -> str:
    """A hint when the cluster wants a token this process did not present."""
    while error is not None:
        if "AuthenticationError" in type(error).__name__ or "InvalidAuthToken" in str(error):
            return ("; the cluster uses token authentication: set RAY_AUTH_MODE=token and the "
                    "cluster's token (RAY_AUTH_TOKEN, or ~/.ray/auth_token) where ferkit runs")
        error = error.__cause__ or error.__context__
    return ""


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


__all__ = ["READ_CPUS", "VIDEO_RETRIES", "WORKER_CPUS", "EngineError", "ImageActor", "RayEngine"]
