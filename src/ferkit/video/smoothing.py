"""Temporal smoothing of one track's class probabilities.

``Smoothing("ema", alpha=0.3)`` is an exponential moving average (``alpha`` is
the weight of the newest frame); ``Smoothing("window", window=5)`` a moving
average over the last ``window`` analysed frames; ``Smoothing("none")`` passes
values through. Each track gets its own state from :meth:`Smoothing.new`.
:class:`Smoothing` itself lives in :mod:`ferkit.video.options` (no NumPy needed
to check a setting); the smoothers are here.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ferkit.video.options import SMOOTHING_METHODS as METHODS
from ferkit.video.options import Smoothing

__all__ = ["METHODS", "ExponentialSmoother", "Smoother", "Smoothing", "WindowSmoother"]


class Smoother:
    """Identity: returns each frame's probabilities unchanged."""

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p, dtype=np.float64)


class ExponentialSmoother(Smoother):
    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.value: np.ndarray | None = None

    def __call__(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        self.value = p.copy() if self.value is None else self.alpha * p + (1 - self.alpha) * self.value
        return self.value


class WindowSmoother(Smoother):
    def __init__(self, window: int) -> None:
        self.values: deque[np.ndarray] = deque(maxlen=window)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        self.values.append(np.asarray(p, dtype=np.float64))
        return np.mean(self.values, axis=0)
