"""The Ray engine on a real two-node cluster (``ray start`` on loopback, one CPU per
node): the local engine's records, record for record; resuming a run another
engine began; videos as tasks; a worker killed mid-run (last: the cluster
takes a while to settle after it)."""

from __future__ import annotations

import csv
import os
import signal
import threading
import time

import pytest
from batchsetup import OPTIONS
from typer.testing import CliRunner

from ferkit.batch import load_records, read_log, run_batch, video_options_for_batch
from ferkit.cli import app
from ferkit.video import VideoOptions

pytestmark = pytest.mark.slow
runner = CliRunner()


def _key(record: dict):
    return record["file"], -1 if record["face"] is None else record["face"]


def _records(out) -> list[dict]:
    return sorted(load_records(out), key=_key)


@pytest.fixture(scope="module")
def inputs(mixed_folder):
    # A folder (photos, broken files, a name that is not UTF-8) and a file:// URI of a folder.
    return [str(mixed_folder), f"file://{mixed_folder}/bad"]


@pytest.fixture(scope="module")
def local_run(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    return run_batch(inputs, out, options=OPTIONS), _records(out)


def test_ray_records_equal_the_local_engines(ray_cluster, inputs, local_run, tmp_path):
    local, expected = local_run
    report = run_batch(inputs, tmp_path / "out", engine="ray", address=ray_cluster.address,
                       options=OPTIONS, batch_size=2, part_size=4)
    assert _records(tmp_path / "out") == expected
    assert (report.planned, report.analysed, report.failed, report.faces, report.unprocessed) == (
        local.planned, local.analysed, local.failed, local.faces, [])
    assert report.failed == 8 and any("caf\\udce9" in r["file"] for r in expected)
    assert any(r["file"].startswith("file://") and r["error"] for r in expected)


def test_a_ray_run_resumes_a_local_one(ray_cluster, mixed_folder, inputs, local_run, tmp_path):
    out = tmp_path / "out"
    begun = run_batch([mixed_folder / "bad"], out, options=OPTIONS)
    result = runner.invoke(app, ["batch", *inputs, "--out", str(out), "--engine", "ray",
                                 "--address", ray_cluster.address, "--detect-size", "320",
                                 "--threads", "1", "-q"])
    assert result.exit_code == 1, result.output   # the broken files failed (in this run or before)
    assert _records(out) == local_run[1]
    log = read_log(out)
    assert sum(len(e["inputs"]) for e in log) == local_run[0].planned
    assert set(log[0]["inputs"]) == {str(p) for p in (mixed_folder / "bad").iterdir()} and begun.ok is False


def test_videos_run_as_ray_tasks(ray_cluster, mixed_folder, tmp_path):
    clips = mixed_folder / "clips"
    options = video_options_for_batch(VideoOptions(fps=1.0))
    local = run_batch([clips], tmp_path / "local", kind="videos", options=OPTIONS, video=options)
    remote = run_batch([clips], tmp_path / "ray", kind="videos", engine="ray",
                       address=ray_cluster.address, options=OPTIONS, video=options)
    assert (remote.analysed, remote.failed, remote.tracks) == (local.analysed, local.failed, local.tracks)
    for folder in ("facerec_short_hamilton_clip.mp4", "pyfeat_face_noface.mov"):
        for file in ("frames.csv", "tracks.csv"):
            assert (tmp_path / "ray" / folder / file).read_text() == (tmp_path / "local" / folder / file).read_text()

    def table(out):
        with open(out / "summaries.csv", newline="") as f:
            return list(csv.reader(f))

    assert table(tmp_path / "ray") == table(tmp_path / "local") and len(table(tmp_path / "ray")) > 3


def test_a_worker_killed_mid_run_still_gives_complete_results(ray_cluster, many_photos, tmp_path):
    expected_run = run_batch([many_photos], tmp_path / "local", options=OPTIONS)
    out = tmp_path / "ray"
    finished: dict = {}

    def run() -> None:
        try:
            finished["report"] = run_batch([many_photos], out, engine="ray", address=ray_cluster.address,
                                           options=OPTIONS, batch_size=2, part_size=2)
        except BaseException as e:  # noqa: BLE001 - reported by the test below
            finished["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    killed, deadline = None, time.monotonic() + 120
    while killed is None and thread.is_alive() and time.monotonic() < deadline:
        actors = ray_cluster.processes("ray::MapWorker")
        if actors and len(read_log(out)) >= 2:   # analysing: some results are written, most are not
            killed = actors[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    written_when_killed = len(read_log(out))
    thread.join(240)
    assert killed is not None, "the run ended before a worker could be killed"
    assert written_when_killed < expected_run.planned / 2
    assert "error" not in finished, finished.get("error")
    report = finished["report"]
    assert (report.analysed, report.failed, report.unprocessed) == (expected_run.planned, 0, [])
    assert _records(out) == _records(tmp_path / "local")
