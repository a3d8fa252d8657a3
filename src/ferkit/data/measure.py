"""Measure what ``ferkit data clean`` decides by, on a folder of pictures, to set the
thresholds of :class:`~ferkit.data.config.CleanConfig` (``docs/data.md`` quotes its output)::

    python -m ferkit.data.measure FOLDER [--sample 300] [--seed 0]

For the largest face of each picture (sampled): face size, sharpness of the
aligned crop, yaw, eye brightness; the same sharpness after a Gaussian blur of
the picture (sigma = longer side / 100); and the Hamming distances of the
pictures' perceptual hashes between different pictures and between each picture
and a smaller, re-compressed copy of it.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np


def measure(folder: str | Path, sample: int = 300, seed: int = 0) -> dict:
    import cv2

    from ferkit.align import align_face, template_points
    from ferkit.detect import create_detector
    from ferkit.imageio import load_image
    from ferkit.inputs import expand_inputs

    from .checks import estimate_yaw, eye_darkness, hash_distance, perceptual_hash, sharpness
    from .clean import SHARPNESS_SIZE, near_pairs
    from .config import CleanConfig

    size = CleanConfig().crop_size
    files = expand_inputs([folder]).files
    files = random.Random(seed).sample(files, min(sample, len(files)))
    detector = create_detector("retinaface")
    eyes_at = template_points(size, "fer2013", 0.0)[:2]
    values: dict[str, list[float]] = {k: [] for k in ("face_size", "sharpness", "blurred_sharpness", "yaw",
                                                       "eye_brightness", "copy_hash_distance")}
    hashes, no_face = [], 0

    def largest(rgb):
        faces = detector.detect(rgb)
        return max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None

    def crop_sharpness(rgb, face) -> float:
        crop = align_face(rgb, face.landmarks, size, box=face.box)
        return sharpness(cv2.resize(crop, (SHARPNESS_SIZE, SHARPNESS_SIZE), interpolation=cv2.INTER_AREA)), crop

    for path in files:
        rgb = load_image(path)
        h = perceptual_hash(rgb)
        hashes.append(h)
        small = cv2.resize(rgb, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 60])
        values["copy_hash_distance"].append(hash_distance(h, perceptual_hash(cv2.imdecode(data, cv2.IMREAD_COLOR))))
        face = largest(rgb)
        if face is None:
            no_face += 1
            continue
        sharp, crop = crop_sharpness(rgb, face)
        values["face_size"].append(min(face.box[2], face.box[3]))
        values["sharpness"].append(sharp)
        values["yaw"].append(abs(estimate_yaw(face.landmarks)))
        values["eye_brightness"].append(eye_darkness(crop, eyes_at))
        blurred = cv2.GaussianBlur(rgb, (0, 0), max(rgb.shape[:2]) / 100)
        bface = largest(blurred)
        if bface is not None:
            values["blurred_sharpness"].append(crop_sharpness(blurred, bface)[0])
    distinct = [d for _, _, d in near_pairs(np.array(hashes, dtype=np.uint64), 64)]
    return {"folder": str(folder), "pictures": len(files), "no_face": no_face,
            **{k: _percentiles(v) for k, v in values.items()},
            "distinct_hash_distance": _percentiles(distinct)}


def _percentiles(values) -> dict:
    if not len(values):
        return {}
    q = np.percentile(np.asarray(values, dtype=np.float64), [0, 1, 5, 50, 95, 99, 100])
    return dict(zip(("min", "p1", "p5", "median", "p95", "p99", "max"), (round(float(v), 2) for v in q)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferkit.data.measure", description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = measure(args.folder, args.sample, args.seed)
    print(f"{result['folder']}: {result['pictures']} pictures, {result['no_face']} without a face")
    for key, q in result.items():
        if isinstance(q, dict) and q:
            print(f"  {key:22s} " + "  ".join(f"{k} {v:g}" for k, v in q.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
