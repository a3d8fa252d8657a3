"""The ``ferkit serve`` application: :func:`create_app`.

One process serves the web page (``/``, its files under ``/static``), the API
under ``/v1``, its reference at ``/docs`` (rendered by the page's own code from
``/openapi.json``: no CDN) and ``/healthz``/``/readyz``. Models load once, in
the background, when the app starts; ``/readyz`` answers 200 once they have.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import cookie_parser

from ferkit.errors import FerkitError, UsageError
from ferkit.serve.engine import Models, WorkPool
from ferkit.serve.jobs import VideoJobs
from ferkit.serve.routes import build_router
from ferkit.serve.security import (
    SECURITY_HEADERS,
    TOKEN_COOKIE,
    ApiError,
    api_error,
    bearer,
    token_matches,
)
from ferkit.serve.settings import MB, ServeSettings
from ferkit.serve.uploads import Storage

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
SMALL_BODY = 64 * 1024          # every route without a limit of its own (the login form, the survey's)
JANITOR_PERIOD = 60.0


@dataclass
class ServerState:
    """What the routes share: settings, models, the analysis pool, the video jobs, the private folder."""

    settings: ServeSettings
    models: Models
    pool: WorkPool
    storage: Storage
    jobs: VideoJobs
    streams: int = 0
    tasks: list = field(default_factory=list)


def session_value(token: str) -> str:
    """The login cookie's value: derived from the token, so the cookie never holds the token itself."""
    return hmac.new(token.encode("utf-8"), b"ferkit-session", hashlib.sha256).hexdigest()


def create_app(settings: ServeSettings | None = None, survey: Path | None = None) -> FastAPI:
    """The ASGI app of ``ferkit serve`` (run it with uvicorn, or test it with
    ``fastapi.testclient.TestClient``). ``survey``: a survey folder whose router
    (``ferkit.survey.web.create_router``) is mounted at ``/survey``."""
    settings = settings or ServeSettings()
    if survey is not None:
        settings.survey = Path(survey)
    storage = Storage(settings.quota_bytes, settings.temp_dir)
    models = Models(settings)
    state = ServerState(settings, models, WorkPool(settings.workers, settings.queue), storage,
                        VideoJobs(settings, storage, models))

    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        loading = loop.run_in_executor(None, _load, models)
        janitor = asyncio.create_task(_janitor(state))
        try:
            yield
        finally:
            janitor.cancel()
            await loop.run_in_executor(None, state.jobs.shutdown)
            await loop.run_in_executor(None, state.pool.shutdown)
            await asyncio.gather(loading, return_exceptions=True)
            storage.close()

    app = _FerkitApp(title="ferkit", summary="Facial expressions in photos, videos and streams.",
                  version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  max_body_size=SMALL_BODY)
    app.state.ferkit = state
    _add_error_handlers(app, storage)
    app.include_router(build_router(state))
    _add_page(app, settings)
    if settings.survey is not None:
        app.include_router(_survey_router(settings.survey), prefix="/survey")
    # Outermost last: headers on every answer, CORS (if any) before the token check, so
    # preflight requests (which carry no credentials) are answered.
    app.add_middleware(TokenMiddleware, token=settings.token, origins=settings.cors_origins)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["Location", "Retry-After"], max_age=600)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def _version() -> str:
    from ferkit import __version__

    return __version__


def _load(models: Models) -> None:
    try:
        models.load_default()
    except Exception:   # kept in models.error; /readyz says it
        pass


async def _janitor(state: ServerState) -> None:
    period = min(JANITOR_PERIOD, max(state.settings.job_ttl / 4, 0.5))
    while True:
        await asyncio.sleep(period)
        for job_id in state.jobs.expire():
            log.info("video job %s expired", job_id)


def _survey_router(folder: Path):
    try:
        from ferkit.survey.web import create_router
    except ImportError as e:
        raise UsageError(f"--survey needs ferkit.survey, which this installation lacks ({e})") from None
    return create_router(Path(folder))


# --- errors: JSON, never a traceback ----------------------------------------------------------

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 408: "timeout", 413: "too_large", 415: "unsupported_type"}


def _add_error_handlers(app: FastAPI, storage: Storage) -> None:
    def answer(error: ApiError) -> JSONResponse:
        body = error.body()
        # Never a server path in an answer, whatever a message quoted; text a client sent
        # (a path that is not UTF-8) shown escaped.
        message = body["error"]["message"].replace(str(storage.root), "<upload>")
        body["error"]["message"] = message.encode("utf-8", "backslashreplace").decode("utf-8")
        return JSONResponse(body, status_code=error.status, headers=error.headers)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, error: ApiError):
        return answer(error)

    @app.exception_handler(FerkitError)
    async def on_ferkit_error(request: Request, error: FerkitError):
        return answer(api_error(error))

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, error: HTTPException):
        status = error.status_code
        message = str(error.detail)
        if status == 413:
            limit = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
            message = ("the request body is larger than this route accepts"
                       + (f" ({limit / MB:.3g} MB)" if limit else ""))
        elif status == 404:
            message = f"no such page or route: {request.url.path[:200]}"
        return answer(ApiError(status, _HTTP_CODES.get(status, "error"), message, dict(error.headers or {})))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
                             for e in error.errors())
        return answer(ApiError(400, "bad_request", problems or "invalid request"))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, error: Exception):
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=error)
        return answer(api_error(error))


# --- the page -----------------------------------------------------------------------------------

def _add_page(app: FastAPI, settings: ServeSettings) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        if settings.token is None:
            return RedirectResponse("/", status_code=303)
        form = await request.form(max_files=0, max_fields=2)
        given = form.get("token")
        if not isinstance(given, str) or not token_matches(given.strip(), settings.token):
            return FileResponse(STATIC / "login.html", status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(TOKEN_COOKIE, session_value(settings.token), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")
        return response


# --- middleware -----------------------------------------------------------------------------------

class _FerkitApp(FastAPI):
    """FastAPI with :class:`JsonBodyLimitAnswers` outside everything, FastAPI's own body limit included."""

    def build_middleware_stack(self):
        return JsonBodyLimitAnswers(super().build_middleware_stack())


class JsonBodyLimitAnswers:
    """FastAPI's request body limit answers a body declared too large (``Content-Length``)
    with a plain-text ``413``, whatever the route answered; this turns that answer into
    ferkit's JSON error (with the security headers), so every refusal reads the same."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = None
        replacing = False

        async def answer(message) -> None:
            nonlocal replacing, limit
            if message["type"] == "http.response.start" and message["status"] == 413:
                kind = Headers(raw=message.get("headers", [])).get("content-type", "")
                if kind.startswith("text/plain"):
                    replacing, limit = True, scope.get(MAX_BODY_SIZE_SCOPE_KEY)
                    return
            if replacing:
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    error = ApiError(413, "too_large", "the request body is larger than this route accepts"
                                     + (f" ({limit / MB:.3g} MB)" if limit else ""))
                    await send({"type": "http.response.start", "status": 413, "headers": [
                        (b"content-type", b"application/json"), (b"connection", b"close"),
                        *((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items())]})
                    await send({"type": "http.response.body", "body": json.dumps(error.body()).encode()})
                return
            await send(message)

        await self.app(scope, receive, answer)


class SecurityHeadersMiddleware:
    """The security headers on every HTTP answer; ``no-store`` on the API's."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/v1/")

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                if api and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


def _same_origin(headers: Headers, scope) -> str:
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    return f"{scheme}://{headers.get('host', '')}"


class TokenMiddleware:
    """The bearer token, on every route but ``/healthz`` (and the login form) when one is set.

    Programs send ``Authorization: Bearer <token>``; the page's browser gets a cookie
    from ``POST /login`` (``HttpOnly``, ``SameSite=Strict``, derived from the token).
    Tokens are compared in constant time. Requests that change something on the
    strength of the cookie, and every stream socket, must come from this origin
    (or one of ``origins``), whether or not a token is set.
    """

    OPEN = {"/healthz"}

    def __init__(self, app, token: str | None, origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.token = token
        self.session = session_value(token) if token else None
        self.origins = set(origins)

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        foreign = origin is not None and origin != _same_origin(headers, scope) and origin not in self.origins
        if kind == "websocket" and foreign:
            await send({"type": "websocket.close", "code": 1008, "reason": "cross-origin socket refused"})
            return
        path = scope["path"]
        if self.token is None or path in self.OPEN or (path == "/login" and scope.get("method") == "POST"):
            await self.app(scope, receive, send)
            return
        given = bearer(headers.get("authorization"))
        if given is not None:
            allowed = token_matches(given, self.token)
            by_cookie = False
        else:
            cookie = cookie_parser(headers.get("cookie", "")).get(TOKEN_COOKIE)
            allowed = token_matches(cookie, self.session)
            by_cookie = True
        if not allowed:
            await self._refuse(scope, receive, send, path)
            return
        if by_cookie and kind == "http" and scope.get("method") not in ("GET", "HEAD", "OPTIONS") and foreign:
            await self._answer(scope, receive, send, ApiError(403, "forbidden", "cross-origin request refused"))
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope, receive, send, path: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "token required"})
            return
        accept = Headers(scope=scope).get("accept", "")
        if path == "/" and scope.get("method") == "GET" and "text/html" in accept:
            response = FileResponse(STATIC / "login.html", status_code=401)
            await response(scope, receive, send)
            return
        await self._answer(scope, receive, send, ApiError(
            401, "unauthorized", "this server needs its token: send 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": 'Bearer realm="ferkit"'}))

    @staticmethod
    async def _answer(scope, receive, send, error: ApiError) -> None:
        await JSONResponse(error.body(), status_code=error.status, headers=error.headers)(scope, receive, send)
