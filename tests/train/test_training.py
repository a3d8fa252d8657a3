"""A tiny real training run, and resuming a run from its checkpoint."""

from __future__ import annotations

import csv

import pytest
from fersubsets import fer_subset


def read_metrics(run_dir):
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_tiny_training_run_learns(fer2013_dataset, tmp_path, torch1):
    import numpy as np

    from ferkit.train import TrainConfig, train

    data = fer_subset(fer2013_dataset, {"Training": 100, "PublicTest": 50}, seed=1)
    # Memorise 100 real faces: no augmentation, no crop (32 px in), no dropout.
    cfg = TrainConfig(name="overfit", model="fercnn_s", augment="none", image_size=32,
                      input_size=32, drop_rate=0.0, optimizer="adamw", lr=2e-3, weight_decay=0.0,
                      schedule="constant", warmup_epochs=0, epochs=14, batch_size=16, amp=False,
                      threads=1)
    result = train(cfg, tmp_path, dataset=data, progress=False)
    rows = read_metrics(tmp_path)
    assert len(rows) == 14 and result.epochs_run == 14
    loss = [float(r["train_loss"]) for r in rows]
    acc = [float(r["train_acc"]) for r in rows]
    assert loss[-1] < 0.5 * loss[0]
    # Always answering the most frequent class would score this much:
    majority = np.bincount(data.select_split("Training").targets).max() / 100
    assert majority < 0.35 and max(acc[-3:]) > majority + 0.4
    assert (tmp_path / "best.ckpt").is_file() and (tmp_path / "last.ckpt").is_file()
    assert (tmp_path / "curves.png").is_file()


def test_resume_continues_the_epoch_count(fer2013_dataset, tmp_path, torch1):
    from ferkit.train import TrainConfig, train

    data = fer_subset(fer2013_dataset, {"Training": 64, "PublicTest": 32}, seed=2)
    cfg = TrainConfig(name="resume", model="fercnn_s", augment="none", image_size=32,
                      input_size=32, epochs=2, batch_size=32, amp=False, threads=1,
                      warmup_epochs=0)
    first = train(cfg, tmp_path, resume=True, dataset=data, progress=False)
    assert first.epochs_run == 2
    wall_after_two = torch1.load(tmp_path / "last.ckpt", weights_only=False)["wall_time_s"]

    cfg.epochs = 4
    second = train(cfg, tmp_path, resume=True, dataset=data, progress=False)
    assert second.epochs_run == 4
    assert [int(r["epoch"]) for r in read_metrics(tmp_path)] == [1, 2, 3, 4]
    ck = torch1.load(tmp_path / "last.ckpt", weights_only=False)
    assert ck["epoch"] == 3
    assert ck["wall_time_s"] > wall_after_two     # wall time accumulates across the resume

    # Resuming a finished run trains no further epoch.
    third = train(cfg, tmp_path, resume=True, dataset=data, progress=False)
    assert len(read_metrics(tmp_path)) == 4 and third.epochs_run == 4


def independent_logits(ck, images, tta, torch):
    """Logits computed here from the model itself: centre (or corner) crops, mirrors, mean."""
    cfg = ck.config
    x = torch.from_numpy(images[:, None].astype("float32") / 255)
    x = (x - cfg.mean) / cfg.std
    m = cfg.image_size - cfg.input_size
    offsets = [(m // 2, m // 2)] if tta != "ten-crop" else [(0, 0), (0, m), (m, 0), (m, m),
                                                           (m // 2, m // 2)]
    views = [x[..., y:y + cfg.input_size, x0:x0 + cfg.input_size] for y, x0 in offsets]
    if tta != "none":
        views += [v.flip(-1) for v in views]
    with torch.no_grad():
        return (sum(ck.model(v) for v in views) / len(views)).numpy()


@pytest.mark.parametrize("tta", ["none", "flip", "ten-crop"])
def test_evaluate_checkpoint_tta(tiny_checkpoint, tiny_fer, tmp_path, tta, torch1):
    from ferkit.runtime import softmax
    from ferkit.train.checkpoint import load_checkpoint
    from ferkit.train.evaluate import evaluate_checkpoint
    from ferkit.train.metrics import expected_calibration_error

    rep = evaluate_checkpoint(tiny_checkpoint, dataset=tiny_fer, split="PrivateTest", tta=tta,
                              out_dir=tmp_path, progress=False)
    assert rep.samples == 200 and rep.split == "PrivateTest" and rep.tta == tta
    assert sum(map(sum, rep.confusion)) == 200
    # Accuracy and ECE equal what this test computes from the model's own outputs.
    test = tiny_fer.select_split("PrivateTest")
    probs = softmax(independent_logits(load_checkpoint(tiny_checkpoint), test.images, tta,
                                       torch1))
    assert rep.accuracy == pytest.approx(float((probs.argmax(1) == test.targets).mean()))
    assert rep.ece == pytest.approx(expected_calibration_error(probs, test.targets), abs=1e-6)
    assert (tmp_path / "report.json").is_file() and (tmp_path / "reliability.png").is_file()


def test_ten_crop_views(tiny_checkpoint, tiny_fer, torch1):
    """Ten-crop averages the 4 corner + centre 40 px crops and their mirrors."""
    from ferkit.train.checkpoint import load_checkpoint
    from ferkit.train.inference import model_images, predict_logits

    ck = load_checkpoint(tiny_checkpoint)
    x = model_images(tiny_fer.images[:4], ck.config)
    got = predict_logits(ck.model, x, ck.config, "ten-crop")
    want = torch1.from_numpy(independent_logits(ck, tiny_fer.images[:4], "ten-crop", torch1))
    torch1.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
