"""Dataset loaders. Each returns a :class:`FaceDataset` with a declared label set."""

from __future__ import annotations

from ferkit.errors import ConfigError, UnknownNameError

from .base import FaceDataset
from .fer2013 import load_fer2013, load_fer2013_blended, load_ferplus
from .filenames import load_filenames
from .folders import load_folder
from .manifest import is_manifest_dataset, load_manifest
from .preprocess import PreprocessOptions, apply_mode

__all__ = ["FaceDataset", "PreprocessOptions", "load_dataset", "load_fer2013",
           "load_fer2013_blended", "load_ferplus",
           "load_filenames", "load_folder", "load_manifest"]

DATA_KINDS = ("fer2013", "ferplus", "folder", "filenames", "manifest")


def load_dataset(data, image_size: int = 48, channels: int = 1,
                 progress: bool = True) -> FaceDataset:
    """Load the dataset a :class:`~ferkit.train.config.DataConfig` describes.

    Image files are cropped at ``image_size`` with ``channels`` unless
    ``data.preprocess`` says otherwise. FER2013 rows are crops already; of the
    preprocessing options only the pixel transform ``mode`` applies to them.
    """
    pre = dict(data.preprocess or {})
    if data.kind in ("fer2013", "ferplus"):
        other = set(pre) - {"clahe", "mode"}
        if other:
            raise ConfigError(f"preprocess option(s) {', '.join(sorted(other))} apply to image "
                             f"files, not to {data.kind} rows (only 'mode' does)")
        if data.kind == "fer2013" and data.label_mode == "blend":
            if not data.votes:
                raise ConfigError("data.label_mode 'blend' needs data.votes (fer2013new.csv)")
            ds = load_fer2013_blended(data.path, data.votes, data.blend)
        elif data.kind == "fer2013":
            ds = load_fer2013(data.path)
        else:
            if not data.votes:
                raise ConfigError("data.kind 'ferplus' needs data.votes (fer2013new.csv)")
            mode = "soft" if data.label_mode == "soft" else "majority"
            ds = load_ferplus(data.path, data.votes, mode)
        pixels = data.preprocess_mode
        if pixels != "none":
            ds.images = apply_mode(ds.images, pixels)
            ds.info["preprocess"] = pixels
        return ds
    opts = PreprocessOptions.from_dict(pre, size=image_size, channels=channels)
    if data.kind == "manifest" or (data.kind == "folder" and is_manifest_dataset(data.path)):
        return load_manifest(data.path, data.label_set, opts, progress)
    if data.kind == "folder":
        return load_folder(data.path, data.label_set, opts, progress)
    if data.kind == "filenames":
        return load_filenames(data.path, data.pattern, data.label_set, opts, progress)
    raise UnknownNameError(f"unknown data kind {data.kind!r}; known: {', '.join(DATA_KINDS)}")
