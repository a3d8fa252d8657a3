"""Temporal smoothing of one track's class probabilities.

``Smoothing("ema", alpha=0.3)`` is an exponential moving average (``alpha`` is
the weight of the newest frame); ``Smoothing("window", window=5)`` a moving
average over the last ``window`` analysed frames; ``Smoothing("none")`` passes
values through. Each track gets its own state from :meth:`Smoothing.new`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ferkit.errors import UsageError

METHODS = ("none", "ema", "window")


@dataclass(frozen=True)
class Smoothing:
    method: str = "ema"
    alpha: float = 0.3
    window: int = 5

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UsageError(f"unknown smoothing {self.method!r}; known: {', '.join(METHODS)}")
        if not 0 < self.alpha <= 1:
            raise UsageError(f"smoothing alpha must be in (0, 1], got {self.alpha}")
        if self.window < 1:
            raise UsageError(f"smoothing window must be >= 1, got {self.window}")

    @classmethod
    def parse(cls, spec: "str | Smoothing | None") -> "Smoothing":
        """From ``"none"``, ``"ema"``, ``"ema:0.2"``, ``"window"``, ``"window:9"`` or a :class:`Smoothing`."""
        if isinstance(spec, Smoothing):
            return spec
        if spec is None:
            return cls("none")
        method, _, value = str(spec).strip().lower().partition(":")
        if not value:
            return cls(method)
        try:
            return cls(method, alpha=float(value)) if method == "ema" else cls(method, window=int(value))
        except ValueError:
            raise UsageError(f"bad smoothing {spec!r}; use none, ema[:alpha] or window[:frames]") from None

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    def new(self) -> "Smoother":
        """Fresh state for one track."""
        if self.method == "ema":
            return ExponentialSmoother(self.alpha)
        if self.method == "window":
            return WindowSmoother(self.window)
        return Smoother()

    def __str__(self) -> str:
        if self.method == "ema":
            return f"ema:{self.alpha:g}"
        if self.method == "window":
            return f"window:{self.window}"
        return "none"


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
