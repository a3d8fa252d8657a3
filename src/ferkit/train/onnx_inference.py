"""Running an exported ONNX model (with its card) on dataset crops, as inference does.

Probabilities come from :class:`ferkit.classify.ExpressionClassifier`, so the
card's channels, CLAHE, normalisation and temperature apply exactly as in
``ferkit analyze``. Needs ONNX Runtime only, not torch.
"""

from __future__ import annotations

import numpy as np

from ferkit.progress import progress_bar

from .datasets.preprocess import resize_crop


def crops_for_card(images: np.ndarray, size: int) -> np.ndarray:
    """Dataset crops (gray or RGB) as the uint8 RGB ``(N, size, size, 3)`` crops inference gets."""
    rgb = np.repeat(images[..., None], 3, -1) if images.ndim == 3 else images
    if rgb.shape[1] != size:
        rgb = np.stack([resize_crop(im, size) for im in rgb])
    return rgb


def load_onnx_model(model, threads: int = 0):
    """An :class:`~ferkit.classify.ExpressionClassifier` for a path, packaged name or classifier."""
    from ferkit.classify import ExpressionClassifier

    return model if isinstance(model, ExpressionClassifier) else ExpressionClassifier(model, threads)


def onnx_outputs(classifier, images: np.ndarray, kind: str = "probabilities",
                 batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """``classifier.predict`` (calibrated probabilities) or ``.logits`` over dataset crops."""
    fn = classifier.predict if kind == "probabilities" else classifier.logits
    out = []
    with progress_bar(progress, remaining=False) as bar:
        task = bar.add_task("predict", total=len(images))
        for i in range(0, len(images), batch_size):
            out.append(fn(crops_for_card(images[i:i + batch_size], classifier.input_size)))
            bar.advance(task, len(out[-1]))
    return np.concatenate(out) if out else np.zeros((0, len(classifier.labels)))
