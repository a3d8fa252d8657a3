"""Expression classification of aligned face crops with ONNX Runtime."""

from __future__ import annotations

import math
import os

import numpy as np

from ferkit.card import MAX_PRIOR_TAU
from ferkit.errors import ModelError, UsageError, check_number
from ferkit.models import resolve_model
from ferkit.preprocess import model_pixels, normalize
from ferkit.runtime import create_session, softmax


class ExpressionClassifier:
    """Turns aligned face crops into calibrated class probabilities.

    The model card gives input size, channels, preprocessing, normalisation and the
    temperature that calibrates the softmax. A card that disagrees with its
    ONNX graph (input shape, number of classes) or a temperature that is not
    a positive number is refused at load with :class:`~ferkit.errors.ModelError`.

    ``prior_correction`` is the strength ``tau`` of the class-prior correction
    (see :class:`~ferkit.card.PriorCorrection`): ``None`` keeps the card's
    setting, ``0`` turns it off; any other value needs a card that records the
    model's class prior.
    """

    def __init__(self, model: str | os.PathLike | None = "default", threads: int = 0,
                 prior_correction: float | None = None) -> None:
        self.model_path, self.card = resolve_model(model)
        self.session = create_session(self.model_path, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.labels: list[str] = list(self.card.labels)
        self._check_card()
        self.prior_tau = self._prior_tau(prior_correction)
        self._shift = (self.prior_tau * np.log(self.card.prior_correction.prior)
                       if self.prior_tau else None)

    def _prior_tau(self, tau: float | None) -> float:
        correction = self.card.prior_correction
        if tau is None:
            return correction.tau if correction is not None else 0.0
        check_number("prior_correction", tau, low=0.0, high=MAX_PRIOR_TAU)
        if tau and correction is None:
            raise UsageError(f"{self.card.name}: its card records no class prior, so prior "
                             "correction cannot be applied (export the model with this ferkit "
                             "to record it)")
        return float(tau)

    def _check_card(self) -> None:
        name, card = self.model_path.name, self.card
        t = card.temperature
        if not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise ModelError(f"{name}: its card's temperature must be a positive number, got {t!r}")
        if len(set(self.labels)) != len(self.labels) or len(self.labels) < 2:
            raise ModelError(f"{name}: its card must name at least two distinct labels, got {self.labels}")
        shape = self.session.get_inputs()[0].shape
        want = [card.input.channels, card.input.size, card.input.size]
        if len(shape) != 4 or any(isinstance(d, int) and d != w for d, w in zip(shape[1:], want)):
            raise ModelError(f"{name}: the graph takes input {shape} but its card says "
                             f"(N, {want[0]}, {want[1]}, {want[2]})")
        outputs = self.session.get_outputs()[0].shape
        classes = outputs[-1] if outputs else None
        if isinstance(classes, int) and classes != len(self.labels):
            raise ModelError(f"{name}: the graph gives {classes} classes but its card names "
                             f"{len(self.labels)} labels")

    @property
    def input_size(self) -> int:
        return self.card.input.size

    @property
    def channels(self) -> int:
        return self.card.input.channels

    def prepare(self, crops: np.ndarray) -> np.ndarray:
        """uint8 RGB crops ``(N, S, S, 3)`` to the normalised ``(N, C, S, S)`` float32 input."""
        spec = self.card.input
        pixels = np.stack([model_pixels(c, spec.channels, spec.preprocess) for c in crops])
        return normalize(pixels, spec.mean, spec.std)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.session.run(None, {self.input_name: self.prepare(crops)})[0]

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``(N, classes)`` for uint8 RGB crops ``(N, S, S, 3)``
        (class-prior corrected when :attr:`prior_tau` is not 0): finite, each row summing to 1."""
        return softmax(self.logits(crops), self.card.temperature, self._shift)
