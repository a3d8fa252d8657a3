"""A classical FER2013 baseline: HOG or LBP features and a linear SVM (scikit-learn LinearSVC).

Trains on FER2013 Training, picks the SVM's C on PublicTest, and reports accuracy, macro-F1
and per-class recall on PublicTest and PrivateTest, with the feature size, the training wall
time and the CPU time per face (features + SVM, one face at a time). The row the
architecture study (benchmarks/RESULTS-architectures.md) compares its networks with.

    python benchmarks/classical_baseline.py --fer2013 ../shared/data/fer2013/fer2013.csv.gz \\
        --out benchmarks/classical_baseline.json

Needs scikit-learn and scikit-image (``pip install scikit-learn scikit-image``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from ferkit.labels import FER7

HOG = {"orientations": 9, "pixels_per_cell": (8, 8), "cells_per_block": (2, 2)}
LBP_POINTS, LBP_RADIUS, LBP_CELL = 8, 1, 8
C_GRID = (0.001, 0.01, 0.1)


def hog_features(images: np.ndarray) -> np.ndarray:
    """Block-normalised HOG (9 orientations, 8 px cells, 2x2 blocks): 900 values per 48 px face."""
    from skimage.feature import hog

    return np.stack([hog(im, block_norm="L2-Hys", feature_vector=True, **HOG)
                     for im in images]).astype(np.float32)


def lbp_features(images: np.ndarray) -> np.ndarray:
    """Uniform LBP (8 neighbours, radius 1) histograms of 8 px cells: 6x6 cells x 10 bins."""
    from skimage.feature import local_binary_pattern

    bins = LBP_POINTS + 2
    out = []
    for im in images:
        codes = local_binary_pattern(im, LBP_POINTS, LBP_RADIUS, "uniform").astype(np.int64)
        h, w = codes.shape
        cells = codes[:h // LBP_CELL * LBP_CELL, :w // LBP_CELL * LBP_CELL].reshape(
            h // LBP_CELL, LBP_CELL, w // LBP_CELL, LBP_CELL).transpose(0, 2, 1, 3)
        cells = cells.reshape(-1, LBP_CELL * LBP_CELL)
        hist = np.stack([np.bincount(c, minlength=bins) for c in cells]) / (LBP_CELL * LBP_CELL)
        out.append(hist.ravel())
    return np.array(out, dtype=np.float32)


FEATURES = {"hog": hog_features, "lbp": lbp_features,
            "hog+lbp": lambda x: np.hstack([hog_features(x), lbp_features(x)])}
PARTS = {"hog": ("hog",), "lbp": ("lbp",), "hog+lbp": ("hog", "lbp")}


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    labels = list(range(len(FER7)))
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {"accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, labels=labels, average="macro",
                                             zero_division=0)), 4),
            "recall": {c: round(float(r), 4) for c, r in zip(FER7.labels, recall)},
            "samples": int(len(y_true))}


def run(name: str, images: dict, labels: dict, log, computed: dict) -> dict:
    """One row; ``computed`` keeps each feature kind's arrays and time for the next rows."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    featurise = FEATURES[name]
    for part in PARTS[name]:
        if part not in computed:
            t0 = time.perf_counter()
            computed[part] = ({s: FEATURES[part](x) for s, x in images.items()},
                              time.perf_counter() - t0)
    feats = {s: np.hstack([computed[p][0][s] for p in PARTS[name]]) for s in images}
    feature_s = sum(computed[p][1] for p in PARTS[name])
    log(f"{name}: {feats['Training'].shape[1]} features per face ({feature_s:.0f} s for all rows)")
    best = None
    for c in C_GRID:
        t1 = time.perf_counter()
        clf = make_pipeline(StandardScaler(), LinearSVC(C=c, dual=False, max_iter=5000))
        clf.fit(feats["Training"], labels["Training"])
        fit_s = time.perf_counter() - t1
        val = scores(labels["PublicTest"], clf.predict(feats["PublicTest"]))
        log(f"{name}: C={c:g} PublicTest accuracy {val['accuracy']:.4f}, macro-F1 "
            f"{val['macro_f1']:.4f} (fit {fit_s:.0f} s)")
        if best is None or val["accuracy"] > best[1]["accuracy"]:
            best = (c, val, clf, fit_s)
    c, val, clf, fit_s = best
    test = scores(labels["PrivateTest"], clf.predict(feats["PrivateTest"]))
    # One face at a time, as an application classifies: features + scaler + SVM.
    sample = images["PrivateTest"][:300]
    t2 = time.perf_counter()
    for im in sample:
        clf.predict(featurise(im[None]))
    ms = (time.perf_counter() - t2) / len(sample) * 1000
    svm = clf[-1]
    return {"features": name, "feature_size": int(feats["Training"].shape[1]), "C": c,
            "parameters": int(svm.coef_.size + svm.intercept_.size),
            "PublicTest": val, "PrivateTest": test, "ms_per_face_cpu": round(ms, 3),
            "fit_wall_s": round(fit_s, 1), "feature_wall_s": round(feature_s, 1)}


def markdown(rows: list[dict]) -> str:
    head = ("| features + linear SVM | C (on PublicTest) | PublicTest acc | PrivateTest acc | "
            "PrivateTest macro-F1 | " + " | ".join(f"recall {c}" for c in FER7.labels)
            + " | parameters | ms/face (CPU) | fit |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        t = r["PrivateTest"]
        lines.append(f"| {r['features']} ({r['feature_size']}) | {r['C']:g} | "
                     f"{r['PublicTest']['accuracy']:.4f} | {t['accuracy']:.4f} | "
                     f"{t['macro_f1']:.4f} | "
                     + " | ".join(f"{t['recall'][c]:.3f}" for c in FER7.labels)
                     + f" | {r['parameters']:,} | {r['ms_per_face_cpu']:.2f} | "
                       f"{r['fit_wall_s']:.0f} s |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fer2013", type=Path, default=Path("../shared/data/fer2013/fer2013.csv.gz"))
    ap.add_argument("--features", nargs="+", default=list(FEATURES), choices=list(FEATURES))
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args()

    from ferkit.train.datasets import load_fer2013

    ds = load_fer2013(args.fer2013)
    images = {s: ds.images[ds.split == s] for s in ("Training", "PublicTest", "PrivateTest")}
    labels = {s: ds.targets[ds.split == s] for s in images}

    def log(msg):
        print(msg, flush=True)

    computed: dict = {}
    rows = [run(name, images, labels, log, computed) for name in args.features]
    print()
    print(markdown(rows))
    if args.out:
        import sklearn

        args.out.write_text(json.dumps({
            "data": f"FER2013 {args.fer2013.name}: train Training ({len(labels['Training'])}), "
                    f"C chosen on PublicTest, reported on PublicTest and PrivateTest",
            "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "scikit_learn": sklearn.__version__, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
