"""Image-pipeline speed on this machine: detector, classifier, end to end.

    python benchmarks/pipeline.py [--threads N] [--folder DIR]

Prints detector ms per image at 640x480 and 1920x1080, classifier ms per face at
batch 1 and 16, end-to-end ms for a 640x480 photo with one face, and images per
second over a folder of real photos (../shared/data/photos by default).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table
from skimage import data

from ferkit.analyzer import Analyzer
from ferkit.imageio import is_image_path, load_image

REPO = Path(__file__).resolve().parents[1]


def timed(fn, repeat: int, warmup: int = 2) -> float:
    """Median seconds of ``repeat`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def one_face_photo(width: int, height: int) -> np.ndarray:
    """The astronaut (one face) letterboxed to ``width`` x ``height``."""
    img = data.astronaut()
    scale = min(width / img.shape[1], height / img.shape[0])
    img = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 127, np.uint8)
    y, x = (height - img.shape[0]) // 2, (width - img.shape[1]) // 2
    canvas[y:y + img.shape[0], x:x + img.shape[1]] = img
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--folder", type=Path, default=REPO.parent / "shared" / "data" / "photos")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    an = Analyzer(threads=args.threads)
    rows = []
    for w, h in ((640, 480), (1920, 1080)):
        img = one_face_photo(w, h)
        rows.append((f"detector ({an.detector.name}), {w}x{h}", timed(lambda img=img: an.detect(img), args.repeat) * 1e3, "ms / image"))
    face = an.align(data.astronaut(), an.detect(data.astronaut())[0])
    for batch in (1, 16):
        crops = np.stack([face] * batch)
        t = timed(lambda crops=crops: an.classifier.predict(crops), args.repeat)
        rows.append((f"classifier, batch {batch}", t / batch * 1e3, "ms / face"))
    img = one_face_photo(640, 480)
    rows.append(("end to end, 640x480 with one face", timed(lambda: an.analyze(img), args.repeat) * 1e3, "ms / image"))

    files = sorted(p for p in args.folder.glob("*") if is_image_path(p)) if args.folder.is_dir() else []
    if files:
        t = time.perf_counter()
        n_faces = sum(len(r.faces) for r in an.analyze_files(files))
        dt = time.perf_counter() - t
        rows.append((f"end to end, folder of {len(files)} photos ({n_faces} faces, decode included)",
                     len(files) / dt, "images / s"))
        decoded = [load_image(p) for p in files]
        t = time.perf_counter()
        for img in decoded:
            an.analyze(img)
        rows.append(("  same photos, already decoded", len(files) / (time.perf_counter() - t), "images / s"))

    table = Table(title=f"ferkit pipeline on this machine ({os.cpu_count()} cores, {args.threads} threads, "
                        f"model {an.card.name} {an.card.architecture})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for name, value, unit in rows:
        table.add_row(name, f"{value:.2f}", unit)
    Console().print(table)


if __name__ == "__main__":
    main()
