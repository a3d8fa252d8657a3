"""Classification metrics over probabilities and hard targets (numpy only).

Accuracy, the confusion matrix, per-class precision/recall/F1, negative
log-likelihood and expected calibration error (15 equal-width confidence
bins), and the mapping of predictions between label sets: a model over one
label set can be evaluated on data over another, predictions being mapped
through :meth:`LabelSet.mapping_to`.
"""

from __future__ import annotations

import numpy as np

from ferkit.errors import UsageError
from ferkit.labels import LabelSet

ECE_BINS = 15


def confusion_matrix(targets: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``cm[true, predicted]``."""
    idx = np.asarray(targets, np.int64) * num_classes + np.asarray(preds, np.int64)
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_metrics(cm: np.ndarray, labels) -> dict[str, dict]:
    """Precision, recall, F1 and support of every class (0 where undefined)."""
    tp = np.diag(cm).astype(np.float64)
    pred, true = cm.sum(0), cm.sum(1)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {c: {"precision": float(precision[i]), "recall": float(recall[i]),
                "f1": float(f1[i]), "support": int(true[i])} for i, c in enumerate(labels)}


def reliability_bins(probs: np.ndarray, targets: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin ``(lo, hi]``: sample count, mean confidence, accuracy."""
    conf = probs.max(1)
    correct = probs.argmax(1) == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        m = which == b
        n = int(m.sum())
        out.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "count": n,
                    "confidence": float(conf[m].mean()) if n else 0.0,
                    "accuracy": float(correct[m].mean()) if n else 0.0})
    return out


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over bins of ``|accuracy - confidence|`` weighted by the bin's share of samples."""
    n = len(targets)
    if n == 0:
        return 0.0
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(probs, targets, bins)))


def negative_log_likelihood(probs: np.ndarray, targets: np.ndarray) -> float:
    p = probs[np.arange(len(targets)), targets]
    return float(-np.log(np.clip(p, 1e-12, None)).mean()) if len(targets) else 0.0


def align_label_sets(probs: np.ndarray, targets: np.ndarray, model_labels: LabelSet,
                     data_labels: LabelSet):
    """Predictions and targets over the data classes the model can express.

    Returns ``(probs, targets, labels, mapping)``: probabilities renormalised
    over the evaluated classes (mass on model classes without a data
    counterpart is dropped), the targets of the samples kept, the evaluated
    class names, and a dict reporting what was not mapped.
    """
    if model_labels.labels == data_labels.labels:
        return probs, targets, list(data_labels.labels), {
            "model_label_set": model_labels.name, "data_label_set": data_labels.name,
            "model_classes_unmapped": [], "data_classes_unmapped": {}, "samples_excluded": 0}
    mapping = model_labels.mapping_to(data_labels)
    evaluated = sorted(set(mapping.pairs.values()))
    if not evaluated:
        raise UsageError(f"label sets {model_labels.name} and {data_labels.name} share no class")
    mapped = mapping.map_probabilities(probs)[:, evaluated]
    mapped = mapped / np.clip(mapped.sum(1, keepdims=True), 1e-12, None)
    lookup = np.full(len(data_labels), -1, dtype=np.int64)
    lookup[evaluated] = np.arange(len(evaluated))
    new_targets = lookup[targets]
    keep = new_targets >= 0
    excluded = {data_labels.labels[c]: int((targets == c).sum())
                for c in range(len(data_labels)) if c not in evaluated}
    info = {"model_label_set": model_labels.name, "data_label_set": data_labels.name,
            "model_classes_unmapped": list(mapping.unmapped_source),
            "data_classes_unmapped": excluded, "samples_excluded": int((~keep).sum())}
    return mapped[keep], new_targets[keep], [data_labels.labels[c] for c in evaluated], info
