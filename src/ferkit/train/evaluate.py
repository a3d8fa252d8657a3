"""Evaluation of a checkpoint or an exported ONNX model on a dataset split.

Metrics are in :mod:`.metrics`, the report and its plots in :mod:`.report` and
:mod:`.plotting`, the split in :mod:`.splits`; this module loads the model and
the data and puts them together. A model over one label set can be evaluated
on data over another: the classes either side that have no counterpart are
listed in the report.

Only checkpoints need torch; ONNX models run with ONNX Runtime through
:class:`ferkit.classify.ExpressionClassifier`, as inference does.
"""

from __future__ import annotations

import os
from pathlib import Path

from ferkit.errors import ConfigError, UsageError
from ferkit.runtime import softmax

from .config import TTA_MODES, DataConfig, read_config_file
from .datasets import load_dataset
from .onnx_inference import load_onnx_model, onnx_outputs
from .report import EvaluationReport, evaluate_probabilities
from .splits import membership_digest, pick_split

__all__ = ["TTA_MODES", "EvaluationReport", "data_config_for", "evaluate_checkpoint",
           "evaluate_onnx", "load_onnx_model"]


def data_config_for(path: str | os.PathLike, votes: str | None = None, pattern: str | None = None,
                    label_mode: str = "majority", label_set: str | None = None,
                    preprocess: dict | None = None) -> DataConfig:
    """A :class:`DataConfig` from a path: a FER2013 CSV (with FER+ ``votes``), a folder of
    class folders, or (with ``pattern``) a folder of label-carrying file names; a
    ``.json``/``.yaml`` file is read as a data config itself (or a training config's ``data``)."""
    p = Path(path)
    if p.suffix in (".json", ".yaml", ".yml"):
        d = read_config_file(p, "data config")
        if not isinstance(d, dict):
            raise ConfigError(f"{p}: a data config is a mapping of options")
        return DataConfig.from_dict(d.get("data", d))
    if p.is_dir():
        kind = "filenames" if pattern else "folder"
        return DataConfig(kind=kind, path=str(p), pattern=pattern, label_set=label_set,
                          preprocess=dict(preprocess or {}))
    if votes:
        return DataConfig(kind="ferplus", path=str(p), votes=votes, label_mode=label_mode)
    return DataConfig(kind="fer2013", path=str(p))


def dataset_label(ds) -> str:
    """A dataset's name without its split suffix (``fer2013:PrivateTest`` -> ``fer2013``)."""
    return ds.name.split(":")[0]


def evaluate_checkpoint(checkpoint, data: DataConfig | None = None, split: str | None = None,
                        tta: str = "flip", temperature: float = 1.0, out_dir=None,
                        device: str | None = None, progress: bool = True,
                        dataset=None) -> EvaluationReport:
    """Evaluate a training checkpoint (path or :class:`LoadedCheckpoint`).

    ``data`` defaults to the data it was trained on, ``split`` to its test
    split (the split :func:`ferkit.train.splits.resolve_splits` gave training);
    ``dataset`` (a loaded :class:`FaceDataset`) replaces loading ``data``.
    Writes the report and plots to ``out_dir`` when given.
    """
    import torch

    from .checkpoint import LoadedCheckpoint, load_checkpoint
    from .inference import model_images, predict_logits

    if tta not in TTA_MODES:
        raise UsageError(f"tta must be one of {', '.join(TTA_MODES)}, not {tta!r}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    ck = checkpoint if isinstance(checkpoint, LoadedCheckpoint) else load_checkpoint(checkpoint,
                                                                                     device)
    cfg = ck.config
    data = data or cfg.data
    if dataset is None:
        dataset = load_dataset(data.with_preprocess(cfg.data.preprocess_mode), cfg.image_size,
                               cfg.channels, progress)
    part, split_name = pick_split(dataset, split, data)
    logits = predict_logits(ck.model, model_images(part.images, cfg), cfg, tta,
                            progress=progress)
    probs = softmax(logits.numpy(), temperature)
    report = evaluate_probabilities(probs, part.hard_targets, ck.label_set, part.label_set,
                                    model=f"{cfg.name}:{ck.path.name}",
                                    dataset=dataset_label(dataset), split=split_name, tta=tta,
                                    temperature=temperature)
    report.samples_digest = membership_digest(part)
    if out_dir is not None:
        report.save(out_dir)
    return report


def evaluate_onnx(model, data: DataConfig | None = None, split: str | None = None,
                  out_dir=None, threads: int = 0, progress: bool = True,
                  dataset=None) -> EvaluationReport:
    """Evaluate an ONNX model with its card (path, packaged name or classifier).

    Probabilities come from :meth:`ExpressionClassifier.predict`, so the
    card's channels, CLAHE, normalisation and temperature apply exactly as at
    inference. ``data`` defaults to the card's training data (and its split);
    ``dataset`` (a :class:`FaceDataset` of un-equalised crops) replaces loading it.
    """
    clf = load_onnx_model(model, threads)
    card = clf.card
    if data is None and "data" in card.training:
        data = DataConfig.from_dict(card.training["data"])
    if dataset is None:
        if data is None:
            raise UsageError(f"{card.name}: the card records no training data; pass data")
        dataset = load_dataset(data.with_preprocess("none"), card.input.size, card.input.channels,
                               progress)
    part, split_name = pick_split(dataset, split, data or DataConfig())
    probs = onnx_outputs(clf, part.images, progress=progress)
    tta = card.training.get("export", {}).get("tta", "none")
    report = evaluate_probabilities(probs, part.hard_targets, card.label_set_obj, part.label_set,
                                    model=card.name, dataset=dataset_label(dataset),
                                    split=split_name, tta=tta, temperature=card.temperature)
    report.samples_digest = membership_digest(part)
    if out_dir is not None:
        report.save(out_dir)
    return report
