"""Evaluation of a checkpoint or an exported ONNX model on a dataset split.

Accuracy, per-class precision/recall/F1, macro-F1, the confusion matrix,
negative log-likelihood and expected calibration error (15 equal-width
confidence bins); plots of the confusion matrix and the reliability diagram;
a JSON report. A model over one label set can be evaluated on data over
another: predictions are mapped through :meth:`LabelSet.mapping_to`, and the
classes either side that have no counterpart are listed in the report.

Only the checkpoint path needs torch; ONNX models run with ONNX Runtime
through :class:`ferkit.classify.ExpressionClassifier`, as inference does.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ferkit.card import Metric
from ferkit.labels import LabelSet

from .config import DataConfig, TrainConfig

TTA_MODES = ("none", "flip", "ten-crop")
ECE_BINS = 15


# --- metrics -----------------------------------------------------------------------------------

def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


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


# --- label sets --------------------------------------------------------------------------------

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
        raise ValueError(f"label sets {model_labels.name} and {data_labels.name} share no class")
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


# --- report ------------------------------------------------------------------------------------

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


# --- plots -------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(cm: np.ndarray, labels, path: str | os.PathLike, title: str = "") -> None:
    """Row-normalised confusion matrix, each cell showing its share and count."""
    plt = _pyplot()
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.1 * n + 2.5, 1.0 * n + 2))
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
    plt.close(fig)


def plot_reliability(bins: list[dict], ece: float, path: str | os.PathLike, title: str = "") -> None:
    """Reliability diagram: accuracy against confidence per bin, with the samples per bin below."""
    plt = _pyplot()
    lo = np.array([b["lo"] for b in bins])
    width = lo[1] - lo[0] if len(lo) > 1 else 1.0
    acc = np.array([b["accuracy"] for b in bins])
    conf = np.array([b["confidence"] for b in bins])
    count = np.array([b["count"] for b in bins])
    filled = count > 0
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(5, 6), height_ratios=(3, 1), sharex=True)
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
    plt.close(fig)


# --- data --------------------------------------------------------------------------------------

def data_config_for(path: str | os.PathLike, votes: str | None = None, pattern: str | None = None,
                    label_mode: str = "majority", label_set: str | None = None,
                    preprocess: dict | None = None) -> DataConfig:
    """A :class:`DataConfig` from a path: a FER2013 CSV (with FER+ ``votes``), a folder of
    class folders, or (with ``pattern``) a folder of label-carrying file names; a
    ``.json``/``.yaml`` file is read as a data config itself."""
    p = Path(path)
    if p.suffix in (".json", ".yaml", ".yml"):
        text = p.read_text(encoding="utf-8")
        if p.suffix == ".json":
            d = json.loads(text)
        else:
            import yaml

            d = yaml.safe_load(text)
        return DataConfig(**d.get("data", d))
    if p.is_dir():
        kind = "filenames" if pattern else "folder"
        return DataConfig(kind=kind, path=str(p), pattern=pattern, label_set=label_set,
                          preprocess=dict(preprocess or {}))
    if votes:
        return DataConfig(kind="ferplus", path=str(p), votes=votes, label_mode=label_mode)
    return DataConfig(kind="fer2013", path=str(p))


def pick_split(ds, split: str | None, cfg: TrainConfig):
    """The samples of ``split``: a named split of the data, ``all``, or ``train``/``val``/``test``
    of the seeded stratified split training made of data without named splits."""
    names = set(ds.split)
    candidates = [split] if split else [cfg.data.test_split, "test"]
    for s in candidates:
        if s in names:
            return ds.select_split(s), s
        if s == "all":
            return ds, s
    for s in candidates:
        if s in ("train", "val", "test"):
            return _stratified_split(ds, cfg, s), s
    raise ValueError(f"{ds.name}: no split {split or candidates[0]!r}; splits present: "
                     f"{', '.join(sorted(names))} (or all, train, val, test)")


def _stratified_split(ds, cfg: TrainConfig, which: str):
    """The part ``which`` of the seeded stratified split the trainer makes."""
    from .datasets.base import stratified_split

    d = cfg.data
    split = stratified_split(ds.hard_targets, d.val_fraction, d.test_fraction, cfg.seed)
    sel = split == which
    if not sel.any():
        raise ValueError(f"{ds.name}: the stratified split has no {which!r} samples")
    return ds.subset(np.flatnonzero(sel), f"{ds.name}:{which}")


def _with_clahe(data: DataConfig, clahe: bool) -> DataConfig:
    pre = dict(data.preprocess or {})
    if clahe:
        pre["clahe"] = True
    else:
        pre.pop("clahe", None)
    return replace(data, preprocess=pre)


def _dataset_label(ds) -> str:
    return ds.name.split(":")[0]


# --- checkpoints (torch) -----------------------------------------------------------------------

def checkpoint_logits(model, images, cfg: TrainConfig, tta: str = "flip", device=None,
                      batch_size: int = 256, progress: bool = False):
    """float32 logits for uint8 images ``(N, C, image_size, image_size)`` with test-time augmentation.

    ``none``: the centre crop to ``input_size`` (as validation does); ``flip``: its
    average with the mirrored view; ``ten-crop``: the four corner and the centre
    crops, each with its mirror.
    """
    import torch

    from .augment import augment_batch, get_augment
    from .trainer import normalize

    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}, not {tta!r}")
    margin = cfg.image_size - cfg.input_size
    if tta == "ten-crop" and margin <= 0:
        raise ValueError(f"ten-crop needs input_size < image_size (model takes {cfg.input_size} "
                         f"of {cfg.image_size})")
    device = device or next(model.parameters()).device
    s, m = cfg.input_size, margin
    offsets = [(0, 0), (0, m), (m, 0), (m, m), (m // 2, m // 2)]
    out = []
    model.eval()
    with torch.no_grad(), _bar(progress) as bar:
        task = bar.add_task("predict", total=len(images))
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(device).float() / 255
            if tta == "ten-crop":
                views = [x[..., y:y + s, x0:x0 + s] for y, x0 in offsets]
            else:
                views = [augment_batch(x, get_augment("none"), s, train=False)]
            logits = 0
            for v in views:
                v = normalize(v, cfg)
                logits = logits + model(v).float()
                if tta != "none":
                    logits = logits + model(v.flip(-1)).float()
            out.append((logits / (len(views) * (1 if tta == "none" else 2))).cpu())
            bar.advance(task, len(x))
    return torch.cat(out) if out else torch.zeros(0, 0)


def evaluate_checkpoint(checkpoint, data: DataConfig | None = None, split: str | None = None,
                        tta: str = "flip", temperature: float = 1.0, out_dir=None,
                        device: str | None = None, progress: bool = True,
                        dataset=None) -> EvaluationReport:
    """Evaluate a training checkpoint (path or :class:`LoadedCheckpoint`).

    ``data`` defaults to the data it was trained on, ``split`` to its test
    split; ``dataset`` (a loaded :class:`FaceDataset`) replaces ``data``.
    Writes the report and plots to ``out_dir`` when given.
    """
    import torch

    from .checkpoint import LoadedCheckpoint, load_checkpoint
    from .datasets import load_dataset
    from .trainer import model_images

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    ck = checkpoint if isinstance(checkpoint, LoadedCheckpoint) else load_checkpoint(checkpoint,
                                                                                     device)
    cfg = ck.config
    if dataset is None:
        clahe = bool(cfg.data.preprocess.get("clahe", False))
        dataset = load_dataset(_with_clahe(data or cfg.data, clahe), cfg.image_size, cfg.channels,
                               progress)
    part, split_name = pick_split(dataset, split, cfg)
    logits = checkpoint_logits(ck.model, model_images(part.images, cfg), cfg, tta,
                               progress=progress)
    probs = softmax(logits.numpy(), temperature)
    report = evaluate_probabilities(probs, part.hard_targets, ck.label_set, part.label_set,
                                    model=f"{cfg.name}:{ck.path.name}",
                                    dataset=_dataset_label(dataset), split=split_name, tta=tta,
                                    temperature=temperature)
    if out_dir is not None:
        report.save(out_dir)
    return report


# --- ONNX models (ONNX Runtime, as inference) --------------------------------------------------

def crops_for_card(images: np.ndarray, size: int) -> np.ndarray:
    """Dataset crops (gray or RGB) as the uint8 RGB ``(N, size, size, 3)`` crops inference gets."""
    from .datasets.preprocess import resize_crop

    rgb = np.repeat(images[..., None], 3, -1) if images.ndim == 3 else images
    if rgb.shape[1] != size:
        rgb = np.stack([resize_crop(im, size) for im in rgb])
    return rgb


def onnx_outputs(classifier, images: np.ndarray, kind: str = "probabilities",
                 batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """``classifier.predict`` (calibrated probabilities) or ``.logits`` over dataset crops."""
    fn = classifier.predict if kind == "probabilities" else classifier.logits
    out = []
    with _bar(progress) as bar:
        task = bar.add_task("predict", total=len(images))
        for i in range(0, len(images), batch_size):
            out.append(fn(crops_for_card(images[i:i + batch_size], classifier.input_size)))
            bar.advance(task, len(out[-1]))
    return np.concatenate(out) if out else np.zeros((0, len(classifier.labels)))


def load_onnx_model(model, threads: int = 0):
    from ferkit.classify import ExpressionClassifier

    return model if isinstance(model, ExpressionClassifier) else ExpressionClassifier(model, threads)


def evaluate_onnx(model, data: DataConfig | None = None, split: str | None = None,
                  out_dir=None, threads: int = 0, progress: bool = True,
                  dataset=None) -> EvaluationReport:
    """Evaluate an ONNX model with its card (path, packaged name or classifier).

    Probabilities come from :meth:`ExpressionClassifier.predict`, so the
    card's channels, CLAHE, normalisation and temperature apply exactly as at
    inference. ``data`` defaults to the card's training data; ``dataset`` (a
    :class:`FaceDataset` of un-equalised crops) replaces it.
    """
    from .datasets import load_dataset

    clf = load_onnx_model(model, threads)
    card = clf.card
    cfg = TrainConfig.from_dict(card.training["config"]) if "config" in card.training \
        else TrainConfig()
    if dataset is None:
        if data is None:
            if "data" not in card.training:
                raise ValueError(f"{card.name}: the card records no training data; pass data")
            data = DataConfig(**card.training["data"])
        dataset = load_dataset(_with_clahe(data, False), card.input.size, card.input.channels,
                               progress)
    part, split_name = pick_split(dataset, split, cfg)
    probs = onnx_outputs(clf, part.images, progress=progress)
    tta = card.training.get("export", {}).get("tta", "none")
    report = evaluate_probabilities(probs, part.hard_targets, card.label_set_obj, part.label_set,
                                    model=card.name, dataset=_dataset_label(dataset),
                                    split=split_name, tta=tta, temperature=card.temperature)
    if out_dir is not None:
        report.save(out_dir)
    return report


def _bar(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), disable=not enabled)
