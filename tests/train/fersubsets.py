"""Small real subsets of FER2013 for the training-pipeline tests."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ferkit.labels import FER7


def fer_subset(ds, per_split: dict[str, int], seed: int = 0):
    """A random subset of FER2013 with ``per_split[name]`` rows from each named split."""
    rng = np.random.default_rng(seed)
    idx = [rng.choice(np.flatnonzero(ds.split == s), n, replace=False) for s, n in per_split.items()]
    return ds.subset(np.sort(np.concatenate(idx)), name="fer2013")


def write_class_folders(ds, root, per_class: int = 12, classes=FER7.labels):
    """FER2013 rows as PNGs in ``root/<class>/<row>.png`` (``per_class`` of each class)."""
    for name in classes:
        c = FER7.labels.index(name)
        (root / name).mkdir(parents=True)
        for i in np.flatnonzero(ds.targets == c)[:per_class]:
            Image.fromarray(ds.images[i]).save(root / name / f"{i}.png")
    return root
