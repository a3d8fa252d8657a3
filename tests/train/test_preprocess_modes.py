"""A model trained on a pixel transform exports a card that applies it at inference."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.card import ModelCard, card_path_for


@pytest.mark.slow
def test_trained_mode_is_recorded_and_applied_at_inference(tiny_fer, tmp_path, torch1):
    from ferkit.train import TrainConfig, train
    from ferkit.train.config import DataConfig
    from ferkit.train.datasets.preprocess import apply_mode
    from ferkit.train.evaluate import evaluate_checkpoint
    from ferkit.train.export import export_onnx

    mode = "lbp"
    cooked = tiny_fer.subset(np.arange(len(tiny_fer)))
    cooked.images = apply_mode(tiny_fer.images, mode)         # what load_dataset gives training
    cfg = TrainConfig(name=f"tiny-{mode}", model="fercnn_s", augment="none", optimizer="adamw",
                      lr=2e-3, epochs=2, warmup_epochs=0, batch_size=32, amp=False, threads=1,
                      data=DataConfig(preprocess={"mode": mode}))
    ckpt = train(cfg, tmp_path / "run", dataset=cooked, progress=False).best_checkpoint

    out = tmp_path / f"{mode}.onnx"
    export_onnx(ckpt, out, weights="float32", calibrate=False, dataset=tiny_fer,
                measure_flip_cost=False, progress=False)
    card = ModelCard.load(card_path_for(out))
    assert card.input.preprocess == mode and card.format == 2
    # The card's figures come through ExpressionClassifier on the raw crops (it applies the
    # mode itself); torch on the transformed crops must agree exactly.
    want = evaluate_checkpoint(ckpt, split="PrivateTest", tta="flip", dataset=cooked,
                               progress=False)
    got = card.metric("accuracy", "PrivateTest")
    assert got.samples == want.samples == 200
    assert got.value == pytest.approx(want.accuracy, abs=1 / 200 + 1e-9)
    # Probabilities, face by face: the exported model on raw crops (the card's mode applied by
    # the classifier) = ONNX Runtime on the crops the training data held.
    from ferkit.classify import ExpressionClassifier
    from ferkit.preprocess import normalize

    clf = ExpressionClassifier(out)
    rgb = np.repeat(tiny_fer.images[:64, :, :, None], 3, 3)
    direct = clf.session.run(None, {"input": normalize(cooked.images[:64], 0.5, 0.25)})[0]
    np.testing.assert_allclose(clf.logits(rgb), direct, atol=1e-5)
    clf.card.input.preprocess = "none"                          # without it: other inputs
    assert np.abs(clf.logits(rgb) - direct).max() > 1e-2
