"""Image files to fixed-size face crops, the way inference makes them, cached on disk.

detect → align (:func:`ferkit.align.align_face`, template + margin) → resize →
grayscale or RGB (:func:`ferkit.preprocess.to_model_pixels`) → the pixel transform
``mode`` (:func:`ferkit.preprocess.preprocess_pixels`: none, histeq, clahe, lbp, hog),
exactly as :class:`ferkit.classify.ExpressionClassifier` prepares crops for a card with
that ``input.preprocess``. Files that are already face crops (``detector=None``) are
only resized, as ``ferkit analyze --crops`` does. Crops are cached per file (path,
size, mtime) and per set of options, so a second run neither decodes nor detects
again. The transform is applied after the cache, so one cache serves every mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ferkit.errors import ConfigError
from ferkit.progress import progress_bar

from ..config import check_options
from .base import cache_dir

NO_FACE_ACTIONS = ("skip", "center")
EXAMPLES = 10  # file names kept as examples of each problem in a report


@dataclass(frozen=True)
class PreprocessOptions:
    """How an image file becomes a training crop.

    ``detector``: a :func:`ferkit.detect.create_detector` name for raw photos,
    or ``None`` when the files are face crops already. ``no_face``: ``skip``
    drops photos without a detected face, ``center`` keeps a centre crop.
    ``mode``: one of :data:`ferkit.card.PREPROCESS_MODES` (``clahe: true`` in a
    config dict is the older spelling of ``mode: clahe``).
    """

    size: int = 48
    channels: int = 1
    detector: str | None = None
    template: str = "fer2013"
    margin: float = 0.0
    mode: str = "none"
    no_face: str = "skip"

    def __post_init__(self) -> None:
        from ferkit.card import check_preprocess

        if self.channels not in (1, 3):
            raise ConfigError(f"preprocess.channels must be 1 or 3, not {self.channels}")
        try:
            check_preprocess(self.mode, self.channels)
        except ValueError as e:
            raise ConfigError(f"preprocess: {e}") from None
        if self.no_face not in NO_FACE_ACTIONS:
            raise ConfigError(f"preprocess.no_face must be one of {NO_FACE_ACTIONS}, "
                             f"not {self.no_face!r}")

    @classmethod
    def from_dict(cls, d: dict | None, **defaults) -> PreprocessOptions:
        """Options from a config dict; ``defaults`` fill keys the dict leaves out."""
        d = {**defaults, **(d or {})}
        if "clahe" in d:                       # the older spelling of mode: clahe
            clahe = d.pop("clahe")
            if clahe and d.get("mode", "clahe") != "clahe":
                raise ConfigError(f"preprocess says clahe: true and mode: {d['mode']!r}; keep one")
            if clahe:
                d["mode"] = "clahe"
        check_options(cls, d, "preprocess")
        return cls(**d)

    def cache_key(self) -> str:
        """Identifies the cached crops: every option except the pixel transform (applied
        after the cache)."""
        d = asdict(self)
        d.pop("mode")
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def file_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()


def resize_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a whole face crop to ``size``x``size`` as inference does for ready-made crops."""
    import cv2

    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of ``image``, resized to ``size``."""
    h, w = image.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return resize_crop(image[y:y + s, x:x + s], size)


def apply_mode(images: np.ndarray, mode: str) -> np.ndarray:
    """The pixel transform ``mode`` on uint8 crops ``(N, S, S)`` or ``(N, S, S, 3)``, as
    inference applies it (:func:`ferkit.preprocess.preprocess_pixels`)."""
    from ferkit.preprocess import preprocess_pixels

    if mode == "none" or not len(images):
        return images
    return np.stack([preprocess_pixels(im, mode) for im in images])


def apply_clahe(images: np.ndarray) -> np.ndarray:
    """CLAHE on uint8 crops ``(N, S, S)`` or ``(N, S, S, 3)`` with inference's settings."""
    return apply_mode(images, "clahe")


class CropCache:
    """The crops of many files under one set of options, in one ``.npz`` file.

    Entries are ``file key -> (status, crop, faces found)``; status ``face``,
    ``center`` (no face, centre crop kept) or ``no_face`` (crop is blank).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, tuple[str, np.ndarray, int]] = {}
        self.dirty = False
        if path.is_file():
            try:
                z = np.load(path, allow_pickle=False)
                for k, s, im, n in zip(z["keys"], z["status"], z["images"], z["faces"]):
                    self.entries[str(k)] = (str(s), im, int(n))
            except (OSError, ValueError, KeyError):
                self.entries = {}  # unreadable cache: rebuild it

    def get(self, key: str):
        return self.entries.get(key)

    def put(self, key: str, status: str, crop: np.ndarray, faces: int) -> None:
        self.entries[key] = (status, crop, faces)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty or not self.entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.entries)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, keys=np.array(keys), status=np.array([self.entries[k][0] for k in keys]),
                 images=np.stack([self.entries[k][1] for k in keys]),
                 faces=np.array([self.entries[k][2] for k in keys]))
        os.replace(tmp, self.path)
        self.dirty = False


def crop_file(path: Path, opts: PreprocessOptions, detector) -> tuple[str, np.ndarray, int]:
    """``(status, crop, faces found)`` for one file, before the pixel transform."""
    from ferkit.align import align_face
    from ferkit.imageio import load_image
    from ferkit.preprocess import to_model_pixels

    rgb = load_image(path)
    if detector is None:
        return "face", to_model_pixels(resize_crop(rgb, opts.size), opts.channels), 1
    faces = detector.detect(rgb)
    if faces:
        face = max(faces, key=lambda f: f.box[2] * f.box[3])
        crop = align_face(rgb, face.landmarks, opts.size, box=face.box,
                          template=opts.template, margin=opts.margin)
        return "face", to_model_pixels(crop, opts.channels), len(faces)
    if opts.no_face == "center":
        return "center", to_model_pixels(center_crop(rgb, opts.size), opts.channels), 0
    shape = (opts.size, opts.size) if opts.channels == 1 else (opts.size, opts.size, 3)
    return "no_face", np.zeros(shape, np.uint8), 0


@dataclass
class PreprocessResult:
    images: np.ndarray      # crops of the kept files, in input order
    kept: np.ndarray        # indices into the input list of the kept files
    report: dict            # counts and examples of every problem


def preprocess_files(paths: list[Path], opts: PreprocessOptions, root: Path | None = None,
                     cache: bool = True, progress: bool = True) -> PreprocessResult:
    """Crop every file; unreadable and face-less files are reported, not silently dropped."""
    from ferkit.imageio import ImageError

    store = CropCache(cache_dir() / "crops" / f"{opts.cache_key()}.npz") if cache else None
    detector = None
    crops, kept = [], []
    unreadable, no_face, centred, multi, hits = [], [], [], 0, 0

    def name(p: Path) -> str:
        return str(p.relative_to(root)) if root else str(p)

    last_save = time.time()
    with progress_bar(progress and len(paths) > 50, remaining=False) as bar:
        task = bar.add_task("preprocess", total=len(paths))
        for i, path in enumerate(paths):
            bar.advance(task)
            try:
                key = file_key(path)
            except OSError as e:
                unreadable.append(f"{name(path)}: {e}")
                continue
            entry = store.get(key) if store else None
            if entry is not None:
                hits += 1
                status, crop, found = entry
            else:
                if detector is None and opts.detector:
                    from ferkit.detect import create_detector

                    detector = create_detector(opts.detector)
                try:
                    status, crop, found = crop_file(path, opts, detector)
                except (ImageError, OSError) as e:
                    unreadable.append(f"{name(path)}: {e}")
                    continue
                if store:
                    store.put(key, status, crop, found)
                    if time.time() - last_save > 60:
                        store.save()
                        last_save = time.time()
            multi += found > 1
            if status == "no_face":
                no_face.append(name(path))
                continue
            if status == "center":
                centred.append(name(path))
            crops.append(crop)
            kept.append(i)
    if store:
        store.save()
    shape = (0, opts.size, opts.size) + (() if opts.channels == 1 else (3,))
    images = np.stack(crops) if crops else np.zeros(shape, np.uint8)
    images = apply_mode(images, opts.mode)
    report = {"files": len(paths), "kept": len(kept), "cache_hits": hits,
              "unreadable": _problem(unreadable), "no_face_skipped": _problem(no_face),
              "no_face_center_crop": _problem(centred),
              "several_faces_largest_taken": int(multi)}
    return PreprocessResult(images, np.array(kept, dtype=np.int64), report)


def _problem(names: list[str]) -> dict:
    return {"count": len(names), "examples": names[:EXAMPLES]}
