"""Pack the training data of `recipes/gpu_models.py` into compact arrays that travel to a GPU machine.

The GPU machine gets the checkout plus at most 64 MiB, and `../shared` does not travel, so
every set is cut to what training needs and stored as 48x48 grayscale WebP (quality 90 for
FER2013, 85 for the others; PSNR about 42 / 39 dB, see the README beside this file):

- FER2013 Training and PublicTest rows with their FER+ vote counts (not PrivateTest);
- korean_aihub, posed studio faces and web contempt crops, each turned into the aligned
  48x48 crop inference makes (RetinaFace -> fer2013 template, margin 0; a file without a
  detected face keeps its centre crop), with its person / subject id for splitting.

    python recipes/pack_data.py --data ../shared/data --out .gpu/pack
"""

from __future__ import annotations

import argparse
import csv
import unicodedata
from pathlib import Path

import cv2
import numpy as np

from ferkit.train.datasets.fer2013 import load_fer2013
from ferkit.train.datasets.filenames import KOREAN_AIHUB_PATTERN, korean_aihub_merge, load_filenames
from ferkit.train.datasets.folders import load_folder

KOREAN_WORDS = ("기쁨", "당황", "분노", "불안", "상처", "슬픔")
FER7 = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CROPS = {"detector": "retinaface", "template": "fer2013", "margin": 0.0, "no_face": "center",
         "size": 48, "channels": 1}


def encode(images: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """WebP bytes of every image, concatenated, and the end offset of each."""
    blobs = [cv2.imencode(".webp", im, [cv2.IMWRITE_WEBP_QUALITY, quality])[1].ravel()
             for im in images]
    return np.concatenate(blobs), np.cumsum([len(b) for b in blobs])


def save(path: Path, images: np.ndarray, quality: int, **arrays) -> None:
    blob, ends = encode(images, quality)
    np.savez(path, webp=blob, ends=ends, **arrays)
    print(f"{path.name}: {len(images)} images, {path.stat().st_size / 2**20:.1f} MiB")


def pack_fer2013(data: Path, out: Path) -> None:
    ds = load_fer2013(data / "fer2013" / "fer2013.csv.gz")
    votes = np.loadtxt(data / "fer2013" / "fer2013new.csv", delimiter=",", skiprows=1,
                       usecols=range(2, 12), dtype=np.int16)
    assert len(votes) == len(ds)
    # PrivateTest stays home: every figure on it is measured on this machine from the export.
    keep = np.array(ds.split) != "PrivateTest"
    save(out / "fer2013.npz", ds.images[keep], 90, labels=ds.hard_targets[keep].astype(np.int8),
         usage=np.array(ds.split, dtype="U10")[keep], votes=votes[keep].astype(np.uint8))


def pack_korean(data: Path, out: Path) -> None:
    root = data / "korean_aihub"
    same = korean_aihub_merge(root)
    ds = load_filenames(root, KOREAN_AIHUB_PATTERN, None, CROPS)
    names = [unicodedata.normalize("NFC", Path(s).stem) for s in ds.sources]
    person = [n.split("_")[0] for n in names]
    # person ids as small integers (the 64-hex ids would take 6 MB of the transfer)
    person = np.unique([same.get(p, p) for p in person], return_inverse=True)[1].astype(np.int32)
    emotion = np.array([KOREAN_WORDS.index(n.split("_")[3]) for n in names], np.int8)
    print("korean_aihub crops:", ds.info["preprocess"])
    save(out / "korean.npz", ds.images, 85, emotion=emotion, person=person)


def pack_folder(data: Path, out: Path, name: str, subject_of) -> None:
    root = data / name
    ds = load_folder(root, None, CROPS)
    rel = [str(s) for s in ds.sources]
    print(f"{name} crops:", ds.info["preprocess"])
    labels = np.array([FER7.index(ds.label_set.labels[t]) if ds.label_set.labels[t] in FER7 else -1
                       for t in ds.hard_targets], np.int8)
    save(out / f"{name}.npz", ds.images, 85, labels=labels,
         subject=np.array([subject_of(r) for r in rel]), files=np.array(rel))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path(".gpu/pack"))
    ap.add_argument("--only", nargs="*", default=["fer2013", "posed", "contempt", "korean"])
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if "fer2013" in args.only:
        pack_fer2013(args.data, args.out)
    if "posed" in args.only:
        subjects = {}
        with open(args.data / "bu3dfe_bosphorus_posed" / "manifest.csv", encoding="utf-8") as f:
            subjects = {r["file"]: r["subject"] for r in csv.DictReader(f)}
        pack_folder(args.data, args.out, "bu3dfe_bosphorus_posed", lambda r: subjects[r])
    if "contempt" in args.only:
        pack_folder(args.data, args.out, "web_contempt", lambda r: r)
    if "korean" in args.only:
        pack_korean(args.data, args.out)


if __name__ == "__main__":
    main()
