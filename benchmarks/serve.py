"""``ferkit serve`` under load: many concurrent clients posting a photo to ``/v1/analyze``.

    python benchmarks/serve.py [--clients 50] [--seconds 60] [--photo PATH] [--workers N] [--queue N]

Starts ``ferkit serve`` on a free loopback port (nothing leaves the machine), waits
until ``/readyz`` answers, warms it up, then runs ``--clients`` clients for
``--seconds``: each posts the photo (default ``../shared/data/photos/fer_justin.jpg``,
one face) as a raw body and, as soon as the answer is in, posts again; a client
answered ``503`` waits 100 ms (not the server's ``Retry-After``: the point is to
keep the queue full and see the server shed the load). Prints requests per second
(all answers, and those analysed), latency percentiles (p50/p95/p99 of analysed
requests, and of the 503s), answers by status, and the server's resident memory
before the load, at its peak and after it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO.parent / "shared" / "data" / "photos" / "fer_justin.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def client(url: str, body: bytes, stop: float, latencies: dict, statuses: Counter) -> None:
    async with httpx.AsyncClient(timeout=120) as http:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                r = await http.post(url, content=body, headers={"Content-Type": "application/octet-stream"})
                status = r.status_code
            except httpx.HTTPError as e:
                status = type(e).__name__
            took = time.perf_counter() - started
            statuses[status] += 1
            latencies.setdefault(status, []).append(took)
            if status == 503:
                await asyncio.sleep(0.1)


async def load(url: str, body: bytes, clients: int, seconds: float, pid: int) -> tuple[dict, Counter, float, float]:
    latencies: dict = {}
    statuses: Counter = Counter()
    peak = rss_mb(pid)
    stop = time.monotonic() + seconds
    started = time.perf_counter()
    tasks = [asyncio.create_task(client(url, body, stop, latencies, statuses)) for _ in range(clients)]
    while not all(t.done() for t in tasks):
        await asyncio.sleep(0.5)
        peak = max(peak, rss_mb(pid))
    await asyncio.gather(*tasks)
    return latencies, statuses, time.perf_counter() - started, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--photo", type=Path, default=PHOTO)
    parser.add_argument("--workers", type=int, default=None, help="ferkit serve --workers (default: its own)")
    parser.add_argument("--queue", type=int, default=None, help="ferkit serve --queue (default: its own)")
    args = parser.parse_args()
    body = args.photo.read_bytes()
    port = free_port()
    options = [f"--{k}={v}" for k, v in (("workers", args.workers), ("queue", args.queue)) if v is not None]
    with tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "server.log", "wb")
        server = subprocess.Popen([sys.executable, "-c", "from ferkit.cli import main; main()", "serve",
                                   "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *options],
                                  stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": tmp})
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    ready = httpx.get(f"{base}/readyz", timeout=2)
                    if ready.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"ferkit serve did not start: {(Path(tmp) / 'server.log').read_text()[-2000:]}")
                time.sleep(0.2)
            info = ready.json()["analyses"]
            for _ in range(5):   # warm-up: first inferences, allocator pools
                httpx.post(f"{base}/v1/analyze", content=body, timeout=60).raise_for_status()
            before = rss_mb(server.pid)
            latencies, statuses, wall, peak = asyncio.run(
                load(f"{base}/v1/analyze", body, args.clients, args.seconds, server.pid))
            time.sleep(1.0)
            after = rss_mb(server.pid)
            ready_after = httpx.get(f"{base}/readyz", timeout=5).json()["analyses"]
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()

    total = sum(statuses.values())
    ok = latencies.get(200, [])
    busy = latencies.get(503, [])
    print(f"ferkit serve /v1/analyze: {args.clients} clients for {args.seconds:g} s on {os.cpu_count()} cores, "
          f"photo {args.photo.name} ({len(body) / 1024:.0f} kB); server: {info['workers']} analyses at a time, "
          f"{info['queue']} waiting")
    print(f"  answers       {total} in {wall:.1f} s = {total / wall:.1f}/s; analysed (200) {len(ok)} = {len(ok) / wall:.1f}/s")
    print(f"  latency 200   p50 {percentile(ok, 50) * 1000:.0f} ms  p95 {percentile(ok, 95) * 1000:.0f} ms  "
          f"p99 {percentile(ok, 99) * 1000:.0f} ms  (mean {statistics.fmean(ok) * 1000 if ok else float('nan'):.0f} ms)")
    if busy:
        print(f"  latency 503   p50 {percentile(busy, 50) * 1000:.1f} ms  p95 {percentile(busy, 95) * 1000:.1f} ms  "
              f"p99 {percentile(busy, 99) * 1000:.1f} ms  (shed before the body was read)")
    print("  by status     " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))))
    print(f"  server RSS    before {before:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB "
          f"(change {after - before:+.0f} MB); in use after the run: {ready_after['in_use']}")


if __name__ == "__main__":
    main()
