"""Expression classification of aligned face crops with ONNX Runtime."""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort

from ferkit.models import resolve_model
from ferkit.preprocess import normalize, to_model_pixels
from ferkit.runtime import session_options


class ExpressionClassifier:
    """Turns aligned face crops into calibrated class probabilities.

    The model card gives input size, channels, normalisation, CLAHE and the
    temperature that calibrates the softmax.
    """

    def __init__(self, model: str | os.PathLike | None = "default", threads: int = 0) -> None:
        self.model_path, self.card = resolve_model(model)
        self.session = ort.InferenceSession(str(self.model_path), session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.labels: list[str] = list(self.card.labels)

    @property
    def input_size(self) -> int:
        return self.card.input.size

    @property
    def channels(self) -> int:
        return self.card.input.channels

    def prepare(self, crops: np.ndarray) -> np.ndarray:
        """uint8 RGB crops ``(N, S, S, 3)`` to the normalised ``(N, C, S, S)`` float32 input."""
        spec = self.card.input
        pixels = np.stack([to_model_pixels(c, spec.channels, spec.clahe) for c in crops])
        return normalize(pixels, spec.mean, spec.std)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.session.run(None, {self.input_name: self.prepare(crops)})[0]

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``(N, classes)`` for uint8 RGB crops ``(N, S, S, 3)``."""
        z = self.logits(crops).astype(np.float64) / self.card.temperature
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

