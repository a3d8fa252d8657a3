"""Training checkpoints (``best.ckpt`` / ``last.ckpt``): writing, reading and the format version.

A checkpoint is a ``torch.save`` dict with ``version`` (:data:`CHECKPOINT_VERSION`),
``config``, ``epoch`` (0-based, last completed), ``model``, ``optimizer``,
``generator``, ``torch_rng``, ``best``, ``wall_time_s``, ``label_set``,
``labels``, ``hardware`` and ``splits`` (what :func:`ferkit.train.splits.describe`
says of the split it trained on). Checkpoints written before the version field
existed read as version 1; a newer version is refused with a clear error.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ferkit.errors import ConfigError, ModelError
from ferkit.labels import LabelSet, get_label_set

from .config import TrainConfig, member_dirs
from .models import model_from_config

CHECKPOINT_VERSION = 1
REQUIRED_KEYS = ("model", "config", "epoch", "labels")


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


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` (stamped with :data:`CHECKPOINT_VERSION`) atomically: a reader
    never sees half a file, and an interrupted write leaves the previous one."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({**state, "version": CHECKPOINT_VERSION}, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """The raw checkpoint dict, after checking it is a ferkit checkpoint this version reads."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    try:
        ck = torch.load(path, map_location=device, weights_only=False)
    except (RuntimeError, OSError, EOFError, ValueError, AttributeError, ImportError,
            pickle.UnpicklingError) as e:       # zip, pickle and torch errors of garbage files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: not a readable checkpoint ({first})") from None
    if not isinstance(ck, dict) or any(k not in ck for k in REQUIRED_KEYS):
        raise ModelError(f"{path}: not a ferkit training checkpoint")
    version = ck.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelError(f"{path}: unknown checkpoint format version {version!r}")
    if version > CHECKPOINT_VERSION:
        raise ModelError(f"{path}: checkpoint format version {version} was written by a newer "
                         f"ferkit; this one reads up to version {CHECKPOINT_VERSION} "
                         "(upgrade ferkit)")
    return ck


def checkpoint_label_set(ck: dict) -> LabelSet:
    ls = get_label_set(ck["labels"])
    return ls if ls.name != "custom" else LabelSet(ck.get("label_set", "custom"), tuple(ck["labels"]))


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """The model of a checkpoint, ready for inference, with its config and label set."""
    path = Path(path)
    ck = read_checkpoint(path, device)
    try:
        cfg = TrainConfig.from_dict(ck["config"])
    except ConfigError as e:
        raise ModelError(f"{path}: its config cannot be read ({e})") from None
    ls = checkpoint_label_set(ck)
    model = model_from_config(cfg, len(ls))
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise ModelError(f"{path}: weights do not fit {cfg.model} with {len(ls)} classes "
                         f"({str(e).splitlines()[0]})") from None
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
    raise ModelError(f"no checkpoint at {path} (expected a .ckpt file, a run folder with "
                     "best.ckpt, or an ensemble folder with member-*/best.ckpt)")
