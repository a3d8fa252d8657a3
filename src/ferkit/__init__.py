"""ferkit: facial expression recognition in photos, videos and streams.

>>> import ferkit
>>> result = ferkit.analyze("photo.jpg")          # every face, with its expression
>>> analyzer = ferkit.Analyzer(model="default")   # reuse across many images
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Public names and the module each lives in; imported on first use so that
# `import ferkit.train` or the CLI start without loading every stage.
_EXPORTS = {
    "Analyzer": "ferkit.analyzer", "AnalyzerOptions": "ferkit.analyzer", "ModelCard": "ferkit.card",
    "ImageError": "ferkit.imageio", "load_image": "ferkit.imageio",
    "LabelSet": "ferkit.labels", "get_label_set": "ferkit.labels", "FER7": "ferkit.labels",
    "FERPLUS8": "ferkit.labels", "KOREAN5": "ferkit.labels", "KOREAN6": "ferkit.labels",
    "KOREAN7": "ferkit.labels",
    "Detection": "ferkit.results", "Face": "ferkit.results", "ImageResult": "ferkit.results",
    "to_dataframe": "ferkit.results",
    "analyze_video": "ferkit.video", "VideoOptions": "ferkit.video", "VideoResult": "ferkit.video",
    **{name: "ferkit.errors" for name in (
        "FerkitError", "UsageError", "UnknownNameError", "ConfigError", "DatasetError",
        "ModelError", "InputError", "OutputError")},
}


if TYPE_CHECKING:  # what IDEs and type checkers see of the lazy names
    __version__: str

    from ferkit.analyzer import Analyzer, AnalyzerOptions
    from ferkit.card import ModelCard
    from ferkit.errors import (
        ConfigError,
        DatasetError,
        FerkitError,
        InputError,
        ModelError,
        OutputError,
        UnknownNameError,
        UsageError,
    )
    from ferkit.imageio import ImageError, load_image
    from ferkit.labels import FER7, FERPLUS8, KOREAN5, KOREAN6, KOREAN7, LabelSet, get_label_set
    from ferkit.results import Detection, Face, ImageResult, to_dataframe
    from ferkit.video import VideoOptions, VideoResult, analyze_video


def _version() -> str:
    """The installed distribution's version (looked up on first use of ``__version__``)."""
    from importlib import metadata

    try:
        return metadata.version("ferkit")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name == "__version__":
        globals()["__version__"] = version = _version()
        return version
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | {"__version__"})


_default_analyzer = None


def analyze(image, **options):
    """Every face in ``image`` (path, bytes, array, PIL image) with its expression.

    Uses a default :class:`Analyzer`, built on first call and then reused;
    ``options`` go to :meth:`Analyzer.analyze` (``file``, ``crop``, ``channel_order``).
    """
    global _default_analyzer
    if _default_analyzer is None:
        from ferkit.analyzer import Analyzer

        _default_analyzer = Analyzer()
    return _default_analyzer.analyze(image, **options)


__all__ = [
    "FER7", "FERPLUS8", "KOREAN5", "KOREAN6", "KOREAN7", "Analyzer", "AnalyzerOptions", "ConfigError",
    "DatasetError", "Detection", "Face", "FerkitError", "ImageError", "ImageResult", "InputError",
    "LabelSet", "ModelCard", "ModelError", "OutputError", "UnknownNameError", "UsageError",
    "VideoOptions", "VideoResult", "__version__", "analyze", "analyze_video", "get_label_set",
    "load_image", "to_dataframe",
]
