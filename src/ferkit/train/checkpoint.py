"""Reading a training checkpoint (``best.ckpt`` / ``last.ckpt``) back into a model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ferkit.labels import LabelSet, get_label_set

from .config import TrainConfig, member_dirs
from .models import create_model


@dataclass
class LoadedCheckpoint:
    path: Path
    model: nn.Module            # in eval mode, float32, on the requested device
    config: TrainConfig
    label_set: LabelSet
    epoch: int                  # epochs completed when it was saved
    wall_time_s: float
    hardware: str
    best: dict


def checkpoint_label_set(ck: dict) -> LabelSet:
    ls = get_label_set(ck["labels"])
    return ls if ls.name != "custom" else LabelSet(ck.get("label_set", "custom"), tuple(ck["labels"]))


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """The model of a checkpoint, ready for inference, with its config and label set."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ck = torch.load(path, map_location=device, weights_only=False)
    if not isinstance(ck, dict) or "model" not in ck or "config" not in ck:
        raise ValueError(f"{path}: not a ferkit training checkpoint")
    cfg = TrainConfig.from_dict(ck["config"])
    ls = checkpoint_label_set(ck)
    model = create_model(cfg.model, len(ls), cfg.channels, cfg.drop_rate)
    model.load_state_dict(ck["model"])
    model.to(device).eval()
    return LoadedCheckpoint(path, model, cfg, ls, int(ck["epoch"]) + 1,
                            float(ck.get("wall_time_s", 0.0)), ck.get("hardware", ""),
                            dict(ck.get("best", {})))


def find_checkpoints(path: str | os.PathLike) -> list[Path]:
    """The checkpoints ``path`` names: a ``.ckpt`` file, a run folder (its ``best.ckpt``)
    or an ensemble run folder (each ``member-<i>/best.ckpt``)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if (path / "best.ckpt").is_file():
        return [path / "best.ckpt"]
    members = [d / "best.ckpt" for d in member_dirs(path) if (d / "best.ckpt").is_file()]
    if members:
        return members
    raise FileNotFoundError(f"no checkpoint at {path} (expected a .ckpt file, a run folder with "
                            "best.ckpt, or an ensemble folder with member-*/best.ckpt)")
