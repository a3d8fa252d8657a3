"""Dataset loaders. Each returns a :class:`FaceDataset` with a declared label set."""

from __future__ import annotations

from .base import FaceDataset
from .fer2013 import load_fer2013, load_ferplus

__all__ = ["FaceDataset", "load_fer2013", "load_ferplus", "load_dataset"]


def load_dataset(data) -> FaceDataset:
    """Load the dataset a :class:`~ferkit.train.config.DataConfig` describes."""
    if data.kind == "fer2013":
        return load_fer2013(data.path)
    if data.kind == "ferplus":
        if not data.votes:
            raise ValueError("data.kind 'ferplus' needs data.votes (fer2013new.csv)")
        mode = "soft" if data.label_mode == "soft" else "majority"
        return load_ferplus(data.path, data.votes, mode)
    raise ValueError(f"unknown data kind {data.kind!r}")
