"""Helpers for the ``ferkit serve`` tests: apps under test (FastAPI's TestClient), a real
server on a free loopback port, and the photos and clips they get. A module of its own
(not conftest) so that ``from servetools import ...`` names one file whatever else pytest
collected first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="ferkit serve needs the serve extra: pip install 'ferkit[serve]'")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))   # videofiles

from fastapi.testclient import TestClient  # noqa: E402
from videofiles import write_video  # noqa: E402

from ferkit.serve import ServeSettings, create_app  # noqa: E402
from imagefiles import astronaut  # noqa: E402

TOKEN = "test-token-0123456789abcdef"
SINGLE = "fer_justin.jpg"            # faces.csv: 1 face
GROUP = "facerec_two_people.jpg"     # faces.csv: 2 faces
SHORTEST_CLIP = "pyfeat_face_noface.mov"   # 6.4 s, the shortest of ../shared/data/videos


def wait_ready(client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get("/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
        if r.status_code == 200:
            return
        assert r.status_code in (503, 401), r.text
        time.sleep(0.1)
    raise AssertionError("the server did not get ready")


@contextmanager
def serving(tmp_path: Path, **settings):
    """A TestClient over a fresh app (lifespan run, models loaded) with these settings."""
    settings.setdefault("workers", 1)
    settings.setdefault("temp_dir", tmp_path)
    app = create_app(ServeSettings(**settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        wait_ready(client)
        yield client


def state_of(client):
    return client.app.state.ferkit


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    """The answer is ``status`` with ferkit's JSON error body, and no traceback anywhere."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "Traceback" not in response.text and 'File "' not in response.text
    error = response.json()["error"]
    assert error["status"] == status and error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def tiny_video(path: Path, frames: int = 6, fps: int = 5):
    face = astronaut()[20:220, 140:340]
    images = [np.ascontiguousarray(np.roll(face, 4 * i, axis=1)[::2, ::2]) for i in range(frames)]
    return write_video(path, images, fps=fps)


def wait_job(client, job_id: str, timeout: float = 60.0, headers=None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/v1/videos/{job_id}", headers=headers).json()
        if status["state"] in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end: {status}")


# --- a real server ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log
        self.url = f"http://127.0.0.1:{port}"


@contextmanager
def run_server(tmp_path: Path, *args: str, timeout: float = 90.0):
    """``ferkit serve`` in its own process on a free loopback port, ready when it returns."""
    import httpx

    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("FERKIT_TOKEN", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from ferkit.cli import main; main()",
                                 "serve", "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server(proc, port, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"ferkit serve exited {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"ferkit serve not ready: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
