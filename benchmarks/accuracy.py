"""Accuracy benchmark of an ONNX expression model on FER2013 and FER+.

Runs the model through :class:`ferkit.classify.ExpressionClassifier` (card
normalisation and temperature, as inference) on FER2013 PrivateTest and
PublicTest, on the FER+ PrivateTest majority labels, and on the held-out people
of korean_aihub (split by person with ``data.group_by``, 15 % / 15 %, seed 0:
the split recipes/gpu_models.py trained with). Data classes are mapped onto the
model's label set by name; classes either side without a counterpart are
reported and their samples left out (a FER-7 model is scored on 기쁨/분노/슬픔,
its answers over all seven classes). Prints accuracy,
macro-F1, ECE and per-class recall; ``--out`` also writes each report and plot.

    python benchmarks/accuracy.py [--model default|path.onnx] [--data DIR] [--korean DIR] [--threads 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ferkit.train.datasets import load_dataset, load_fer2013, load_ferplus
from ferkit.train.datasets.filenames import korean_aihub_data
from ferkit.train.evaluate import evaluate_onnx, load_onnx_model
from ferkit.train.splits import resolve_splits

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fer2013"
DEFAULT_KOREAN = DEFAULT_DATA.parent / "korean_aihub"


def korean_people(root: Path, card):
    """korean_aihub's held-out people (test split by person), cropped as inference crops."""
    data = korean_aihub_data(root, preprocess={"detector": "retinaface", "no_face": "center"})
    ds = load_dataset(data, card.input.size, card.input.channels, progress=True)
    return resolve_splits(ds, data).test


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default", help="packaged model name or .onnx path")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder with fer2013.csv.gz and fer2013new.csv")
    ap.add_argument("--korean", type=Path, default=DEFAULT_KOREAN,
                    help="korean_aihub folder (its held-out people); skipped when absent")
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0 = automatic)")
    ap.add_argument("--out", type=Path, help="write report.json + plots per evaluation here")
    args = ap.parse_args()

    console = Console()
    clf = load_onnx_model(args.model, args.threads)
    csv_path, votes = args.data / "fer2013.csv.gz", args.data / "fer2013new.csv"
    fer = load_fer2013(csv_path)
    runs = [("FER2013", "PrivateTest", fer), ("FER2013", "PublicTest", fer)]
    if votes.is_file():
        runs.append(("FER+ majority", "PrivateTest", load_ferplus(csv_path, votes, "majority")))
    else:
        console.print(f"[yellow]FER+ votes not found at {votes}; FER+ skipped[/yellow]")
    if args.korean.is_dir():
        runs.append(("korean_aihub people", "all", korean_people(args.korean, clf.card)))

    reports = []
    for title, split, ds in runs:
        t = time.perf_counter()
        rep = evaluate_onnx(clf, split=split, dataset=ds, progress=True)
        reports.append((title, rep, time.perf_counter() - t))
        if args.out:
            tag = f"{title.split()[0].replace('+', 'plus').lower()}-{split}-"
            rep.save(args.out, prefix=tag)

    card = clf.card
    table = Table(title=f"{card.name} ({card.architecture}, {card.label_set}, "
                        f"T={card.temperature:.3f}) on {clf.model_path.name}")
    for col in ("data", "split", "samples", "accuracy", "macro-F1", "ECE", "seconds"):
        table.add_column(col, justify="left" if col in ("data", "split") else "right")
    for title, rep, secs in reports:
        table.add_row(title, rep.split, str(rep.samples), f"{rep.accuracy:.4f}",
                      f"{rep.macro_f1:.4f}", f"{rep.ece:.4f}", f"{secs:.1f}")
    console.print(table)

    recall = Table(title="per-class recall")
    recall.add_column("class")
    for title, rep, _ in reports:
        recall.add_column(f"{title} {rep.split}", justify="right")
    labels = list(dict.fromkeys(c for _, rep, _ in reports for c in rep.labels))
    for c in labels:
        recall.add_row(c, *(f"{rep.per_class[c]['recall']:.3f}" if c in rep.per_class else "-"
                            for _, rep, _ in reports))
    console.print(recall)
    for title, rep, _ in reports:
        m = rep.label_mapping
        if m["model_classes_unmapped"] or m["data_classes_unmapped"]:
            console.print(f"{title}: model classes without a counterpart: "
                          f"{', '.join(m['model_classes_unmapped']) or 'none'}; data classes "
                          f"without a counterpart (samples left out): "
                          f"{json.dumps(m['data_classes_unmapped'])}")


if __name__ == "__main__":
    main()
