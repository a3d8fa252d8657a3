"""Pixel transforms (none, histeq, CLAHE, LBP, HOG): training and inference make the same pixels.

Training crops come from the dataset loaders (``data.preprocess.mode``); inference crops from
:class:`ferkit.analyzer.Analyzer` with a model whose card says ``input.preprocess``. A model
trained on one must see exactly the other, so every mode is compared pixel for pixel on real
face crops (korean_aihub files, FER2013 rows saved as PNGs).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from ferkit.card import PREPROCESS_MODES, InputSpec, ModelCard, card_path_for
from ferkit.errors import ConfigError, ModelError
from ferkit.labels import KOREAN6
from ferkit.preprocess import apply_preprocess, hog_image, lbp_image, model_pixels, normalize

KOREAN_PATTERN = (r"(?P<person>[0-9a-f]{64})_(?P<gender>[^_]+)_(?P<age>\d{2})_(?P<label>[^_]+)"
                  r"_(?P<background>[^_]+)_(?P<ts>\d{14})-(?P<bg>\d{3})-(?P<shot>\d{3})")
MEAN, STD = 0.5, 0.25


def write_linear_model(path, channels: int, size: int, classes: int) -> None:
    """A tiny real ONNX model (flatten, fixed random matrix) taking ``(N, C, size, size)``."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(0, 0.01, (channels * size * size, classes))
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "linear", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                 ["N", channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(w.astype(np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def model_with_card(folder, mode: str, channels: int, labels=KOREAN6.labels, size: int = 48):
    path = folder / f"{mode}-{channels}.onnx"
    write_linear_model(path, channels, size, len(labels))
    ModelCard(name=path.stem, labels=list(labels),
              input=InputSpec(size, channels, MEAN, STD, preprocess=mode)).save(card_path_for(path))
    return path


@pytest.fixture(scope="module")
def korean_files(shared_data, tmp_path_factory):
    """Links to 12 real korean_aihub crops (two per emotion), names as they sit."""
    src = shared_data / "korean_aihub"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    names = sorted(os.listdir(src))
    picked = []
    for word in ("기쁨", "당황", "분노", "불안", "상처", "슬픔"):
        picked += [n for n in names if f"_{word}_" in n][:2]
    root = tmp_path_factory.mktemp("korean")
    for n in picked:
        (root / n).symlink_to(src / n)
    return root, picked


@pytest.fixture(scope="module")
def analyzers(tmp_path_factory):
    """One Analyzer per (mode, channels), built lazily; crops are kept."""
    from ferkit.analyzer import Analyzer

    folder = tmp_path_factory.mktemp("models")
    made = {}

    def get(mode: str, channels: int, labels=KOREAN6.labels):
        key = (mode, channels, tuple(labels))
        if key not in made:
            made[key] = Analyzer(model=model_with_card(folder, mode, channels, labels),
                                 keep_crops=True)
        return made[key]

    return get


CASES = [(m, 1) for m in PREPROCESS_MODES] + [("none", 3), ("clahe", 3)]


@pytest.mark.parametrize("mode,channels", CASES)
def test_file_crops_train_and_infer_on_the_same_pixels(mode, channels, korean_files, analyzers,
                                                      tmp_path, monkeypatch):
    from ferkit.train.datasets import load_filenames

    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root, names = korean_files
    ds = load_filenames(root, KOREAN_PATTERN, "korean6",
                        {"size": 48, "channels": channels, "mode": mode}, progress=False)
    assert ds.label_set is KOREAN6 and len(ds) == len(names)
    analyzer = analyzers(mode, channels)
    faces = [analyzer.analyze(root / src, crop=True).faces[0] for src in ds.sources]
    inference = analyzer.classifier.prepare(np.stack([f.crop for f in faces]))
    training = normalize(ds.images, MEAN, STD)
    assert inference.shape == training.shape == (len(names), channels, 48, 48)
    np.testing.assert_array_equal(inference, training)
    # ... and so the same probabilities (training pixels straight through the same graph).
    from ferkit.runtime import softmax

    direct = softmax(analyzer.classifier.session.run(None, {"input": training})[0])
    probs = np.array([[f.probabilities[k] for k in analyzer.labels] for f in faces])
    np.testing.assert_allclose(probs, direct, atol=1e-6)
    if mode != "none":                      # the transform really changed the pixels
        raw = load_filenames(root, KOREAN_PATTERN, "korean6",
                             {"size": 48, "channels": channels}, progress=False)
        assert not np.array_equal(raw.images, ds.images)


@pytest.mark.parametrize("mode", PREPROCESS_MODES)
def test_fer2013_rows_train_and_infer_on_the_same_pixels(mode, fer2013_dataset, analyzers,
                                                         tmp_path):
    """FER2013 rows preprocessed by the loader = the rows saved as PNG and analysed as crops."""
    from ferkit.labels import FER7
    from ferkit.train.datasets.preprocess import apply_mode

    rows = np.flatnonzero(fer2013_dataset.split == "PrivateTest")[:16]
    analyzer = analyzers(mode, 1, FER7.labels)
    crops = []
    for i in rows:
        Image.fromarray(fer2013_dataset.images[i]).save(tmp_path / f"{i}.png")
        crops.append(analyzer.analyze(tmp_path / f"{i}.png", crop=True).faces[0].crop)
    training = normalize(apply_mode(fer2013_dataset.images[rows], mode), MEAN, STD)
    np.testing.assert_array_equal(analyzer.classifier.prepare(np.stack(crops)), training)


def test_fer2013_loader_applies_the_mode(fer2013_csv, fer2013_dataset):
    from ferkit.train.config import DataConfig
    from ferkit.train.datasets import load_dataset

    ds = load_dataset(DataConfig(path=str(fer2013_csv), preprocess={"mode": "histeq"}),
                      progress=False)
    assert ds.info["preprocess"] == "histeq" and len(ds) == len(fer2013_dataset)
    for i in (0, 1000, 35000):
        np.testing.assert_array_equal(ds.images[i], apply_preprocess(fer2013_dataset.images[i],
                                                                     "histeq"))
    # The older spelling of CLAHE still means the clahe mode.
    assert DataConfig(preprocess={"clahe": True}).preprocess_mode == "clahe"
    assert DataConfig(preprocess={"clahe": True}).with_preprocess("none").preprocess == {}


def test_transforms_on_a_real_face():
    from skimage import data

    gray = model_pixels(np.ascontiguousarray(data.astronaut()[0:220, 140:360]), 1)
    lbp = lbp_image(gray)
    assert lbp.shape == gray.shape and lbp.dtype == np.uint8
    # Flat regions code 255 (every neighbour >= centre); a bright centre pixel codes 0.
    flat = np.full((5, 5), 7, np.uint8)
    assert (lbp_image(flat) == 255).all()
    peak = flat.copy()
    peak[2, 2] = 200
    assert lbp_image(peak)[2, 2] == 0
    hog = hog_image(gray)
    assert hog.shape == gray.shape and hog.max() > 128 and (hog > 0).mean() > 0.2
    assert (hog_image(np.zeros((48, 48), np.uint8)) == 0).all()
    eq = apply_preprocess(gray, "histeq")
    assert eq.min() == 0 and eq.max() == 255 and eq.std() > gray.std()


def test_gray_only_modes_refuse_rgb_everywhere(tmp_path):
    from ferkit.train.config import DataConfig, TrainConfig
    from ferkit.train.datasets.preprocess import PreprocessOptions

    for mode in ("histeq", "lbp", "hog"):
        with pytest.raises(ModelError, match="grayscale input only"):
            InputSpec(48, 3, preprocess=mode)
        with pytest.raises(ConfigError, match="grayscale input only"):
            TrainConfig(channels=3, data=DataConfig(preprocess={"mode": mode})).validate()
        with pytest.raises(ConfigError, match="grayscale input only"):
            PreprocessOptions.from_dict({"mode": mode, "channels": 3})
        with pytest.raises(ValueError, match="grayscale input only"):
            model_pixels(np.zeros((48, 48, 3), np.uint8), 3, mode)
    with pytest.raises(ConfigError, match="mode must be one of"):
        DataConfig(preprocess={"mode": "sobel"})
    with pytest.raises(ConfigError, match="keep one"):
        DataConfig(preprocess={"mode": "lbp", "clahe": True})
    with pytest.raises(ModelError, match="unknown preprocess"):
        InputSpec(preprocess="sobel")


def test_card_records_the_mode_and_reads_old_cards(tmp_path):
    path = tmp_path / "m.json"
    for mode in PREPROCESS_MODES:
        card = ModelCard(name="m", labels=["happy", "sad"], input=InputSpec(preprocess=mode))
        card.save(path)
        d = json.loads(path.read_text())
        # Cards an older ferkit can apply stay format 1 (clahe as the old boolean).
        assert d["format"] == (1 if mode in ("none", "clahe") else 2)
        assert d["input"]["clahe"] is (mode == "clahe")
        assert d["input"].get("preprocess", mode if mode in ("none", "clahe") else None) == mode
        assert ModelCard.load(path) == card and ModelCard.load(path).input.preprocess == mode
    old = {"name": "old", "labels": ["happy", "sad"], "format": 1,
           "input": {"size": 48, "channels": 3, "mean": 0.5, "std": 0.25, "clahe": True}}
    path.write_text(json.dumps(old))
    card = ModelCard.load(path)
    assert card.input.preprocess == "clahe" and card.input.clahe
    old["input"]["preprocess"] = "lbp"
    path.write_text(json.dumps(old))
    with pytest.raises(ModelError, match="both clahe and preprocess"):
        ModelCard.load(path)
