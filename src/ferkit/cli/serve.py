"""``ferkit serve``: the REST API, the stream socket and the web page, in one process.

Options are checked before FastAPI, Uvicorn and the models load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from ._common import (
    DETECT_SIZE,
    DETECTOR,
    MODEL,
    PRIOR_CORRECTION,
    THREADS,
    check_names,
    err_console,
    print_warning,
)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
    token: Optional[str] = typer.Option(None, "--token", help="Require this bearer token on every route but /healthz (default: the FERKIT_TOKEN environment variable; none: open)."),
    max_upload_mb: float = typer.Option(20.0, "--max-upload-mb", min=0.001, help="Largest body of POST /v1/analyze (all its images), in MB."),
    max_video_mb: float = typer.Option(200.0, "--max-video-mb", min=0.001, help="Largest video upload, in MB."),
    max_video_seconds: float = typer.Option(600.0, "--max-video-seconds", min=0.001, help="Longest video accepted, in seconds."),
    max_pixels: int = typer.Option(40_000_000, "--max-pixels", min=1, help="Largest image, in pixels (read from its header, before decoding)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Analyses at a time (default: one per core, at most 4)."),
    queue: Optional[int] = typer.Option(None, "--queue", min=0, help="Analyses waiting beyond those running; more get 503 with Retry-After (default: 4 x workers)."),
    request_timeout: float = typer.Option(60.0, "--request-timeout", min=0.01, help="Seconds a request waits for its analysis (504) or an upload may stall (408)."),
    video_workers: int = typer.Option(1, "--video-workers", min=1, help="Video jobs analysed at a time."),
    max_jobs: int = typer.Option(8, "--max-jobs", min=1, help="Video jobs waiting or running; more get 503."),
    job_ttl: float = typer.Option(3600.0, "--job-ttl", min=0.0, help="Seconds a finished video job and its files are kept."),
    quota_mb: float = typer.Option(2048.0, "--quota-mb", min=0.001, help="Space for uploads and job files, in MB (507 beyond it)."),
    cors_origin: Optional[list[str]] = typer.Option(None, "--cors-origin", help="An origin (https://host[:port]) whose pages may call the API; repeat for several. Default: none."),
    survey: Optional[Path] = typer.Option(None, "--survey", help="Also serve the survey in this folder at /survey."),
    detector: Optional[str] = DETECTOR, model: Optional[str] = MODEL, detect_size: Optional[int] = DETECT_SIZE,
    prior_correction: Optional[float] = PRIOR_CORRECTION, threads: int = THREADS,
    log_level: str = typer.Option("info", "--log-level", help="Uvicorn's log level: critical, error, warning, info, debug."),
) -> None:
    """Serve the REST API and the web page (photos, videos, webcam)."""
    from ferkit.serve.settings import ServeSettings

    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    given = {"workers": workers, "queue": queue, "detector": detector, "model": model}
    settings = ServeSettings(
        host=host, port=port, token=token, max_upload_mb=max_upload_mb, max_video_mb=max_video_mb,
        max_video_seconds=max_video_seconds, max_pixels=max_pixels, request_timeout=request_timeout,
        video_workers=video_workers, max_jobs=max_jobs, job_ttl=job_ttl, quota_mb=quota_mb,
        cors_origins=tuple(cors_origin or ()), survey=survey, detect_size=detect_size,
        prior_correction=prior_correction, threads=threads,
        **{k: v for k, v in given.items() if v is not None})
    check_names(detector, model)
    if survey is not None and not survey.is_dir():
        raise typer.BadParameter(f"{survey} is not a folder", param_hint="--survey")
    if not settings.loopback and settings.token is None:
        print_warning(f"listening on {host} without a token: anyone who can reach port {port} can use "
                      "this server; set --token or FERKIT_TOKEN")

    import importlib.util

    import uvicorn

    if not any(importlib.util.find_spec(m) for m in ("websockets", "wsproto")):
        print_warning("no WebSocket library: the webcam stream (/v1/stream) will not work; "
                      "pip install 'ferkit[serve]' (it brings websockets)")

    from ferkit.serve import create_app

    err = err_console()
    with err.status("loading the web stack"):
        application = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    err.print(f"ferkit serve: http://{shown}:{port}/ (API under /v1, reference at /docs); "
              f"{settings.workers} analyses at a time, {settings.queue} waiting; models load in the "
              "background (GET /readyz); Ctrl-C stops", highlight=False, markup=False)
    if settings.token is not None:
        err.print("a token is required: open the page and enter it, or send 'Authorization: Bearer <token>'",
                  highlight=False, markup=False)
    uvicorn.run(application, host=host, port=port, log_level=log_level, server_header=False,
                ws_max_size=settings.max_frame_bytes + 4096, timeout_keep_alive=5,
                timeout_graceful_shutdown=10)
