"""Speed and size of every packaged model, measured side by side in one run.

Each model classifies the same real face crops (FER2013 PublicTest rows) through
:class:`ferkit.classify.ExpressionClassifier`, so preprocessing, the graph and the softmax
are all counted. Rounds alternate between the models and the medians are printed, with
each model's time as a multiple of the default model's.

    python benchmarks/models.py [--threads 1] [--rounds 7] [--data ../shared/data/fer2013]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ferkit.classify import ExpressionClassifier
from ferkit.models import DEFAULT_MODEL, MODELS_DIR, packaged_models
from ferkit.train.datasets import load_fer2013

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fer2013"


def per_face_ms(clf: ExpressionClassifier, crops: np.ndarray, batch: int) -> float:
    t = time.perf_counter()
    for i in range(0, len(crops), batch):
        clf.predict(crops[i:i + batch])
    return (time.perf_counter() - t) * 1000 / len(crops)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--faces", type=int, default=128)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    fer = load_fer2013(args.data / "fer2013.csv.gz")
    gray = fer.images[fer.split == "PublicTest"][:args.faces]
    crops = np.repeat(gray[..., None], 3, -1)
    models = {name: ExpressionClassifier(name, threads=args.threads) for name in packaged_models()}
    times = {name: {1: [], 16: []} for name in models}
    for clf in models.values():                           # warm-up
        per_face_ms(clf, crops[:16], 16)
    for _ in range(args.rounds):
        for name, clf in models.items():
            for batch in (1, 16):
                times[name][batch].append(per_face_ms(clf, crops, batch))
    base = statistics.median(times[DEFAULT_MODEL][1])
    table = Table(title=f"packaged models: ms per face, {args.threads} thread(s), median of "
                        f"{args.rounds} rounds over {len(crops)} real crops")
    for col in ("model", "architecture", "parameters", "file MB", "batch 1", "batch 16",
                f"batch 1 vs {DEFAULT_MODEL}", "--init weights MB"):
        table.add_column(col, justify="left" if col in ("model", "architecture") else "right")
    for name, clf in models.items():
        b1, b16 = statistics.median(times[name][1]), statistics.median(times[name][16])
        weights = MODELS_DIR / f"{name}.weights.npz"
        table.add_row(name, clf.card.architecture, f"{clf.card.parameters / 1e6:.1f}M",
                      f"{clf.model_path.stat().st_size / 1e6:.1f}", f"{b1:.2f}", f"{b16:.2f}",
                      f"{b1 / base:.2f}x", f"{weights.stat().st_size / 1e6:.1f}" if weights.is_file() else "-")
    Console().print(table)


if __name__ == "__main__":
    main()
