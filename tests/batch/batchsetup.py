"""What the batch tests share: analyzer options, the photos and clips they use, and a
two-node Ray cluster on loopback that the tests start and stop."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from ferkit.analyzer import AnalyzerOptions

# Small real photos (fast to analyse): faces, several faces, no face.
PHOTOS = ("fer_justin.jpg", "fer_no-faces.jpg", "pyfeat_0-f1-su-ph.jpg", "pyfeat_45-m7-di-ph.jpg",
          "retina_img11.jpg", "rmn_test_image.png", "wujie_images_2.jpg", "pyfeat_angry_black.jpg")
CLIPS = ("facerec_short_hamilton_clip.mp4", "pyfeat_face_noface.mov")

# Detection at 320 px: the same for every engine, and quick on two cores.
OPTIONS = AnalyzerOptions(detect_size=320, threads=1)


# --- a Ray cluster of two nodes on loopback ------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pids: list[int]) -> list[int]:
    """Every process below ``pids`` (from /proc), children first found first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class RayCluster:
    """A head and a worker node started with ``ray start --block`` (one CPU each) on
    loopback; every process of the cluster descends from those two."""

    def __init__(self) -> None:
        self.temp = tempfile.mkdtemp(prefix="fkray")   # short: Ray's socket paths must fit
        self.address = f"127.0.0.1:{_free_port()}"
        # Token authentication (Ray turns it on by itself once ~/.ray/auth_token exists,
        # and a driver must then present the token): on, with a token of this cluster's.
        self.auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
        self._saved_env = {k: os.environ.get(k) for k in self.auth}
        os.environ.update(self.auth)   # for the driver, this process: before Ray reads its config
        import ray

        self.ray = ray
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
        self.nodes: list[subprocess.Popen] = []
        started = time.perf_counter()
        try:
            self._start("--head", "--port", self.address.rsplit(":", 1)[1], "--temp-dir", self.temp,
                        "--include-dashboard", "false")
            self._wait_head()
            self._start("--address", self.address)
            ray.init(address=self.address, logging_level="WARNING", log_to_driver=False)
            self._wait_nodes(2)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started

    def _start(self, *args: str) -> None:
        ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
        self.nodes.append(subprocess.Popen(
            [ray_bin, "start", *args, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
             "--object-store-memory", str(100 * 2**20), "--disable-usage-stats", "--block"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def _wait_head(self, timeout: float = 120.0) -> None:
        """Wait for the head's GCS port to answer (connecting earlier can fail the connection)."""
        host, port = self.address.rsplit(":", 1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection((host, int(port)), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.nodes[0].poll() is not None:
                    raise RuntimeError("the Ray head node did not start") from None
                time.sleep(0.2)

    def _wait_nodes(self, count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(n["Alive"] for n in self.ray.nodes()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray cluster did not reach {count} nodes in {timeout:.0f} s")
            time.sleep(0.5)

    def processes(self, title: str) -> list[int]:
        """Processes of this cluster whose title starts with ``title`` (e.g. ``ray::MapWorker``)."""
        found = []
        for pid in _descendants([n.pid for n in self.nodes]):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f.read().startswith(title.encode()):
                        found.append(pid)
            except OSError:
                continue
        return found

    def stop(self) -> None:
        """Kill the cluster's processes, by their ids (all of them were started here;
        ``ray start --block`` can take many seconds to stop them itself)."""
        self.ray.shutdown()
        for pid in _descendants([node.pid for node in self.nodes]):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for node in self.nodes:
            node.kill()
            node.wait()
        shutil.rmtree(self.temp, ignore_errors=True)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
