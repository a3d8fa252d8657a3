"""``ferkit data stats``: what a dataset folder holds.

Counts of kept faces per class and split (and the training samples after
``copies``), decisions per class, how often each reason was given, the sizes of
the source pictures and of the faces, and a chart of the counts
(``stats.png``, when matplotlib is installed).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from .clean import reason_code
from .manifest import DECISIONS, copies_of, read_manifest, reasons_of

SPLIT_ORDER = ("train", "val", "test", "")


def dataset_stats(dataset: str | os.PathLike) -> dict:
    """The figures of a dataset's manifest, as a JSON-ready dict."""
    manifest = read_manifest(dataset)
    rows = manifest.rows
    kept = manifest.kept()
    labels = sorted({r["label"] for r in rows if r["label"]})
    splits = [s for s in SPLIT_ORDER if any(r["split"] == s for r in kept)]
    per_split = {s or "unsplit": {c: sum(1 for r in kept if r["label"] == c and r["split"] == s) for c in labels}
                 for s in splits}
    training = {c: sum(copies_of(r) for r in kept if r["label"] == c and r["split"] in ("train", ""))
                for c in labels}
    decisions = {c: {d: sum(1 for r in rows if r["label"] == c and r["decision"] == d) for d in DECISIONS}
                 for c in labels + [""]}
    decisions["(no label)"] = decisions.pop("")
    reasons = Counter(reason_code(x) for r in rows for x in reasons_of(r))
    pictures = {r["source"]: (r["width"], r["height"]) for r in rows if r["width"] and r["height"]}
    sizes = np.array([(int(w), int(h)) for w, h in pictures.values()]) if pictures else np.zeros((0, 2))
    faces = np.array([float(r["face_size"]) for r in kept if r["face_size"]])
    return {
        "dataset": str(manifest.folder), "pictures": len({r["source"] for r in rows}),
        "faces": sum(1 for r in rows if r["file"]), "kept": len(kept),
        "kept_per_split": per_split, "training_samples": training,
        "decisions": decisions, "reasons": dict(reasons.most_common()),
        "picture_size": _summary(sizes.min(1)) if len(sizes) else None,
        "picture_size_of": "shorter side, pixels",
        "face_size": _summary(faces) if len(faces) else None,
    }


def _summary(values: np.ndarray) -> dict:
    q = np.percentile(values, [0, 5, 50, 95, 100])
    return {"min": float(q[0]), "p5": float(q[1]), "median": float(q[2]), "p95": float(q[3]),
            "max": float(q[4]), "count": int(len(values))}


def write_stats(stats: dict, out: str | os.PathLike) -> list[Path]:
    """``stats.json`` and (with matplotlib) ``stats.png`` in ``out``."""
    from ferkit.writers import prepare_folder, write_text_atomic

    out = prepare_folder(out, "the stats folder")
    written = [out / "stats.json"]
    write_text_atomic(written[0], json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    try:
        from ferkit.train.plotting import new_figure

        fig = new_figure(figsize=(max(4.0, 0.9 * len(stats["training_samples"]) + 2), 3.2), dpi=110)
    except ImportError:   # matplotlib is an extra (plots, train)
        return written
    per_split = stats["kept_per_split"]
    labels = sorted({c for counts in per_split.values() for c in counts})
    ax = fig.subplots()
    bottom = np.zeros(len(labels))
    for split, counts in per_split.items():
        values = np.array([counts.get(c, 0) for c in labels], dtype=float)
        ax.bar(labels, values, bottom=bottom, label=split)
        bottom += values
    ax.set_ylabel("kept faces")
    ax.set_title("kept faces per class and split")
    if per_split:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "stats.png")
    written.append(out / "stats.png")
    return written


__all__ = ["dataset_stats", "write_stats"]
