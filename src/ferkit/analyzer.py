"""The image pipeline: detect → align → classify, wired once and reused across calls."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from ferkit.align import align_face
from ferkit.classify import ExpressionClassifier
from ferkit.detect import Detector, create_detector
from ferkit.imageio import ImageError, display_name, is_image_path, load_image
from ferkit.results import Face, ImageResult


class Analyzer:
    """Finds every face in an image and says its expression.

    ``detector`` is a backend name (see :func:`ferkit.detect.list_detectors`) or a
    :class:`~ferkit.detect.Detector`; ``model`` a packaged model name or an
    ``.onnx`` path with its card beside it. ``margin`` overrides the card's
    alignment margin; ``keep_crops`` stores each face's aligned crop on ``Face.crop``.
    """

    def __init__(self, detector: str | Detector = "retinaface", model: str | os.PathLike = "default",
                 *, margin: float | None = None, min_face_size: int = 16,
                 score_threshold: float | None = None, threads: int = 0,
                 keep_crops: bool = False) -> None:
        self.classifier = ExpressionClassifier(model, threads=threads)
        if isinstance(detector, Detector):
            self.detector = detector
        else:
            opts = {"min_face_size": min_face_size, "threads": threads}
            if score_threshold is not None:
                opts["score_threshold"] = score_threshold
            self.detector = create_detector(detector, **opts)
        self.margin = self.card.align.margin if margin is None else margin
        self.keep_crops = keep_crops

    @property
    def card(self):
        """The classifier's :class:`~ferkit.card.ModelCard`."""
        return self.classifier.card

    @property
    def labels(self) -> list[str]:
        """Class names in model output order."""
        return self.classifier.labels

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces (box, score, landmarks) in an RGB uint8 image, without expressions."""
        return self.detector.detect(image)

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The face's aligned RGB crop at the model's input size."""
        return align_face(image, face.landmarks, self.classifier.input_size, box=face.box,
                          template=self.card.align.template, margin=self.margin)

    def classify(self, image: np.ndarray, faces: list[Face]) -> list[Face]:
        """Fill ``label`` and ``probabilities`` of ``faces`` in place (one batch)."""
        if not faces:
            return faces
        crops = np.stack([self.align(image, f) for f in faces])
        self._label(faces, crops)
        return faces

    def classify_crops(self, crops: Iterable[np.ndarray]) -> list[Face]:
        """Classify images that are already face crops (no detection, no alignment)."""
        size = self.classifier.input_size
        images = [load_image(c) for c in crops]
        resized = np.stack([_resize(im, size) for im in images])
        faces = [Face((0.0, 0.0, float(im.shape[1]), float(im.shape[0])), 1.0) for im in images]
        self._label(faces, resized)
        return faces

    def _label(self, faces: list[Face], crops: np.ndarray) -> None:
        probs = self.classifier.predict(crops)
        for face, p, crop in zip(faces, probs, crops):
            face.probabilities = {k: float(v) for k, v in zip(self.labels, p)}
            face.label = self.labels[int(p.argmax())]
            if self.keep_crops:
                face.crop = crop

    def analyze(self, image, file: str | None = None, *, crop: bool = False,
                channel_order: str = "rgb") -> ImageResult:
        """Every face in ``image`` (path, bytes, array, PIL image) with its expression.

        With ``crop=True`` the whole image is taken as one face crop. Read errors
        raise :class:`~ferkit.imageio.ImageError`; see :meth:`analyze_files` for
        batches that record errors instead.
        """
        if file is None:
            file = display_name(image) if isinstance(image, (str, os.PathLike)) else "<image>"
        rgb = load_image(image, channel_order=channel_order)
        h, w = rgb.shape[:2]
        faces = self.classify_crops([rgb]) if crop else self.classify(rgb, self.detect(rgb))
        return ImageResult(file, w, h, faces)

    def analyze_files(self, paths: Iterable[str | os.PathLike], *,
                      crop: bool = False) -> Iterator[tuple[ImageResult, np.ndarray | None]]:
        """Analyse files one by one; a file that fails yields a result with ``error`` set.

        Yields ``(result, rgb_image)``; the image is ``None`` when it could not be read.
        """
        for path in paths:
            name = display_name(path)
            try:
                rgb = load_image(path)
            except (ImageError, OSError) as e:
                yield ImageResult(name, error=str(e)), None
                continue
            try:
                h, w = rgb.shape[:2]
                faces = self.classify_crops([rgb]) if crop else self.classify(rgb, self.detect(rgb))
                yield ImageResult(name, w, h, faces), rgb
            except Exception as e:  # one bad image must not end a batch
                yield ImageResult(name, rgb.shape[1], rgb.shape[0],
                                  error=f"analysis failed: {type(e).__name__}: {e}"), rgb


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> tuple[list[Path], list[ImageResult]]:
    """Files to analyse from files, folders (recursive) and glob patterns.

    Returns the files in a stable order and an error result for each input that
    names nothing usable (missing path, folder without images, glob with no match).
    """
    files: list[Path] = []
    errors: list[ImageResult] = []
    for item in inputs:
        text = os.fsdecode(item)
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p))
            if not found:
                errors.append(ImageResult(display_name(path), error=f"no images found in folder: {display_name(path)}"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        elif glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not found:
                errors.append(ImageResult(display_name(text), error=f"no files match: {display_name(text)}"))
            files.extend(found)
        else:
            errors.append(ImageResult(display_name(path), error=f"file not found: {display_name(path)}"))
    return files, errors
