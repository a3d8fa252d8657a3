"""The settings of ``ferkit serve``, checked without loading the web stack.

This module imports nothing heavy (no FastAPI, NumPy, OpenCV or ONNX Runtime), so
the command line refuses a bad option at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ferkit.card import MAX_PRIOR_TAU
from ferkit.errors import UsageError, check_int, check_number

TOKEN_ENV = "FERKIT_TOKEN"
MB = 1024 * 1024
MIN_TOKEN_LENGTH = 16


def default_workers() -> int:
    """Analyses at a time: one per core, at most 4 (each analysis then gets
    ``cores // workers`` inference threads)."""
    return max(1, min(os.cpu_count() or 1, 4))


@dataclass
class ServeSettings:
    """Everything ``ferkit serve`` is configured with; :func:`ferkit.serve.create_app` takes one.

    Limits (per route): ``max_upload_mb`` is the body of ``POST /v1/analyze``
    (all its images together), ``max_files`` the images in one request,
    ``max_pixels`` an image's size (read from its header, before it is decoded);
    ``max_video_mb``, ``max_video_seconds`` and ``max_video_frames`` bound a video
    job; ``max_frame_kb`` and ``max_frame_pixels`` a frame sent to the stream
    socket; ``quota_mb`` is the private temporary folder (uploads and job files).

    Load: ``workers`` analyses run at a time, ``queue`` more wait; beyond that a
    request gets ``503`` with ``Retry-After``. ``request_timeout`` (seconds) bounds
    how long a request waits for its analysis (``504``) and how long an upload may
    stay silent (``408``). Video jobs run ``video_workers`` at a time on their own
    threads with ``max_jobs`` waiting or running; finished jobs and their files are
    removed ``job_ttl`` seconds after they end. ``max_streams`` stream sockets may
    be open at once.

    Security: ``token`` (or the ``FERKIT_TOKEN`` environment variable) is required
    on every route but ``/healthz`` when set; ``cors_origins`` lists the origins
    that may call the API from other pages (none by default).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    model: str = "default"
    detector: str = "retinaface"
    detect_size: int | None = None
    prior_correction: float | None = None   # None: the model card's
    threads: int = 0                  # inference threads per analysis (0: cores // workers)
    workers: int = field(default_factory=default_workers)
    queue: int | None = None          # None: 4 x workers
    request_timeout: float = 60.0
    max_upload_mb: float = 20.0
    max_files: int = 32
    max_pixels: int = 40_000_000
    max_video_mb: float = 200.0
    max_video_seconds: float = 600.0
    max_video_frames: int = 36_000
    video_workers: int = 1
    max_jobs: int = 8
    job_ttl: float = 3600.0
    quota_mb: float = 2048.0
    max_streams: int = 8
    max_frame_kb: float = 2048.0
    max_frame_pixels: int = 4_000_000
    cors_origins: tuple[str, ...] = ()
    temp_dir: Path | None = None      # where the private folder is made (default: the system's)
    survey: Path | None = None

    def __post_init__(self) -> None:
        check_int("port", self.port, low=0)
        if self.port > 65535:
            raise UsageError(f"port must be from 0 to 65535, got {self.port}")
        check_int("detect_size", self.detect_size, low=32, optional=True)
        check_number("prior_correction", self.prior_correction, low=0.0, high=MAX_PRIOR_TAU, optional=True)
        check_int("threads", self.threads, low=0)
        check_int("workers", self.workers, low=1)
        check_int("queue", self.queue, low=0, optional=True)
        check_number("request_timeout", self.request_timeout, low=0.01, high=86400)
        check_number("max_upload_mb", self.max_upload_mb, low=0.001, high=1e6)
        check_int("max_files", self.max_files, low=1)
        check_int("max_pixels", self.max_pixels, low=1)
        check_number("max_video_mb", self.max_video_mb, low=0.001, high=1e6)
        check_number("max_video_seconds", self.max_video_seconds, low=0.001, high=1e7)
        check_int("max_video_frames", self.max_video_frames, low=1)
        check_int("video_workers", self.video_workers, low=1)
        check_int("max_jobs", self.max_jobs, low=1)
        check_number("job_ttl", self.job_ttl, low=0.0, high=1e8)
        check_number("quota_mb", self.quota_mb, low=0.001, high=1e9)
        check_int("max_streams", self.max_streams, low=0)
        check_number("max_frame_kb", self.max_frame_kb, low=1.0, high=1e6)
        check_int("max_frame_pixels", self.max_frame_pixels, low=1)
        if self.queue is None:
            self.queue = 4 * self.workers
        if self.token is None:
            self.token = os.environ.get(TOKEN_ENV) or None
        if self.token is not None:
            t = self.token
            if len(t) < MIN_TOKEN_LENGTH or not t.isascii() or not t.isprintable() or any(c.isspace() for c in t):
                raise UsageError(f"the token must be at least {MIN_TOKEN_LENGTH} printable ASCII characters, "
                                 "no spaces (make one with: python -c 'import secrets; print(secrets.token_urlsafe())')")
        self.cors_origins = tuple(self.cors_origins)
        for origin in self.cors_origins:
            if origin == "*" or not origin.startswith(("http://", "https://")) or origin.endswith("/"):
                raise UsageError(f"CORS origin {origin!r}: give a full origin such as https://example.org "
                                 "(no '*', no path)")
        if self.survey is not None:
            self.survey = Path(self.survey)
        if self.temp_dir is not None:
            self.temp_dir = Path(self.temp_dir)

    # Byte limits, as the routes use them.
    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    @property
    def max_video_bytes(self) -> int:
        return int(self.max_video_mb * MB)

    @property
    def max_frame_bytes(self) -> int:
        return int(self.max_frame_kb * 1024)

    @property
    def quota_bytes(self) -> int:
        return int(self.quota_mb * MB)

    @property
    def inference_threads(self) -> int:
        """ONNX Runtime threads per analysis: the given ``threads``, else the cores shared among the workers."""
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "::1", "localhost")
