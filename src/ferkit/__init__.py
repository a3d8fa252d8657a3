"""ferkit: facial expression recognition in photos, videos and streams.

>>> import ferkit
>>> result = ferkit.analyze("photo.jpg")          # every face, with its expression
>>> analyzer = ferkit.Analyzer(model="default")   # reuse across many images
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib

# Public names and the module each lives in; imported on first use so that
# `import ferkit.train` or the CLI start without loading every stage.
_EXPORTS = {
    "Analyzer": "ferkit.analyzer", "ModelCard": "ferkit.card",
    "ImageError": "ferkit.imageio", "load_image": "ferkit.imageio",
    "LabelSet": "ferkit.labels", "get_label_set": "ferkit.labels", "FER7": "ferkit.labels",
    "FERPLUS8": "ferkit.labels", "KOREAN5": "ferkit.labels", "KOREAN7": "ferkit.labels",
    "Face": "ferkit.results", "ImageResult": "ferkit.results", "to_dataframe": "ferkit.results",
    "analyze_video": "ferkit.video", "VideoResult": "ferkit.video",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")


_default_analyzer = None


def analyze(image, **options):
    """Every face in ``image`` (path, bytes, array, PIL image) with its expression.

    Uses a default :class:`Analyzer`, built on first call and then reused;
    ``options`` go to :meth:`Analyzer.analyze` (``crop``, ``channel_order``).
    """
    global _default_analyzer
    if _default_analyzer is None:
        from ferkit.analyzer import Analyzer

        _default_analyzer = Analyzer()
    return _default_analyzer.analyze(image, **options)


__all__ = [*_EXPORTS, "analyze", "__version__"]
