"""Loaders on real files: FER2013 CSV, FER+ votes, class folders, labelled file names, raw photos."""

from __future__ import annotations

import shutil
import unicodedata

import numpy as np
import pytest
from PIL import Image

from ferkit.labels import FER7, FERPLUS8, KOREAN5, KOREAN7
from ferkit.train.config import DataConfig
from ferkit.train.datasets import (
    load_dataset,
    load_ferplus,
    load_filenames,
    load_folder,
)

# Counts from shared/data/fer2013/README.md (verified there by reading the file).
FER2013_COUNTS = {
    "Training": [3995, 436, 4097, 7215, 4830, 3171, 4965],
    "PublicTest": [467, 56, 496, 895, 653, 415, 607],
    "PrivateTest": [491, 55, 528, 879, 594, 416, 626],
}
# README FER+ majority counts, in FERPLUS8 order (neutral .. contempt).
FERPLUS_MAJORITY = {
    "Training": [8740, 7287, 3149, 3014, 2100, 119, 532, 119],
    "PublicTest": [1182, 865, 415, 351, 287, 24, 62, 13],
    "PrivateTest": [1090, 893, 396, 384, 273, 18, 83, 16],
}


@pytest.fixture
def crop_cache(tmp_path, monkeypatch):
    """Crop caches go to a fresh folder for each test."""
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_fer2013_counts_match_readme(fer2013_dataset):
    ds = fer2013_dataset
    assert ds.images.shape == (35887, 48, 48) and ds.images.dtype == np.uint8
    assert ds.label_set is FER7
    for split, counts in FER2013_COUNTS.items():
        assert ds.select_split(split).class_counts().tolist() == counts


def test_ferplus_majority_and_soft_labels(fer2013_csv, ferplus_votes):
    major = load_ferplus(fer2013_csv, ferplus_votes, "majority")
    assert major.label_set is FERPLUS8
    for split, counts in FERPLUS_MAJORITY.items():
        assert major.select_split(split).class_counts().tolist() == counts
    soft = load_ferplus(fer2013_csv, ferplus_votes, "soft")
    assert soft.soft and soft.targets.shape[1] == 8
    np.testing.assert_allclose(soft.targets.sum(1), 1.0, atol=1e-5)
    # Every majority-labelled row has emotion votes, so it is in the soft set too.
    assert set(major.sources) <= set(soft.sources)
    assert len(soft) + soft.info["dropped"] == 35887


def write_fer_pngs(ds, root, folder_names, n_per_class=6, split_dirs=None):
    """FER2013 rows as PNGs in ``root/[split/]<folder name>/``; returns {relative path: pixels}."""
    written = {}
    for split in split_dirs or [None]:
        for c, folder in enumerate(folder_names):
            idx = np.flatnonzero(ds.targets == c)[:n_per_class]
            if split == "test":
                idx = np.flatnonzero(ds.targets == c)[n_per_class:2 * n_per_class]
            d = root / split / folder if split else root / folder
            d.mkdir(parents=True, exist_ok=True)
            for i in idx:
                Image.fromarray(ds.images[i]).save(d / f"row{i}.png")
                written[str((d / f"row{i}.png").relative_to(root))] = ds.images[i]
    return written


def test_folder_loader_resolves_aliases_and_reports_unknown(fer2013_dataset, tmp_path, crop_cache,
                                                           ferkit_warnings):
    names = ["anger", "Disgusted", "fear", "Happiness", "sadness", "surprised", "calm"]
    written = write_fer_pngs(fer2013_dataset, tmp_path / "data", names)
    (tmp_path / "data" / "not_an_emotion").mkdir()
    Image.fromarray(fer2013_dataset.images[0]).save(tmp_path / "data" / "not_an_emotion" / "x.png")
    Image.fromarray(fer2013_dataset.images[0]).save(tmp_path / "data" / "stray.png")

    with ferkit_warnings(r"left out 1 with a label outside the label set \(not_an_emotion: 1\); "
                         r"1 outside the class-folder layout \(e\.g\. stray\.png\)$"):
        ds = load_folder(tmp_path / "data", progress=False)
    assert ds.label_set is FER7 and len(ds) == 42
    assert ds.class_counts().tolist() == [6] * 7
    assert ds.info["unknown_labels"]["not_an_emotion"]["count"] == 1
    assert ds.info["ignored"] == {"count": 1, "examples": ["stray.png"]}
    for src, img, target in zip(ds.sources, ds.images, ds.targets):
        np.testing.assert_array_equal(img, written[src])   # 48 px PNGs pass through unchanged
        assert FER7.labels[target] in ("angry", "disgust", "fear", "happy", "sad", "surprise",
                                       "neutral")
    assert ds.info["preprocess"]["cache_hits"] == 0
    with ferkit_warnings("not_an_emotion"):
        again = load_folder(tmp_path / "data", progress=False)
    assert again.info["preprocess"]["cache_hits"] == 42
    np.testing.assert_array_equal(again.images, ds.images)


def test_folder_loader_split_layout_and_given_label_set(fer2013_dataset, tmp_path, crop_cache,
                                                        ferkit_warnings):
    names = list(FER7.labels)
    write_fer_pngs(fer2013_dataset, tmp_path / "d", names, n_per_class=3, split_dirs=["train", "test"])
    ds = load_folder(tmp_path / "d", label_set="fer7", progress=False)
    assert ds.info["layout"] == "split/label/image"
    assert sorted(set(ds.split)) == ["test", "train"]
    assert len(ds.select_split("train")) == len(ds.select_split("test")) == 21
    # A label set without disgust/fear reports those folders instead of dropping them silently.
    with ferkit_warnings("disgust: 6"):
        k5 = load_folder(tmp_path / "d", label_set="korean5", progress=False)
    assert k5.label_set is KOREAN5 and len(k5) == 24
    assert k5.info["unknown_labels"]["disgust"]["count"] == 6
    assert k5.info["unknown_labels"]["surprise"]["count"] == 6    # FER surprise is not 당황


def test_filename_loader_korean_labels(fer2013_dataset, tmp_path, crop_cache, ferkit_warnings):
    root = tmp_path / "kor"
    root.mkdir()
    korean = ["기쁨", "당황", "분노", "슬픔", "중립"]
    for k, label in enumerate(korean):
        for j in range(3):
            img = fer2013_dataset.images[10 * k + j]
            Image.fromarray(img).save(root / f"c1_2_a_남_30_{label}_20201204-00{j}.jpg")
    ds = load_filenames(root, progress=False)
    assert ds.label_set is KOREAN5 and len(ds) == 15
    assert ds.class_counts().tolist() == [3] * 5
    expected = dict(zip(korean, ["happy", "embarrassed", "angry", "sad", "neutral"]))
    for src, t in zip(ds.sources, ds.targets):
        assert KOREAN5.labels[t] == expected[src.split("_")[5]]

    # Korean-7 labels, a decomposed (NFD, as macOS writes) name, an unparsable and an unknown label.
    img = Image.fromarray(fer2013_dataset.images[99])
    img.save(root / "x_여_20_불안_20210101.jpg")
    img.save(root / unicodedata.normalize("NFD", "y_여_20_상처_20210101.jpg"))
    img.save(root / "README-not-a-face.png")
    img.save(root / "z_여_20_웃음_20210101.png")
    with ferkit_warnings("1 whose name the pattern does not match .e.g. README-not-a-face.png"):
        ds7 = load_filenames(root, progress=False)
    assert ds7.label_set is KOREAN7 and len(ds7) == 17
    assert sorted(KOREAN7.labels[t] for t in ds7.targets if t >= 5) == ["anxiety", "hurt"]
    assert ds7.info["unparsed"] == {"count": 1, "examples": ["README-not-a-face.png"]}
    assert ds7.info["unknown_labels"]["웃음"]["count"] == 1


def test_filename_pattern_with_split_group(fer2013_dataset, tmp_path, crop_cache):
    root = tmp_path / "p"
    root.mkdir()
    for i in range(8):
        split = "train" if i < 6 else "val"
        label = ["happy", "sad"][i % 2]
        Image.fromarray(fer2013_dataset.images[i]).save(root / f"{split}-{label}-{i}.png")
    ds = load_dataset(DataConfig(kind="filenames", path=str(root),
                                 pattern=r"(?P<split>[a-z]+)-(?P<label>[a-z]+)-\d+"),
                      progress=False)
    assert sorted(ds.label_set.labels) == ["happy", "sad"]
    assert (ds.split == "train").sum() == 6 and (ds.split == "val").sum() == 2
    with pytest.raises(ValueError, match="label"):
        load_filenames(root, pattern=r"(?P<emotion>\w+)", progress=False)


def test_raw_photos_detect_align_and_cache(photos_dir, tmp_path, crop_cache, ferkit_warnings):
    skimage_data = pytest.importorskip("skimage.data")
    pytest.importorskip("ferkit.detect")
    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    (root / "neutral").mkdir()
    Image.fromarray(skimage_data.astronaut()).save(root / "happy" / "astronaut.png")
    shutil.copy(photos_dir / "facerec_two_people.jpg", root / "happy" / "two_people.jpg")
    shutil.copy(photos_dir / "fer_justin.jpg", root / "neutral" / "justin.jpg")
    shutil.copy(photos_dir / "pyfeat_no-face.jpg", root / "neutral" / "no_face.jpg")
    (root / "neutral" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")

    opts = {"detector": "retinaface"}
    with ferkit_warnings(r"1 unreadable .*; 1 without a face \(e\.g\. neutral/no_face\.jpg\)"):
        ds = load_folder(root, preprocess=opts, progress=False)
    rep = ds.info["preprocess"]
    assert len(ds) == 3 and ds.images.shape == (3, 48, 48)
    assert rep["no_face_skipped"] == {"count": 1, "examples": ["neutral/no_face.jpg"]}
    assert rep["unreadable"]["count"] == 1 and "broken.jpg" in rep["unreadable"]["examples"][0]
    assert rep["several_faces_largest_taken"] == 1
    assert ds.images.std(axis=(1, 2)).min() > 10      # real face crops, not blanks

    with ferkit_warnings("unreadable"):
        centred = load_folder(root, preprocess={**opts, "no_face": "center", "channels": 3,
                                                "clahe": True}, progress=False)
    assert len(centred) == 4 and centred.images.shape == (4, 48, 48, 3)
    assert centred.info["preprocess"]["no_face_center_crop"]["count"] == 1
    assert centred.info["preprocess"]["cache_hits"] == 0      # other options: another cache
    with ferkit_warnings("without a face"):
        again = load_folder(root, preprocess=opts, progress=False)
    assert again.info["preprocess"]["cache_hits"] == 4        # no decoding or detection again
    np.testing.assert_array_equal(again.images, ds.images)
