"""Image-pipeline speed on this machine, ferkit now against ferkit before and `fer`.

    python benchmarks/pipeline.py [--threads N] [--folder DIR] [--rounds R] [--fer-path DIR]
                                  [--accuracy-samples N] [--also-model NAME]

Every figure is measured in one run, "now" (``fast=True``: coarse-to-fine
detection, decoding and detection overlapped with classification) against
"before" (``fast=False``: the single full-size detection pass, one stage at a
time), in interleaved rounds whose medians are compared, so that a machine
shared with other work slows both alike:

- a 640x480 photo with one face (decode excluded, library defaults), ms, and
  the time ratio to ``fer``'s default pipeline (OpenCV Haar cascade and its
  93 KB TensorFlow Lite CNN, ``FER().detect_emotions``). ``fer`` runs in a
  child process whose ``PYTHONPATH`` starts with ``--fer-path`` (default
  ``$FERKIT_FER_PATH``): ``pip install --no-deps --target DIR fer==25.10.3
  ai-edge-litert opencv-contrib-python-headless`` gives it without TensorFlow
  (TensorFlow Lite through ai-edge-litert; OpenCV 5 keeps the Haar cascade in
  contrib). Without it that row says so.
- images per second over the shared photos (decode included), now and before;
- face counts on the shared photos against ``faces.csv``, and the crowds;
- accuracy of the default model through the pipeline (detect, align, classify)
  on labelled faces placed in 640x480 frames (FER2013 PrivateTest and
  BU-3DFE/Bosphorus from ../shared/data), now and before, with the faces
  each path alone gets right;
- the detector at 640x480 and 1920x1080 and the classifier per face.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table
from skimage import data

from ferkit.analyzer import Analyzer
from ferkit.imageio import is_image_path, load_image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FER_VERSION = "25.10.3"


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


# --- fer, in a child process ------------------------------------------------------

def load_fer():
    """``fer.FER()`` with its defaults. Without TensorFlow, ``tf.lite.Interpreter`` is
    ai-edge-litert's (the same TensorFlow Lite runtime); without ``pkg_resources``,
    its one call is answered from ``importlib.resources``. fer's own code runs as is."""
    import importlib.resources

    try:
        import tensorflow  # noqa: F401
    except ImportError:
        from ai_edge_litert.interpreter import Interpreter

        def load_model(*args, **kwargs):
            raise RuntimeError("fer's Keras model needs TensorFlow")

        tf = types.ModuleType("tensorflow")
        keras = types.ModuleType("tensorflow.keras")
        models = types.ModuleType("tensorflow.keras.models")
        tf.lite, tf.keras, keras.models, models.load_model = (
            types.SimpleNamespace(Interpreter=Interpreter), keras, models, load_model)
        sys.modules.update({"tensorflow": tf, "tensorflow.keras": keras, "tensorflow.keras.models": models})
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda pkg, path: str(importlib.resources.files(pkg) / path)
        sys.modules["pkg_resources"] = shim
    from fer.fer import FER

    cascade = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    if not os.path.exists(cascade):   # OpenCV 5 wheels ship no cascade files; fer ships the same one
        cascade = str(importlib.resources.files("fer") / "data" / "haarcascade_frontalface_default.xml")
    return FER(cascade_file=cascade)


def fer_worker() -> None:
    """Child process: times ``detect_emotions`` on the 640x480 photo, ``n`` calls per
    line read, and answers each line with the seconds as JSON."""
    import logging

    logging.disable(logging.INFO)
    detector = load_fer()
    bgr = cv2.cvtColor(one_face_photo(640, 480), cv2.COLOR_RGB2BGR)
    faces = detector.detect_emotions(bgr)
    version = importlib.import_module("fer").__version__
    print(json.dumps({"ready": f"fer {version}, cv2 {cv2.__version__}", "faces": len(faces)}), flush=True)
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            t = time.perf_counter()
            detector.detect_emotions(bgr)
            times.append(time.perf_counter() - t)
        print(json.dumps(times), flush=True)


class FerChild:
    """``fer`` in a child process (its TensorFlow Lite and OpenCV stay out of this one)."""

    def __init__(self, path: str | None) -> None:
        env = dict(os.environ)
        if path:
            env["PYTHONPATH"] = os.pathsep.join([path, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        self.proc = subprocess.Popen([sys.executable, __file__, "--fer-worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().strip().splitlines()
            self.proc.wait()
            raise RuntimeError(err[-1] if err else "the fer child process ended")
        hello = json.loads(line)
        self.about, self.faces = hello["ready"], hello["faces"]

    def times(self, n: int) -> list[float]:
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


# --- measurements -------------------------------------------------------------------

def interleaved(fns: dict, rounds: int, per_round: int) -> dict:
    """Median seconds per call of each function, called ``per_round`` times in turn in
    each of ``rounds`` rounds (a function may instead return its own list of times)."""
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            got = fn(per_round)
            times[name] += got
    return {k: statistics.median(v) for k, v in times.items()}


def repeat_calls(fn):
    def run(n: int) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out
    return run


def folder_rate(analyzer: Analyzer, files: list[Path]) -> float:
    t = time.perf_counter()
    for _ in analyzer.analyze_files(files):
        pass
    return len(files) / (time.perf_counter() - t)


def face_counts(analyzer: Analyzer, folder: Path) -> tuple[int, int, dict]:
    """(exact, counted, crowd counts) against ``faces.csv``."""
    rows = list(csv.DictReader(open(folder / "faces.csv", encoding="utf-8")))
    exact, counted, crowds = 0, 0, {}
    for row in rows:
        n = len(analyzer.detect(load_image(folder / row["file"])))
        if row["faces"].strip():
            counted += 1
            exact += n == int(row["faces"])
        else:
            crowds[row["file"]] = n
    return exact, counted, crowds


def labelled_frames(samples: int, data: Path = SHARED, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """Labelled faces placed in 640x480 grey frames at four sizes and random places:
    FER2013 PrivateTest (the first ``samples``, 48 px upscaled to 96-240 px) and
    BU-3DFE/Bosphorus (the first ``samples`` of its manifest, 256 px to 128-320 px)."""
    rng = np.random.default_rng(seed)

    def frame(face: np.ndarray, side: int) -> np.ndarray:
        out = np.full((480, 640, 3), 110, np.uint8)
        big = cv2.resize(face, (side, side), interpolation=cv2.INTER_LINEAR if side > face.shape[0]
                         else cv2.INTER_AREA)
        if big.ndim == 2:
            big = np.repeat(big[:, :, None], 3, 2)
        y, x = rng.integers(0, 480 - side + 1), rng.integers(0, 640 - side + 1)
        out[y:y + side, x:x + side] = big
        return out

    items = []
    fer_csv = data / "fer2013" / "fer2013.csv.gz"
    if fer_csv.is_file():
        from ferkit.train.datasets import load_fer2013

        fer = load_fer2013(fer_csv)
        for k, i in enumerate(np.flatnonzero(fer.split == "PrivateTest")[:samples]):
            items.append((frame(fer.images[i], (96, 144, 192, 240)[k % 4]),
                          fer.label_set.labels[int(fer.targets[i])]))
    posed = data / "bu3dfe_bosphorus_posed"
    if (posed / "manifest.csv").is_file():
        rows = list(csv.DictReader(open(posed / "manifest.csv", encoding="utf-8")))[:samples]
        for k, row in enumerate(rows):
            items.append((frame(load_image(posed / row["file"]), (128, 192, 256, 320)[k % 4]), row["label"]))
    return items


def pipeline_accuracy(analyzers: dict, items) -> dict:
    """Per analyzer: accuracy (the highest-scoring face's label; no face counts as
    wrong), share of frames with a face, and the right answers the others miss."""
    right = {k: [] for k in analyzers}
    found = {k: 0 for k in analyzers}
    for image, label in items:
        for name, analyzer in analyzers.items():
            faces = analyzer.analyze(image).faces
            found[name] += bool(faces)
            right[name].append(bool(faces) and max(faces, key=lambda f: f.score).label == label)
    names = list(analyzers)
    out = {}
    for name in names:
        other = [n for n in names if n != name][0]
        out[name] = {"accuracy": float(np.mean(right[name])), "found": found[name] / len(items),
                     "only": sum(a and not b for a, b in zip(right[name], right[other]))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: automatic)")
    parser.add_argument("--data", type=Path, default=SHARED, help="the shared datasets (../shared/data)")
    parser.add_argument("--folder", type=Path, help="photos to time (default: DATA/photos)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of now/before")
    parser.add_argument("--repeat", type=int, default=10, help="calls per round for per-image timings")
    parser.add_argument("--fer-path", default=os.environ.get("FERKIT_FER_PATH"),
                        help="folder with fer (and ai-edge-litert) for the fer comparison")
    parser.add_argument("--accuracy-samples", type=int, default=300,
                        help="faces of each labelled set for the accuracy row (0: skip)")
    parser.add_argument("--also-model", help="also time the folder with this packaged model as the "
                        "classifier (fast path), e.g. fer7-crowd: what a faster classifier buys")
    parser.add_argument("--fer-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fer_worker:
        return fer_worker()
    args.folder = args.folder or args.data / "photos"

    console = Console(width=140)
    now = Analyzer(threads=args.threads, fast=True)
    before = Analyzer(threads=args.threads, fast=False)
    console.print(f"{os.cpu_count()} CPUs, onnxruntime threads={args.threads or 'automatic'}, "
                  f"model {now.card.name} ({now.card.architecture}), "
                  f"load average {os.getloadavg()[0]:.1f} at the start")
    rows = []

    # 640x480, one face: now, before and fer, interleaved
    img = one_face_photo(640, 480)
    fns = {"now": repeat_calls(lambda: now.analyze(img)), "before": repeat_calls(lambda: before.analyze(img))}
    fer, fer_note = None, ""
    try:
        fer = FerChild(args.fer_path)
        fns["fer"] = fer.times
        fer_note = f" ({fer.about}; it finds {fer.faces} face(s) here, ferkit {len(now.analyze(img).faces)})"
    except Exception as e:  # not installed: say how to get it
        fer_note = (f": not run ({e}); pip install --no-deps --target DIR fer=={FER_VERSION} ai-edge-litert "
                    "opencv-contrib-python-headless, then --fer-path DIR")
    for fn in fns.values():
        fn(2)   # warm-up
    t = interleaved(fns, args.rounds, args.repeat)
    if fer is not None:
        fer.close()
    rows.append(("640x480 one-face photo, ms", f"{t['now'] * 1e3:.1f}", f"{t['before'] * 1e3:.1f}",
                 f"{t['before'] / t['now']:.2f}x faster"))
    if "fer" in t:
        rows.append((f"  time ratio ferkit / fer{fer_note}", f"{t['now'] / t['fer']:.2f}",
                     f"{t['before'] / t['fer']:.2f}", f"fer {t['fer'] * 1e3:.1f} ms"))
    else:
        rows.append((f"  time ratio ferkit / fer{fer_note}", "-", "-", ""))

    # the shared photos
    files = sorted(p for p in args.folder.glob("*") if is_image_path(p)) if args.folder.is_dir() else []
    if files:
        runs = {"before": before, "now": now}
        if args.also_model:
            runs["also"] = Analyzer(model=args.also_model, threads=args.threads, fast=True)
        rates = {name: [] for name in runs}
        for _ in range(max(1, args.rounds // 2)):
            for name, analyzer in runs.items():
                rates[name].append(folder_rate(analyzer, files))
        r_now, r_before = statistics.median(rates["now"]), statistics.median(rates["before"])
        rows.append((f"folder of the {len(files)} shared photos, images/s (decode included)",
                     f"{r_now:.2f}", f"{r_before:.2f}", f"{r_now / r_before:.2f}x"))
        if args.also_model:
            r_also = statistics.median(rates["also"])
            rows.append((f"  now with the {runs['also'].card.name} classifier", f"{r_also:.2f}",
                         f"{r_before:.2f}", f"{r_also / r_before:.2f}x"))
        if (args.folder / "faces.csv").is_file():
            now.detector.passes.clear()
            counts = {name: face_counts(a, args.folder) for name, a in (("now", now), ("before", before))}
            for name, (exact, counted, crowds) in counts.items():
                counts[name] = (f"{exact}/{counted}", ", ".join(f"{k} {v}" for k, v in sorted(crowds.items())))
            rows.append(("face counts on the shared photos = faces.csv", counts["now"][0], counts["before"][0], ""))
            rows.append(("  crowds (no exact count)", counts["now"][1], counts["before"][1], ""))
            passes = ", ".join(f"{k}: {v}" for k, v in sorted(now.detector.passes.items(), key=str))
            rows.append(("  pass that answered, by longer side (now)", passes, "full: all", ""))

    # accuracy through the pipeline
    if args.accuracy_samples:
        items = labelled_frames(args.accuracy_samples, args.data)
        if items:
            acc = pipeline_accuracy({"now": now, "before": before}, items)
            rows.append((f"accuracy through the pipeline, {len(items)} labelled faces in 640x480 frames",
                         f"{acc['now']['accuracy']:.4f}", f"{acc['before']['accuracy']:.4f}",
                         f"{acc['now']['accuracy'] - acc['before']['accuracy']:+.4f}"))
            rows.append(("  frames with a face found", f"{acc['now']['found']:.4f}",
                         f"{acc['before']['found']:.4f}", ""))
            rows.append(("  faces only this path gets right", str(acc["now"]["only"]),
                         str(acc["before"]["only"]), "(the rest agree)"))

    # the stages
    for w, h in ((640, 480), (1920, 1080)):
        photo = one_face_photo(w, h)
        t = interleaved({"now": repeat_calls(lambda p=photo: now.detect(p)),
                         "before": repeat_calls(lambda p=photo: before.detect(p))}, args.rounds, args.repeat)
        rows.append((f"detector ({now.detector.name}), {w}x{h}, ms", f"{t['now'] * 1e3:.1f}",
                     f"{t['before'] * 1e3:.1f}", f"{t['before'] / t['now']:.2f}x"))
    face = now.align(data.astronaut(), now.detect(data.astronaut())[0])
    for batch in (1, 16):
        crops = np.stack([face] * batch)
        t = timed(lambda crops=crops: now.classifier.predict(crops), args.repeat)
        rows.append((f"classifier, batch {batch}, ms per face", f"{t / batch * 1e3:.1f}", "same", ""))

    table = Table(title="ferkit now (fast) and before (fast=False), interleaved medians")
    for col in ("measure", "now", "before", "ratio"):
        table.add_column(col, justify="left" if col == "measure" else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
