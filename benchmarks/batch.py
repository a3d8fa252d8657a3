"""``ferkit batch`` on this machine: images per second with the local engine and with
Ray, and what Ray costs per image and per run.

    python benchmarks/batch.py [--photos DIR] [--copies K] [--detect-size S] [--workers N]

The images are the shared photos (``../shared/data/photos``), each written ``K``
times (default 2) as a distinct file (cut by a row and re-encoded) into a
temporary folder. Rows:

- ``plain loop``: ``Analyzer.analyze_files``, what ``ferkit analyze`` runs;
- ``batch local``: ``run_batch(engine="local")`` with 1 and ``--workers`` threads;
- ``batch ray``: ``run_batch(engine="ray")`` on a local Ray instance started for
  the benchmark (``ray.init``, all CPUs; its start-up is timed on its own).

Each is run on half the images and on all of them, so that the time splits into
a fixed part (per run: model loads, Ray's dataset and actor start-up) and a part
per image (the slope); Ray's overhead per image is its slope minus the plain
loop's. On one small machine Ray is expected to be slower than a plain loop: its
point is the cluster. Everything runs in this process, one configuration at a
time, on a machine that may be shared: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos"


def make_images(photos: Path, copies: int, folder: Path) -> list[Path]:
    import io

    from PIL import Image

    from ferkit.imageio import IMAGE_SUFFIXES, load_image

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for path in sorted(p for p in photos.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        rgb = load_image(path)
        for k in range(copies):
            buffer = io.BytesIO()
            Image.fromarray(rgb[: rgb.shape[0] - k]).save(buffer, "JPEG", quality=92)
            target = folder / f"{path.stem}_{k}.jpg"
            target.write_bytes(buffer.getvalue())
            files.append(target)
    return files


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--detect-size", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not args.photos.is_dir():
        sys.exit(f"no photos at {args.photos} (the repository's sibling ../shared/data)")

    from ferkit.analyzer import Analyzer, AnalyzerOptions
    from ferkit.batch import run_batch

    options = AnalyzerOptions(detect_size=args.detect_size)
    work = Path(tempfile.mkdtemp(prefix="ferkit-bench-batch-"))
    try:
        files = make_images(args.photos, args.copies, work / "images")
        sizes = (len(files) // 2, len(files))
        halves = {n: work / f"set{n}" for n in sizes}
        for n, folder in halves.items():
            folder.mkdir()
            for f in files[:n]:
                os.link(f, folder / f.name)

        def plain(n: int) -> float:
            def run():
                analyzer = Analyzer.from_options(options)
                for _ in analyzer.analyze_files(sorted(halves[n].iterdir())):
                    pass
            return timed(run)

        def batch(n: int, engine: str, workers: int | None = None) -> float:
            out = work / f"out-{engine}-{workers}-{n}"
            return timed(lambda: run_batch([halves[n]], out, engine=engine, options=options,
                                           workers=workers))

        rows = []
        rows.append(("plain loop (ferkit analyze)", {n: plain(n) for n in sizes}))
        rows.append(("batch local, 1 worker", {n: batch(n, "local") for n in sizes}))
        rows.append((f"batch local, {args.workers} workers", {n: batch(n, "local", args.workers)
                                                              for n in sizes}))
        import ray

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray_start = timed(lambda: ray.init(include_dashboard=False, logging_level="ERROR",
                                           log_to_driver=False))
        cpus = int(ray.cluster_resources().get("CPU", 1))
        try:
            rows.append((f"batch ray, {cpus} actors", {n: batch(n, "ray") for n in sizes}))
        finally:
            ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    small, large = sizes
    print(f"ferkit batch: {large} images ({large // args.copies} shared photos x {args.copies}), "
          f"detect size {args.detect_size or 'default'}, {os.cpu_count()} CPUs")
    print(f"{'':32} {'images/s':>9} {'per image':>10} {'per run':>9} {'overhead/image':>15}")
    base_slope = None
    for name, t in rows:
        slope = (t[large] - t[small]) / (large - small)
        fixed = t[large] - slope * large
        base_slope = slope if base_slope is None else base_slope
        print(f"{name:32} {large / t[large]:9.1f} {slope * 1000:8.1f}ms {fixed:8.1f}s "
              f"{(slope - base_slope) * 1000:+13.1f}ms")
    print(f"Ray start-up (ray.init, local instance): {ray_start:.1f} s, not in the rows above")
    print("images/s over all the images, start-up included; per image: the slope between the two "
          "sizes; per run: the rest (model loads, actors, dataset start-up)")


if __name__ == "__main__":
    main()
