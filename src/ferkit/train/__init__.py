"""Training, evaluation and export of expression models (``pip install 'ferkit[train]'``).

Names are imported on first use: configs, dataset loaders and the evaluation
of ONNX models work without torch; training, checkpoints and export need it.
"""

from __future__ import annotations

import importlib

from .config import DataConfig, TrainConfig

_EXPORTS = {
    "train": "ferkit.train.trainer", "train_ensemble": "ferkit.train.trainer",
    "TrainResult": "ferkit.train.trainer",
    "load_checkpoint": "ferkit.train.checkpoint", "find_checkpoints": "ferkit.train.checkpoint",
    "resolve_splits": "ferkit.train.splits", "pick_split": "ferkit.train.splits",
    "evaluate_checkpoint": "ferkit.train.evaluate", "evaluate_onnx": "ferkit.train.evaluate",
    "fit_temperature": "ferkit.train.calibrate", "export_onnx": "ferkit.train.export",
    "read_run": "ferkit.train.compare", "plot_curves": "ferkit.train.compare",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ferkit.train' has no attribute {name!r}")


__all__ = ["DataConfig", "TrainConfig", "TrainResult", "evaluate_checkpoint", "evaluate_onnx",
           "export_onnx", "find_checkpoints", "fit_temperature", "load_checkpoint", "pick_split",
           "plot_curves", "read_run", "resolve_splits", "train", "train_ensemble"]
assert set(__all__) == {"DataConfig", "TrainConfig", *_EXPORTS}
