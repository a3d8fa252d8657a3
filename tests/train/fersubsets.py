"""Small real subsets of FER2013 for the training-pipeline tests."""

from __future__ import annotations

import numpy as np


def fer_subset(ds, per_split: dict[str, int], seed: int = 0):
    """A random subset of FER2013 with ``per_split[name]`` rows from each named split."""
    rng = np.random.default_rng(seed)
    idx = [rng.choice(np.flatnonzero(ds.split == s), n, replace=False) for s, n in per_split.items()]
    return ds.subset(np.sort(np.concatenate(idx)), name="fer2013")
