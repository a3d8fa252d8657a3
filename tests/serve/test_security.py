"""Every limit of ``ferkit serve``: body sizes, pixels before decoding, quota, stalled
uploads, video length, download names (traversal, encoded variants, links), the token
(constant-time), origins, CORS, the bounded queue (503 + Retry-After), timeouts, headers."""

from __future__ import annotations

import re
import time

import pytest
from servetools import SINGLE, TOKEN, assert_json_error, run_server, serving, state_of, tiny_video, wait_job
from starlette.websockets import WebSocketDisconnect
from videofiles import truncated_copy, write_audio_only

import ferkit.serve.security as security
from imagefiles import astronaut, bomb_png, jpeg_bytes


def no_leftovers(client) -> bool:
    return not any(state_of(client).storage.root.iterdir())


# --- sizes ---------------------------------------------------------------------------------------

def test_oversize_upload_is_413_declared_or_streamed(tmp_path, photos_dir):
    big = jpeg_bytes(astronaut()) * 3            # ~250 kB
    with serving(tmp_path, max_upload_mb=0.1) as c:
        error = assert_json_error(c.post("/v1/analyze", content=big), 413, "too_large")
        assert "0.1 MB" in error["message"]

        def chunks():                             # no Content-Length: counted as it streams
            for i in range(0, len(big), 16384):
                yield big[i:i + 16384]

        assert_json_error(c.post("/v1/analyze", content=chunks()), 413, "too_large")
        assert_json_error(c.post("/v1/analyze", files=[("f", ("a.jpg", big))]), 413, "too_large")
        assert no_leftovers(c)
        small = (photos_dir / SINGLE).read_bytes()
        assert c.post("/v1/analyze", content=small).status_code == 200


def test_too_many_files_in_one_request(tmp_path, photos_dir):
    data = (photos_dir / SINGLE).read_bytes()
    with serving(tmp_path, max_files=2) as c:
        r = c.post("/v1/analyze", files=[("f", (f"{i}.jpg", data)) for i in range(3)])
        assert "at most 2" in assert_json_error(r, 413, "too_large")["message"]
        assert no_leftovers(c)


def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    import ferkit.imageio

    decoded = []
    real = ferkit.imageio.load_image
    monkeypatch.setattr(ferkit.imageio, "load_image", lambda *a, **k: decoded.append(1) or real(*a, **k))
    with serving(tmp_path, max_pixels=100_000) as c:
        bomb = bomb_png()                          # 200 bytes claiming 30000 x 30000 pixels
        assert len(bomb) < 300
        error = assert_json_error(c.post("/v1/analyze", content=bomb), 413, "too_large")
        assert "30000x30000" in error["message"] or "pixel" in error["message"]
        big = jpeg_bytes(astronaut())              # 512 x 512 = 262144 pixels > 100000
        error = assert_json_error(c.post("/v1/analyze", content=big), 413, "too_large")
        assert "512x512" in error["message"]
        assert decoded == [], "an image over the limit was decoded"
        assert c.post("/v1/analyze", content=jpeg_bytes(astronaut()[::2, ::2])).status_code == 200
        assert decoded == [1]


def test_quota_of_the_private_folder_is_507(tmp_path):
    with serving(tmp_path, quota_mb=0.05) as c:
        r = c.post("/v1/analyze", content=jpeg_bytes(astronaut()) * 2)
        assert_json_error(r, 507, "quota_exceeded")
        assert no_leftovers(c) and state_of(c).storage.used == 0


def test_a_stalled_upload_is_408(tmp_path):
    """A client that stops sending mid-body (slowloris) is answered 408 and its upload removed
    (a real server: the test client would read the whole body before the app sees it)."""
    import json
    import socket

    with run_server(tmp_path, "--request-timeout", "0.5", "--workers", "1") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
                         b"Content-Type: application/octet-stream\r\n\r\n" + b"\xff\xd8\xff\xe0" + b"\0" * 1000)
            started = time.monotonic()
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            waited = time.monotonic() - started
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer[:300]
        assert json.loads(body)["error"]["code"] == "upload_timeout"
        assert 0.4 < waited < 5
        leftovers = [p for p in tmp_path.glob("ferkit-serve-*/*")]
        assert leftovers == []


def test_uploads_live_in_a_private_folder(tmp_path):
    with serving(tmp_path) as c:
        root = state_of(c).storage.root
        assert root.parent == tmp_path and root.name.startswith("ferkit-serve-")
        assert root.stat().st_mode & 0o777 == 0o700
    assert not root.exists(), "the private folder outlived the server"


# --- videos -------------------------------------------------------------------------------------

def test_video_limits_and_bad_videos(tmp_path, photos_dir):
    clip = tiny_video(tmp_path / "clip.mp4", frames=15, fps=5)          # 3 s
    audio = write_audio_only(tmp_path / "audio.m4a")
    cut = truncated_copy(clip, tmp_path / "cut.mp4", 0.05)
    with serving(tmp_path, max_video_seconds=2, max_video_mb=1) as c:
        error = assert_json_error(c.post("/v1/videos", content=clip.read_bytes()), 413, "too_large")
        assert "2 s limit" in error["message"]
        assert_json_error(c.post("/v1/videos", content=(photos_dir / SINGLE).read_bytes()), 415, "unsupported_type")
        error = assert_json_error(c.post("/v1/videos?name=audio.m4a", content=audio.read_bytes()), 422)
        assert "no video stream" in error["message"] and "audio.m4a" in error["message"]
        error = assert_json_error(c.post("/v1/videos?name=cut.mp4", content=cut.read_bytes()), 422)
        assert str(state_of(c).storage.root) not in error["message"]
        assert_json_error(c.post("/v1/videos", content=b"\0" * (1024 * 1024 + 10)), 413, "too_large")
        assert no_leftovers(c)


def test_video_jobs_are_bounded(tmp_path):
    clip = tiny_video(tmp_path / "clip.mp4").read_bytes()
    with serving(tmp_path, max_jobs=1) as c:
        state = state_of(c)
        state.jobs.reserve()                       # one job's place taken
        r = c.post("/v1/videos", content=clip)
        assert_json_error(r, 503, "busy")
        assert int(r.headers["Retry-After"]) >= 1
        state.jobs.unreserve()
        assert c.post("/v1/videos?plots=0", content=clip).status_code == 202


# --- downloads ------------------------------------------------------------------------------------

TRAVERSALS = [
    "..", "../secret.txt", "..%2fsecret.txt", "%2e%2e%2fsecret.txt", "%2e%2e/%2e%2e/secret.txt",
    "..%252fsecret.txt", "%252e%252e%252fsecret.txt", "..%5csecret.txt", "..\\secret.txt",
    "%2fetc%2fpasswd", "/etc/passwd", "//etc/passwd", "frames.csv%00.png", "frames.csv/../../secret.txt",
    "upload-0000", "files", "%2e", ".%2e/.%2e/secret.txt", "secret.txt", "tracks.json%2f..%2f..%2fsecret.txt",
    "timeline_1.png/..", "..;/secret.txt", "%c0%ae%c0%ae/secret.txt", "overview.png", "FRAMES.CSV",
]


def raw_get(client, raw_path: bytes) -> tuple[int, str, bytes]:
    """GET exactly this path, as a server would receive it: percent-decoded once into
    ``path``, nothing normalised (an HTTP client would resolve the dot segments first)."""
    from urllib.parse import unquote_to_bytes

    answer: dict = {"body": b""}

    async def call() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": unquote_to_bytes(raw_path).decode("utf-8", "surrogateescape"),
                 "raw_path": raw_path, "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80)}

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["type"] = dict(message["headers"]).get(b"content-type", b"").decode()
            else:
                answer["body"] += message.get("body", b"")

        await client.app(scope, receive, send)

    client.portal.call(call)
    return answer["status"], answer["type"], answer["body"]


def test_download_names_cannot_leave_the_job_folder(tmp_path):
    with serving(tmp_path) as c:
        root = state_of(c).storage.root
        secret = "TOP-SECRET-CONTENT"
        (root / "secret.txt").write_text(secret)
        (root.parent / "secret.txt").write_text(secret)
        created = c.post("/v1/videos?plots=0&name=clip.mp4", content=tiny_video(tmp_path / "clip.mp4").read_bytes())
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        assert created.headers["Location"] == f"/v1/videos/{job_id}"
        status = wait_job(c, job_id)
        assert status["state"] == "done", status
        assert {f["name"] for f in status["files"]} == {"frames.csv", "tracks.json", "tracks.csv", "annotated.mp4"}
        # A link planted in the job folder under an allowed name is not followed.
        (root / job_id / "files" / "overview.png").symlink_to(root / "secret.txt")
        for name in TRAVERSALS:
            status, kind, body = raw_get(c, f"/v1/videos/{job_id}/{name}".encode())
            assert status == 404, (name, status, body[:200])
            assert secret.encode() not in body and b"root:" not in body, name
            assert kind.startswith("application/json"), name
        for job in ("..", "..%2f..", "%2e%2e", job_id.upper(), job_id[:-1], "0" * 32, f"{job_id}%2f.."):
            status, _, body = raw_get(c, f"/v1/videos/{job}/frames.csv".encode())
            assert status == 404 and secret.encode() not in body, job
        ok = c.get(f"/v1/videos/{job_id}/frames.csv")
        assert ok.status_code == 200 and ok.text.startswith("frame,time,track")


def test_no_server_path_in_any_answer_or_file(tmp_path):
    with serving(tmp_path) as c:
        root = str(state_of(c).storage.root)
        created = c.post("/v1/videos?plots=0", files=[("video", ("holiday clip.mp4", tiny_video(tmp_path / "c.mp4").read_bytes()))])
        job_id = created.json()["id"]
        status = wait_job(c, job_id)
        assert root not in created.text and root not in str(status) and str(tmp_path) not in str(status)
        tracks = c.get(f"/v1/videos/{job_id}/tracks.json").json()
        assert tracks["source"] == tracks["info"]["source"] == "holiday clip.mp4"
        assert set(tracks["outputs"]) == set(tracks["outputs"].values())      # names, not paths
        assert not list((state_of(c).storage.root / job_id).glob("upload-*")), "the upload outlived its job"


# --- the token ----------------------------------------------------------------------------------

def test_without_a_token_everything_is_open(client):
    assert client.get("/v1/models").status_code == 200
    assert client.get("/").status_code == 200


def test_token_required_everywhere_but_healthz(tmp_path, photos_dir, monkeypatch):
    compared = []
    real = security.hmac.compare_digest
    monkeypatch.setattr(security.hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    data = (photos_dir / SINGLE).read_bytes()
    with serving(tmp_path, token=TOKEN) as c:
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/healthz").status_code == 200
        for method, path in (("GET", "/readyz"), ("GET", "/v1/models"), ("POST", "/v1/analyze"), ("GET", "/openapi.json"),
                             ("GET", "/docs"), ("GET", "/static/app.js"), ("GET", "/v1/videos/" + "0" * 32),
                             ("GET", "/nope")):
            for headers in ({}, {"Authorization": f"Bearer {TOKEN[:-1]}x"}, {"Authorization": "Bearer "},
                            {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}{TOKEN}"}):
                r = c.request(method, path, headers=headers, content=data if method == "POST" else None)
                assert_json_error(r, 401, "unauthorized")
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert compared, "tokens were not compared with hmac.compare_digest"
        assert c.get("/v1/models", headers=good).status_code == 200
        assert c.post("/v1/analyze", content=data, headers=good).status_code == 200
        with pytest.raises(WebSocketDisconnect):
            with c.websocket_connect("/v1/stream") as ws:
                ws.receive_json()
        with c.websocket_connect("/v1/stream", headers=good) as ws:
            assert ws.receive_json()["type"] == "ready"


def test_browser_login_sets_a_strict_cookie(tmp_path):
    with serving(tmp_path, token=TOKEN) as c:
        page = c.get("/", headers={"Accept": "text/html"})
        assert page.status_code == 401 and '<form method="post" action="/login">' in page.text
        assert c.post("/login", data={"token": "wrong-token-wrong-token"}, follow_redirects=False).status_code == 401
        r = c.post("/login", data={"token": TOKEN}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        assert c.get("/").status_code == 200 and c.get("/v1/models").status_code == 200
        # A cookie-authenticated change from another origin is refused.
        r = c.post("/v1/analyze", content=b"x", headers={"Origin": "https://evil.example"})
        assert_json_error(r, 403, "forbidden")
        c.cookies.clear()
        assert c.get("/v1/models").status_code == 401


def test_cross_origin_sockets_are_refused(client):
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/v1/stream", headers={"Origin": "https://evil.example"}) as ws:
            ws.receive_json()
    with client.websocket_connect("/v1/stream", headers={"Origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "ready"


@pytest.mark.parametrize("token", ["short", "x" * 15, "with space in the middle!", "tökén-tökén-tökén-tökén"])
def test_weak_tokens_are_refused(token):
    from ferkit.errors import UsageError
    from ferkit.serve import ServeSettings

    with pytest.raises(UsageError, match="at least 16 printable ASCII"):
        ServeSettings(token=token)


# --- CORS and headers ------------------------------------------------------------------------------

def test_cors_is_off_unless_configured(client, tmp_path):
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    r = client.options("/v1/analyze", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/v1/models", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in r.headers
    with serving(tmp_path, cors_origins=("https://app.example",), token=TOKEN) as c:
        r = c.options("/v1/analyze", headers=preflight)
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
        r = c.options("/v1/analyze", headers={**preflight, "Origin": "https://other.example"})
        assert r.headers.get("access-control-allow-origin") != "https://other.example"


def test_security_headers_and_a_page_without_inline_script(client):
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    for page in ("/", "/docs", "/static/login.html"):
        html = client.get(page).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script in {page}"
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler in {page}"
        assert not re.search(r"\sstyle\s*=", html) and "<style" not in html, f"inline style in {page}"
        assert not re.search(r"(src|href)=\"(https?:)?//", html), f"external resource in {page}"
    api = client.get("/v1/models")
    assert api.headers["cache-control"] == "no-store" and api.headers["x-content-type-options"] == "nosniff"


# --- load ---------------------------------------------------------------------------------------------

def test_a_full_queue_answers_503_with_retry_after(tmp_path, photos_dir):
    data = (photos_dir / SINGLE).read_bytes()
    with serving(tmp_path, workers=1, queue=1) as c:
        pool = state_of(c).pool
        held = [pool.reserve(), pool.reserve()]      # one running, one waiting: the pool is full
        r = c.post("/v1/analyze", content=data)
        error = assert_json_error(r, 503, "busy")
        assert int(r.headers["Retry-After"]) >= 1 and "busy" in error["message"]
        assert pool.rejected == 1 and no_leftovers(c)
        held.pop().release()
        assert c.post("/v1/analyze", content=data).status_code == 200
        held.pop().release()
        assert pool.in_use == 0


def test_a_slow_analysis_is_504_and_frees_its_place(tmp_path, photos_dir, monkeypatch):
    with serving(tmp_path, workers=1, queue=0, request_timeout=0.5) as c:
        analyzer = state_of(c).models.get()
        real = analyzer.detect
        monkeypatch.setattr(analyzer, "detect", lambda image: time.sleep(1.5) or real(image))
        assert_json_error(c.post("/v1/analyze", content=(photos_dir / SINGLE).read_bytes()), 504, "timeout")
        deadline = time.monotonic() + 5
        # the abandoned analysis ends in the background: its place, then its upload, are freed
        while (state_of(c).pool.in_use or not no_leftovers(c)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state_of(c).pool.in_use == 0 and no_leftovers(c)
