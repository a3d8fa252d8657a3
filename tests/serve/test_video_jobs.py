"""Video jobs: a real clip uploaded, analysed in the background, its files served, the job
cancelled, deleted or expired."""

from __future__ import annotations

import csv
import io
import json
import time

import av
import pytest
from PIL import Image
from servetools import SHORTEST_CLIP, serving, state_of, tiny_video, wait_job


@pytest.mark.slow
def test_a_real_clip_end_to_end(tmp_path, videos_dir):
    clip = videos_dir / SHORTEST_CLIP
    with serving(tmp_path, workers=2) as c:
        r = c.post("/v1/videos?fps=5", files=[("video", (SHORTEST_CLIP, clip.read_bytes(), "video/quicktime"))])
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["state"] in ("queued", "running") and job["name"] == SHORTEST_CLIP
        assert job["info"]["width"] == 960 and job["info"]["codec"] == "hevc"
        seen_running = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:      # polled by new requests: the job does not need its creator
            status = c.get(f"/v1/videos/{job['id']}").json()
            if status["state"] == "running" and status["progress"]["frames"]:
                seen_running.append(status["progress"])
            if status["state"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.2)
        assert status["state"] == "done", status
        assert status["error"] is None
        progress = status["progress"]
        assert progress["frames"] == status["result"]["frames_decoded"] >= 160
        assert progress["fraction"] == 1.0 and progress["fps"] > 0
        if seen_running:
            p = seen_running[-1]
            assert 0 < p["frames"] <= p["total"] and p["eta"] is not None and p["eta"] >= 0
        result = status["result"]
        assert result["source"] == SHORTEST_CLIP and result["complete"] is True
        assert 28 <= result["frames_analysed"] <= 36                # 6.4 s at 5 frames a second
        assert len(result["tracks"]) >= 1 and result["tracks"][0]["dominant"] in result["labels"]
        files = {f["name"]: f for f in status["files"]}
        assert {"frames.csv", "tracks.json", "tracks.csv", "annotated.mp4", "overview.png"} <= set(files)
        assert any(name.startswith("timeline_") for name in files)

        frames = c.get(files["frames.csv"]["url"])
        assert frames.status_code == 200 and frames.headers["content-disposition"].startswith("attachment")
        rows = list(csv.DictReader(io.StringIO(frames.text)))
        assert len({r["frame"] for r in rows}) == result["frames_analysed"]
        tracks = c.get(files["tracks.json"]["url"]).json()
        assert tracks["tracks"] == result["tracks"]
        video = c.get(files["annotated.mp4"]["url"])
        assert video.headers["content-type"] == "video/mp4" and len(video.content) == files["annotated.mp4"]["bytes"]
        ranged = c.get(files["annotated.mp4"]["url"], headers={"Range": "bytes=0-99"})
        assert ranged.status_code == 206 and len(ranged.content) == 100     # the page's player seeks
        path = tmp_path / "annotated.mp4"
        path.write_bytes(video.content)
        with av.open(str(path)) as container:
            decoded = sum(1 for _ in container.decode(video=0))
        assert decoded == result["frames_decoded"]
        chart = c.get(files["overview.png"]["url"])
        assert Image.open(io.BytesIO(chart.content)).size[0] > 100

        folder = state_of(c).storage.root / job["id"]
        assert folder.is_dir() and not list(folder.glob("upload-*"))
        assert c.delete(f"/v1/videos/{job['id']}").status_code == 204
        assert not folder.exists()
        assert c.get(f"/v1/videos/{job['id']}").status_code == 404
        assert c.get(files["frames.csv"]["url"]).status_code == 404


@pytest.mark.slow
def test_a_running_job_is_cancelled_by_delete(tmp_path, videos_dir):
    clip = videos_dir / "facerec_short_hamilton_clip.mp4"
    with serving(tmp_path) as c:
        job = c.post("/v1/videos?name=hamilton.mp4", content=clip.read_bytes()).json()
        deadline = time.monotonic() + 60
        while c.get(f"/v1/videos/{job['id']}").json()["progress"]["frames"] < 5:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert c.delete(f"/v1/videos/{job['id']}").status_code == 204
        assert c.get(f"/v1/videos/{job['id']}").status_code == 404
        jobs = state_of(c).jobs
        deadline = time.monotonic() + 30
        while (jobs.active() or (state_of(c).storage.root / job["id"]).exists()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert jobs.active() == 0 and not (state_of(c).storage.root / job["id"]).exists()
        assert state_of(c).storage.used == 0


def test_a_queued_job_deleted_never_runs(tmp_path):
    clip = tiny_video(tmp_path / "clip.mp4").read_bytes()
    with serving(tmp_path, video_workers=1) as c:
        jobs = state_of(c).jobs
        gate = jobs._executor.submit(time.sleep, 1.5)        # the one video worker is busy
        job = c.post("/v1/videos?plots=0", content=clip).json()
        assert c.get(f"/v1/videos/{job['id']}").json()["state"] == "queued"
        assert c.delete(f"/v1/videos/{job['id']}").status_code == 204
        assert not (state_of(c).storage.root / job["id"]).exists()
        gate.result()
        assert jobs.active() == 0


def test_finished_jobs_expire_with_their_files(tmp_path):
    with serving(tmp_path, job_ttl=0.5) as c:
        job = c.post("/v1/videos?plots=0", content=tiny_video(tmp_path / "clip.mp4").read_bytes()).json()
        assert wait_job(c, job["id"])["state"] == "done"
        folder = state_of(c).storage.root / job["id"]
        deadline = time.monotonic() + 10
        while folder.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not folder.exists() and c.get(f"/v1/videos/{job['id']}").status_code == 404
        assert state_of(c).storage.used == 0


def test_a_tiny_job_and_its_outputs(tmp_path):
    with serving(tmp_path) as c:
        job = c.post("/v1/videos?every=2&smoothing=window:3&min_track_frames=1",
                     content=tiny_video(tmp_path / "clip.mp4", frames=8).read_bytes()).json()
        status = wait_job(c, job["id"])
        assert status["state"] == "done", status
        assert status["result"]["frames_analysed"] == 4 and status["result"]["settings"]["smoothing"] == "window:3"
        assert status["result"]["tracks"] and status["result"]["tracks"][0]["frames"] == 4
        names = {f["name"] for f in status["files"]}
        assert {"frames.csv", "tracks.json", "annotated.mp4", "overview.png", "timeline_1.png"} <= names
        assert json.loads(c.get(f"/v1/videos/{job['id']}/tracks.json").text)["frames_analysed"] == 4
        early = c.post("/v1/videos?plots=0", content=tiny_video(tmp_path / "c2.mp4").read_bytes()).json()
        r = c.get(f"/v1/videos/{early['id']}/frames.csv")
        assert r.status_code in (200, 409)      # 409 while it runs: files are served once it has ended
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "not_ready"


def test_charts_name_the_clients_file(tmp_path, monkeypatch):
    import ferkit.video.plots as plots

    titles = []
    real = plots.plot_overview
    monkeypatch.setattr(plots, "plot_overview", lambda result, path: titles.append(result.source) or real(result, path))
    with serving(tmp_path) as c:
        job = c.post("/v1/videos?name=my%20clip.mp4", content=tiny_video(tmp_path / "c.mp4").read_bytes()).json()
        status = wait_job(c, job["id"])
    assert status["state"] == "done" and "overview.png" in {f["name"] for f in status["files"]}
    assert titles == ["my clip.mp4"]
