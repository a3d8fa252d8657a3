"""Evaluation and training charts, drawn with matplotlib's object API.

Figures are built from :class:`matplotlib.figure.Figure` and written by its
own canvas: no pyplot state, no global backend switch, so plotting is safe
inside other programs (notebooks, GUIs) and from threads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def new_figure(**kwargs):
    """A pyplot-free :class:`~matplotlib.figure.Figure`."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def plot_confusion(cm: np.ndarray, labels, path: str | os.PathLike, title: str = "") -> Path:
    """Row-normalised confusion matrix, each cell showing its share and count."""
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    n = len(labels)
    fig = new_figure(figsize=(1.1 * n + 2.5, 1.0 * n + 2))
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{norm[i, j]:.0%}\n({cm[i, j]})", ha="center", va="center",
                    fontsize=8, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (row-normalised)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return Path(path)


def plot_reliability(bins: list[dict], ece: float, path: str | os.PathLike, title: str = "") -> Path:
    """Reliability diagram: accuracy against confidence per bin, with the samples per bin below."""
    lo = np.array([b["lo"] for b in bins])
    width = lo[1] - lo[0] if len(lo) > 1 else 1.0
    acc = np.array([b["accuracy"] for b in bins])
    conf = np.array([b["confidence"] for b in bins])
    count = np.array([b["count"] for b in bins])
    filled = count > 0
    fig = new_figure(figsize=(5, 6))
    ax, ax2 = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    ax.bar(lo[filled], acc[filled], width=width, align="edge", edgecolor="black",
           color="tab:blue", label="accuracy")
    ax.bar(lo[filled], conf[filled] - acc[filled], bottom=acc[filled], width=width, align="edge",
           color="tab:red", alpha=0.3, hatch="//", label="gap to confidence")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE ({len(bins)} bins) = {ece:.4f}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax2.bar(lo, count, width=width, align="edge", edgecolor="black", color="gray")
    ax2.set_xlabel("confidence")
    ax2.set_ylabel("samples")
    ax2.set_xlim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return Path(path)


def plot_learning_curves(runs, path: str | os.PathLike) -> Path:
    """Loss and accuracy per epoch (training dashed, validation solid), one colour per run.

    ``runs`` are :class:`ferkit.train.compare.RunSummary` objects (``history``,
    ``label``, ``model``, ``best_epoch``, ``best_val_accuracy``)."""
    fig = new_figure(figsize=(12, 4.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, r in enumerate(runs):
        colour = f"C{i % 10}"
        epochs = [h["epoch"] for h in r.history]
        for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
            ax.plot(epochs, [h[f"train_{key}"] for h in r.history], "--", color=colour, lw=1)
            ax.plot(epochs, [h[f"val_{key}"] for h in r.history], "-", color=colour, lw=1.5,
                    label=f"{r.label} ({r.model})")
        ax_acc.plot([r.best_epoch], [r.best_val_accuracy], "o", color=colour)
    ax_loss.set_title("loss (dashed: training, solid: validation)")
    ax_acc.set_title("accuracy (dot: best validation epoch)")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def plot_scores(names: list[str], scores: dict[str, list[float | None]], path: str | os.PathLike,
                title: str = "") -> Path:
    """Grouped horizontal bars: one group per name (a run), one bar per score (e.g.
    ``{"accuracy": [...], "macro-F1": [...]}``), each labelled with its value; a missing
    score (``None``) leaves its bar out."""
    n, k = len(names), len(scores)
    fig = new_figure(figsize=(9, 1.2 + 0.32 * n * k + 0.15 * n))
    ax = fig.subplots()
    height = 0.8 / max(k, 1)
    for j, (metric, values) in enumerate(scores.items()):
        ys = [i + (j - (k - 1) / 2) * height for i in range(n)]
        kept = [(y, v) for y, v in zip(ys, values) if v is not None]
        if not kept:
            continue
        bars = ax.barh([y for y, _ in kept], [v for _, v in kept], height, color=f"C{j}",
                       label=metric)
        ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.08)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path
