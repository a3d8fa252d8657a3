"""Video jobs: an uploaded video analysed by :func:`ferkit.video.analyze_video` on a
bounded pool of its own, independent of the request that created it.

A job lives in its own folder of the private temporary folder: the upload
(deleted as soon as the analysis ends) and ``files/`` with what
``analyze_video`` writes (``frames.csv``, ``tracks.json``/``.csv``, the charts,
``annotated.mp4``). Jobs survive their client going away; finished jobs are
removed ``job_ttl`` seconds after they end, or when deleted. ``tracks.json`` and
the status name the upload by the client's file name, never by a server path.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ferkit.errors import FerkitError
from ferkit.serve.security import ApiError, Busy, TooLarge, not_found, status_for
from ferkit.serve.settings import ServeSettings
from ferkit.serve.uploads import Storage

log = logging.getLogger(__name__)

QUEUED, RUNNING, FINISHING, DONE, FAILED, CANCELLED = "queued", "running", "finishing", "done", "failed", "cancelled"
ENDED = (DONE, FAILED, CANCELLED)
FILES = "files"


def scrub(message: str, path: Path, name: str) -> str:
    """A message about ``path`` as the client sees it: the server path replaced by the client's name."""
    return message.replace(str(path), name)


@dataclass
class Job:
    """One video being analysed; :meth:`status` is what ``GET /v1/videos/{id}`` answers."""

    id: str
    name: str
    folder: Path
    upload: Path
    options: object                   # ferkit.video.VideoOptions
    choices: dict                     # model, detector, margin
    info: dict = field(default_factory=dict)
    state: str = QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    frames: int = 0                   # decoded so far
    analysed: int = 0
    error: str | None = None
    result: dict | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False
    future: Future | None = None

    @property
    def files_dir(self) -> Path:
        return self.folder / FILES

    def progress(self) -> dict:
        total = self.info.get("frame_count")
        elapsed = ((self.finished or time.time()) - self.started) if self.started else 0.0
        fps = self.frames / elapsed if elapsed > 0 and self.frames else 0.0
        eta = None
        if total and fps and self.state == RUNNING:
            eta = max(total - self.frames, 0) / fps
        fraction = 1.0 if self.state == DONE else (min(self.frames / total, 1.0) if total else None)
        return {"frames": self.frames, "total": total, "analysed": self.analysed, "fps": round(fps, 2),
                "eta": None if eta is None else round(eta, 1),
                "fraction": None if fraction is None else round(fraction, 4)}

    def files(self, base: str) -> list[dict]:
        if self.state not in ENDED or not self.files_dir.is_dir():
            return []
        from ferkit.serve.security import DOWNLOAD_NAME

        found = sorted(p for p in self.files_dir.iterdir() if p.is_file() and DOWNLOAD_NAME.fullmatch(p.name))
        return [{"name": p.name, "url": f"{base}/{p.name}", "bytes": p.stat().st_size} for p in found]

    def status(self, base: str) -> dict:
        return {"id": self.id, "name": self.name, "state": self.state, "created": self.created,
                "started": self.started, "finished": self.finished, "progress": self.progress(),
                "info": self.info, "error": self.error, "result": self.result, "files": self.files(base)}


class VideoJobs:
    """The jobs of one server: at most ``max_jobs`` waiting or running, ``video_workers`` at a time."""

    def __init__(self, settings: ServeSettings, storage: Storage, models) -> None:
        self.settings = settings
        self.storage = storage
        self.models = models
        self._executor = ThreadPoolExecutor(max_workers=settings.video_workers,
                                            thread_name_prefix="ferkit-video")
        self._jobs: dict[str, Job] = {}
        self._reserved = 0
        self._lock = threading.Lock()

    # --- admission ------------------------------------------------------------------------

    def active(self) -> int:
        with self._lock:
            return self._reserved + sum(j.state not in ENDED for j in self._jobs.values())

    def reserve(self) -> None:
        """Take a place for a new job before its upload is read; ``503`` when none is free."""
        with self._lock:
            active = self._reserved + sum(j.state not in ENDED for j in self._jobs.values())
            if active >= self.settings.max_jobs:
                raise Busy(f"{active} video jobs are waiting or running (at most "
                           f"{self.settings.max_jobs}); try again later", retry_after=30)
            self._reserved += 1

    def unreserve(self) -> None:
        with self._lock:
            self._reserved -= 1

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(16)

    # --- probing the upload ---------------------------------------------------------------

    def probe(self, path: Path, name: str) -> dict:
        """The video's :class:`~ferkit.video.VideoInfo` as a dict, the limits checked
        (``413``); a file that is no readable video raises ``422``. Runs on a thread."""
        from ferkit.video.source import open_source

        s = self.settings
        try:
            source = open_source(str(path))
        except FerkitError as e:
            raise ApiError(*status_for(e), scrub(str(e), path, name)) from None
        try:
            info = source.info.to_dict()
        finally:
            source.close()
        info["source"] = name
        if info["width"] * info["height"] > s.max_pixels:
            raise TooLarge(f"video frames too large: {info['width']}x{info['height']} "
                           f"exceeds the {s.max_pixels}-pixel limit: {name}")
        if info["duration"] is not None and info["duration"] > s.max_video_seconds:
            raise TooLarge(f"video too long: {info['duration']:.1f} s exceeds the "
                           f"{s.max_video_seconds:g} s limit: {name}")
        if info["frame_count"] is not None and info["frame_count"] > s.max_video_frames:
            raise TooLarge(f"video too long: {info['frame_count']} frames exceed the "
                           f"{s.max_video_frames}-frame limit: {name}")
        return info

    # --- running --------------------------------------------------------------------------

    def start(self, job_id: str, name: str, folder: Path, upload: Path, options, choices: dict,
              info: dict) -> Job:
        """Queue the analysis of an upload that was :meth:`reserve` d and :meth:`probe` d."""
        job = Job(job_id, name, folder, upload, options, choices, info)
        with self._lock:
            self._reserved -= 1
            self._jobs[job.id] = job
        job.future = self._executor.submit(self._run, job)
        return job

    def _run(self, job: Job) -> None:
        from ferkit.video.pipeline import analyze_video
        from ferkit.video.source import VideoDecodeError
        from ferkit.video.writer import write_tracks

        if job.cancel.is_set():
            self._ended(job, CANCELLED)
            return
        job.state, job.started = RUNNING, time.time()
        s = self.settings
        charts = job.options.plots   # drawn below, once the result names the client's file
        try:
            analyzer = self.models.get(**job.choices)
            run = analyze_video(str(job.upload), replace(job.options, plots=False), analyzer=analyzer,
                                out_dir=job.files_dir)
        except FerkitError as e:
            job.error = scrub(str(e), job.upload, job.name)
            self._ended(job, FAILED)
            return
        except Exception as e:
            log.exception("video job %s could not start", job.id)
            job.error = f"analysis failed: {type(e).__name__}"
            self._ended(job, FAILED)
            return

        def finishing() -> None:
            job.state = FINISHING

        run.on_finishing = finishing
        state = DONE
        try:
            for frame in run:
                job.frames = frame.frame + 1
                job.analysed += 1
                if job.cancel.is_set():
                    state = CANCELLED
                    break
                if job.frames >= s.max_video_frames or (frame.time or 0) > s.max_video_seconds:
                    job.error = (f"the video is longer than the server's limit ({s.max_video_frames} frames, "
                                 f"{s.max_video_seconds:g} s); results cover the frames up to it")
                    state = FAILED
                    break
        except VideoDecodeError:
            pass   # in run.result.error; the frames before it are analysed
        except Exception as e:
            log.exception("video job %s failed", job.id)
            job.error = f"analysis failed: {type(e).__name__}"
            state = FAILED
        finally:
            try:
                run.close()
            except Exception as e:
                log.exception("video job %s: completing its files failed", job.id)
                job.error = job.error or f"writing the results failed: {type(e).__name__}"
                state = FAILED
        result = run.result
        if result is not None and not job.deleted:
            result.source = job.name
            result.info.source = job.name
            if result.error:
                result.error = scrub(result.error, job.upload, job.name)
                job.error = job.error or result.error
                state = FAILED if not result.frames_analysed else state
            try:
                if charts and result.frames_analysed and not job.cancel.is_set():
                    from ferkit.video.plots import write_plots

                    job.state = FINISHING
                    result.outputs.update(write_plots(result, job.files_dir))
                result.outputs = {name: name for name in result.outputs}
                write_tracks(result, job.files_dir)   # again: with the client's name, no server paths
            except FerkitError as e:
                job.error = job.error or str(e)
            except Exception as e:
                log.exception("video job %s: its charts failed", job.id)
                job.error = job.error or f"drawing the charts failed: {type(e).__name__}"
            job.frames = max(job.frames, result.frames_decoded)
            job.result = result.to_dict()
        self._ended(job, state)

    def _ended(self, job: Job, state: str) -> None:
        job.upload.unlink(missing_ok=True)
        job.finished = time.time()
        job.state = state
        if job.deleted:
            self.storage.remove(job.folder)
        else:
            self.storage.settle(job.folder)

    # --- access ---------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise not_found(f"video job {job_id!r}")
        return job

    def delete(self, job_id: str) -> None:
        """Remove a job: a waiting one never runs, a running one stops after its current
        frame; the files go as soon as nothing writes them."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is None:
            raise not_found(f"video job {job_id!r}")
        job.deleted = True
        job.cancel.set()
        if job.future is not None and job.future.cancel():   # never started
            job.state = CANCELLED
            self.storage.remove(job.folder)
        elif job.state in ENDED:
            self.storage.remove(job.folder)
        # else: the worker removes the folder when it ends (job.deleted)

    def expire(self, now: float | None = None) -> list[str]:
        """Remove the jobs that ended more than ``job_ttl`` seconds ago; returns their ids."""
        now = time.time() if now is None else now
        with self._lock:
            old = [j.id for j in self._jobs.values()
                   if j.state in ENDED and j.finished is not None and now - j.finished >= self.settings.job_ttl]
        for job_id in old:
            try:
                self.delete(job_id)
            except Exception:  # deleted meanwhile
                pass
        return old

    def shutdown(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
