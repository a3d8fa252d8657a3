"""The in-memory dataset type every loader returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferkit.errors import DatasetError
from ferkit.labels import LabelSet


def cache_dir() -> Path:
    """Where loaders cache decoded data: ``$FERKIT_CACHE`` or ``~/.cache/ferkit``."""
    return Path(os.environ.get("FERKIT_CACHE", Path.home() / ".cache" / "ferkit"))


@dataclass
class FaceDataset:
    """Face crops with hard or soft labels over a declared label set.

    ``images`` is ``uint8`` of shape ``(N, H, W)`` (grayscale) or ``(N, H, W, 3)`` (RGB).
    ``targets`` is ``int64`` ``(N,)`` for hard labels or ``float32`` ``(N, C)``
    for soft labels (rows sum to 1). ``split`` names the split of each sample
    (e.g. ``"Training"``), ``sources`` says where each sample came from.
    """

    images: np.ndarray
    targets: np.ndarray
    label_set: LabelSet
    split: np.ndarray = None
    sources: np.ndarray = None
    name: str = "dataset"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if len(self.targets) != n:
            raise ValueError(f"{n} images but {len(self.targets)} targets")
        if self.split is None:
            self.split = np.full(n, "all", dtype=object)
        if self.sources is None:
            self.sources = np.arange(n).astype(str).astype(object)
        if self.soft and self.targets.shape[1] != len(self.label_set):
            raise ValueError(f"soft targets have {self.targets.shape[1]} columns, "
                             f"label set {self.label_set.name} has {len(self.label_set)}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def soft(self) -> bool:
        """True when targets are per-class distributions."""
        return self.targets.ndim == 2

    @property
    def hard_targets(self) -> np.ndarray:
        """Class index per sample (argmax of soft targets)."""
        return self.targets.argmax(1) if self.soft else self.targets

    @property
    def channels(self) -> int:
        return 1 if self.images.ndim == 3 else self.images.shape[-1]

    def subset(self, mask_or_index, name: str | None = None) -> FaceDataset:
        idx = np.asarray(mask_or_index)
        return FaceDataset(self.images[idx], self.targets[idx], self.label_set,
                           self.split[idx], self.sources[idx], name or self.name, dict(self.info))

    def select_split(self, *names: str) -> FaceDataset:
        """Samples of the given split(s), e.g. ``ds.select_split("PublicTest")``."""
        mask = np.isin(self.split, names)
        if not mask.any():
            raise DatasetError(f"{self.name}: no samples in split(s) {names}; "
                             f"splits present: {sorted(set(self.split))}")
        return self.subset(mask, f"{self.name}:{'+'.join(names)}")

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.hard_targets, minlength=len(self.label_set))
