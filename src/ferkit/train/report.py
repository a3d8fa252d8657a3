"""The evaluation report: every metric of one model on one split, as JSON, plots and a table."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ferkit.card import Metric
from ferkit.labels import LabelSet

from .metrics import (
    align_label_sets,
    confusion_matrix,
    expected_calibration_error,
    negative_log_likelihood,
    per_class_metrics,
    reliability_bins,
)
from .plotting import plot_confusion, plot_reliability


@dataclass
class EvaluationReport:
    model: str
    dataset: str
    split: str
    samples: int
    labels: list[str]
    accuracy: float
    macro_f1: float
    nll: float
    ece: float
    per_class: dict
    confusion: list[list[int]]
    reliability: list[dict]
    label_mapping: dict
    tta: str = "none"
    temperature: float = 1.0
    files: dict = field(default_factory=dict)
    samples_digest: str = ""      # which samples were evaluated (ferkit.train.splits)

    def to_dict(self) -> dict:
        return asdict(self)

    def card_metrics(self, notes: str = "") -> list[Metric]:
        """Accuracy, macro-F1, ECE and NLL as model-card metrics with dataset, split and count."""
        return [Metric(name, float(getattr(self, name)), self.dataset, self.split, self.samples,
                       notes) for name in ("accuracy", "macro_f1", "ece", "nll")]

    def save(self, out_dir: str | os.PathLike, prefix: str = "") -> Path:
        """Write ``report.json``, ``confusion.png`` and ``reliability.png`` into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        cm_png, rel_png = out / f"{prefix}confusion.png", out / f"{prefix}reliability.png"
        plot_confusion(np.array(self.confusion), self.labels, cm_png,
                       f"{self.model} on {self.dataset} {self.split}: accuracy {self.accuracy:.4f}")
        plot_reliability(self.reliability, self.ece, rel_png, f"{self.model} on {self.dataset} "
                                                              f"{self.split}")
        self.files = {"confusion": cm_png.name, "reliability": rel_png.name}
        path = out / f"{prefix}report.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        return path

    def table(self):
        """A Rich table: one row per class, then the overall figures."""
        from rich.table import Table

        t = Table(title=f"{self.model} | {self.dataset} {self.split} | {self.samples} samples | "
                        f"TTA {self.tta} | T={self.temperature:.3f}")
        for col in ("class", "precision", "recall", "F1", "support"):
            t.add_column(col, justify="left" if col == "class" else "right")
        for c, m in self.per_class.items():
            t.add_row(c, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}",
                      str(m["support"]))
        t.add_section()
        t.add_row("accuracy", "", f"{self.accuracy:.4f}", "", str(self.samples))
        t.add_row("macro-F1", "", "", f"{self.macro_f1:.4f}", "")
        t.add_row("ECE (15 bins)", "", f"{self.ece:.4f}", "", "")
        t.add_row("NLL", "", f"{self.nll:.4f}", "", "")
        m = self.label_mapping
        if m["model_classes_unmapped"] or m["data_classes_unmapped"]:
            t.caption = (f"label sets {m['model_label_set']} -> {m['data_label_set']}: model classes "
                         f"without counterpart: {', '.join(m['model_classes_unmapped']) or 'none'}; "
                         f"data classes without counterpart (samples excluded): "
                         f"{', '.join(f'{k} ({v})' for k, v in m['data_classes_unmapped'].items()) or 'none'}")
        return t


def evaluate_probabilities(probs: np.ndarray, targets: np.ndarray, model_labels: LabelSet,
                           data_labels: LabelSet, *, model: str = "model",
                           dataset: str = "dataset", split: str = "", tta: str = "none",
                           temperature: float = 1.0) -> EvaluationReport:
    """All metrics for probabilities over ``model_labels`` and hard targets over ``data_labels``."""
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    probs, targets, labels, mapping = align_label_sets(probs, targets, model_labels, data_labels)
    preds = probs.argmax(1)
    cm = confusion_matrix(targets, preds, len(labels))
    per = per_class_metrics(cm, labels)
    n = len(targets)
    return EvaluationReport(
        model=model, dataset=dataset, split=split, samples=n, labels=labels,
        accuracy=float((preds == targets).mean()) if n else 0.0,
        macro_f1=float(np.mean([m["f1"] for m in per.values()])),
        nll=negative_log_likelihood(probs, targets),
        ece=expected_calibration_error(probs, targets),
        per_class=per, confusion=cm.tolist(), reliability=reliability_bins(probs, targets),
        label_mapping=mapping, tta=tta, temperature=float(temperature))
