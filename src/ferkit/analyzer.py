"""The image pipeline: detect → align → classify, wired once and reused across calls."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ferkit.align import align_face
from ferkit.card import MAX_PRIOR_TAU
from ferkit.classify import ExpressionClassifier
from ferkit.detect import DEFAULT_DETECTOR, Detector, create_detector
from ferkit.errors import InputError, UsageError, check_int, check_number
from ferkit.imageio import display_name, load_image
from ferkit.results import Detection, Face, ImageResult
from ferkit.runtime import RunAhead

DEFAULT_MODEL = "default"
MAX_MARGIN = 2.0
# Files read and detected ahead of the one being classified (fast analyzers).
FILES_AHEAD = 2
# FERKIT_FAST=0 makes ``fast=False`` the default (benchmarks time the CLI both ways).
FAST_ENV = "FERKIT_FAST"


@dataclass
class AnalyzerOptions:
    """How an :class:`Analyzer` is built; ``ferkit analyze``, ``ferkit video`` and
    :func:`ferkit.analyze_video` share these options and their defaults.

    ``min_face_size``, ``score_threshold`` and ``detect_size`` (the longer side
    frames are scaled to for detection) configure the detector ferkit builds
    from the ``detector`` name; ``None`` keeps the backend's own default.

    ``fast`` (default) detects coarse to fine (see :class:`~ferkit.detect.Detector`)
    and overlaps decoding and detection with classification on a second thread
    in :meth:`Analyzer.analyze_files` and video analysis; ``False`` runs the
    single full-size detection pass and one stage at a time, as ferkit did
    before (kept to measure the two side by side; ``FERKIT_FAST=0`` in the
    environment makes it the default, for the command line).

    ``prior_correction`` sets the strength of the model's class-prior correction
    (see :class:`~ferkit.card.PriorCorrection`; ``None`` keeps the card's, 0 turns it off).
    """

    detector: str | Detector = DEFAULT_DETECTOR
    model: str | os.PathLike = DEFAULT_MODEL
    margin: float | None = None
    min_face_size: int | None = None
    score_threshold: float | None = None
    detect_size: int | None = None
    threads: int = 0
    fast: bool = field(default_factory=lambda: os.environ.get(FAST_ENV, "1") != "0")
    prior_correction: float | None = None

    def __post_init__(self) -> None:
        check_number("margin", self.margin, low=0.0, high=MAX_MARGIN, optional=True)
        check_int("min_face_size", self.min_face_size, low=1, optional=True)
        check_number("score_threshold", self.score_threshold, low=0.0, high=1.0, optional=True)
        check_int("detect_size", self.detect_size, low=32, optional=True)
        check_int("threads", self.threads, low=0)
        check_number("prior_correction", self.prior_correction, low=0.0, high=MAX_PRIOR_TAU,
                     optional=True)
        if not isinstance(self.fast, bool):
            raise UsageError(f"fast must be True or False, got {self.fast!r}")
        if isinstance(self.detector, Detector) and self.detector_options(include_threads=False):
            raise UsageError("min_face_size, score_threshold and detect_size configure a detector "
                             "ferkit builds; with a Detector instance, set them on it instead")

    def detector_options(self, include_threads: bool = True) -> dict:
        """Options for :func:`~ferkit.detect.create_detector` (only those set); with
        ``include_threads`` also the thread count and, unless ``fast``, the single
        full-size pass."""
        opts = {"min_face_size": self.min_face_size, "score_threshold": self.score_threshold,
                "max_side": self.detect_size}
        if include_threads:
            opts["threads"] = self.threads
            if not self.fast:
                opts["coarse_side"] = 0   # the single full-size pass
        return {k: v for k, v in opts.items() if v is not None}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["detector"] = getattr(self.detector, "name", None) or str(self.detector)
        d["model"] = os.fspath(self.model)
        return d


class Analyzer:
    """Finds every face in an image and says its expression.

    ``detector`` is a backend name (see :func:`ferkit.detect.list_detectors`) or a
    :class:`~ferkit.detect.Detector`; ``model`` a packaged model name or an
    ``.onnx`` path with its card beside it. ``margin`` overrides the card's
    alignment margin; ``keep_crops`` stores each face's aligned crop on ``Face.crop``.
    The other options are those of :class:`AnalyzerOptions`; invalid values raise
    :class:`~ferkit.errors.UsageError`.
    """

    def __init__(self, detector: str | Detector = DEFAULT_DETECTOR,
                 model: str | os.PathLike = DEFAULT_MODEL, *, margin: float | None = None,
                 min_face_size: int | None = None, score_threshold: float | None = None,
                 detect_size: int | None = None, threads: int = 0,
                 keep_crops: bool = False, fast: bool | None = None,
                 prior_correction: float | None = None) -> None:
        options = AnalyzerOptions(detector, model, margin, min_face_size, score_threshold,
                                  detect_size, threads, *(() if fast is None else (fast,)),
                                  prior_correction=prior_correction)
        self.options = options
        self.classifier = ExpressionClassifier(options.model, threads=options.threads,
                                               prior_correction=options.prior_correction)
        self.detector = create_detector(options.detector, **options.detector_options())
        self.margin = self.card.align.margin if options.margin is None else options.margin
        self.keep_crops = keep_crops

    @classmethod
    def from_options(cls, options: AnalyzerOptions, keep_crops: bool = False) -> "Analyzer":
        return cls(**{k: getattr(options, k) for k in AnalyzerOptions.__dataclass_fields__},
                   keep_crops=keep_crops)

    @property
    def card(self):
        """The classifier's :class:`~ferkit.card.ModelCard`."""
        return self.classifier.card

    @property
    def labels(self) -> list[str]:
        """Class names in model output order."""
        return self.classifier.labels

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces (box, score, landmarks) in an RGB uint8 image, without expressions."""
        return self.detector.detect(image)

    def align(self, image: np.ndarray, detection: Detection | Face) -> np.ndarray:
        """The face's aligned RGB crop at the model's input size."""
        return align_face(image, detection.landmarks, self.classifier.input_size, box=detection.box,
                          template=self.card.align.template, margin=self.margin)

    def classify(self, image: np.ndarray, detections: Sequence[Detection | Face]) -> list[Face]:
        """A classified :class:`Face` for each detection (one batch through the model)."""
        if not detections:
            return []
        crops = np.stack([self.align(image, d) for d in detections])
        return self._faces(detections, crops)

    def classify_crops(self, crops: Iterable) -> list[Face]:
        """Classify images that are already face crops (no detection, no alignment)."""
        size = self.classifier.input_size
        images = [load_image(c) for c in crops]
        if not images:
            return []
        resized = np.stack([_resize(im, size) for im in images])
        whole = [Detection((0.0, 0.0, float(im.shape[1]), float(im.shape[0])), 1.0) for im in images]
        return self._faces(whole, resized)

    def _faces(self, detections: Sequence[Detection | Face], crops: np.ndarray) -> list[Face]:
        probabilities = self.classifier.predict(crops)
        return [Face.classified(d, self.labels, p, crop if self.keep_crops else None)
                for d, p, crop in zip(detections, probabilities, crops)]

    def analyze(self, image, file: str | None = None, *, crop: bool = False,
                channel_order: str = "rgb") -> ImageResult:
        """Every face in ``image`` (path, bytes, array, PIL image) with its expression.

        With ``crop=True`` the whole image is taken as one face crop. Read errors
        raise :class:`~ferkit.imageio.ImageError`; see :meth:`analyze_files` for
        batches that record errors instead.
        """
        if file is None:
            file = display_name(image) if isinstance(image, (str, os.PathLike)) else "<image>"
        return self._analyze_rgb(load_image(image, channel_order=channel_order), file, crop)

    def _analyze_rgb(self, rgb: np.ndarray, file: str, crop: bool) -> ImageResult:
        faces = self.classify_crops([rgb]) if crop else self.classify(rgb, self.detect(rgb))
        return ImageResult(file, rgb.shape[1], rgb.shape[0], faces, labels=self.labels)

    def analyze_files(self, paths: Iterable[str | os.PathLike], *, crop: bool = False,
                      keep_images: bool = False) -> Iterator[ImageResult]:
        """Analyse files one by one, in order; a file that fails yields a result with
        ``error`` set (and ``width``/``height`` ``None`` when it could not be read at all).

        With ``keep_images`` each result carries its decoded RGB image in ``image``.
        When the analyzer is ``fast``, the next files are read and detected on a
        worker thread while this one is classified.
        """
        staged = (self._read_and_detect(path, crop) for path in paths)
        if not self.options.fast:
            for item in staged:
                yield self._file_result(item, crop, keep_images)
            return
        with RunAhead(staged, depth=FILES_AHEAD, name="ferkit-read") as ahead:
            for item in ahead:
                yield self._file_result(item, crop, keep_images)

    def _read_and_detect(self, path, crop: bool) -> tuple:
        """``(name, rgb, detections, error)`` of one file; ``rgb`` is ``None`` when it
        could not be read, ``detections`` ``None`` in crop mode or when detection failed."""
        name = display_name(path)
        try:
            rgb = load_image(path)
        except (InputError, OSError) as e:
            return name, None, None, str(e)
        if crop:
            return name, rgb, None, None
        try:
            return name, rgb, self.detect(rgb), None
        except Exception as e:  # one bad image must not end a batch
            return name, rgb, None, _failure(e)

    def _file_result(self, staged: tuple, crop: bool, keep_images: bool) -> ImageResult:
        name, rgb, detections, error = staged
        if rgb is None:
            return ImageResult(name, error=error, labels=self.labels)
        faces = []
        if error is None:
            try:
                faces = self.classify_crops([rgb]) if crop else self.classify(rgb, detections)
            except Exception as e:  # one bad image must not end a batch
                error = _failure(e)
        result = ImageResult(name, rgb.shape[1], rgb.shape[0], faces, labels=self.labels, error=error)
        if keep_images:
            result.image = rgb
        return result


def _failure(error: Exception) -> str:
    return f"analysis failed: {type(error).__name__}: {error}"


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)
