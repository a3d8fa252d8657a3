"""Training, evaluation and export of expression models (``pip install 'ferkit[train]'``)."""

from .config import DataConfig, TrainConfig
from .trainer import TrainResult, train

__all__ = ["DataConfig", "TrainConfig", "TrainResult", "train"]
