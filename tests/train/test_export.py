"""Checkpoint → ONNX: parity with torch, the model card, calibration, quantisation."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.card import ModelCard, card_path_for
from ferkit.train.splits import membership_digest


def normalised(images, mean=0.5, std=0.25):
    return ((images[:, None].astype(np.float32) / 255 - mean) / std).astype(np.float32)


@pytest.mark.parametrize("flip", [True, False])
def test_onnx_parity_float32(tiny_checkpoint, tiny_fer, tmp_path, torch1, flip):
    import onnxruntime as ort

    from ferkit.train.checkpoint import load_checkpoint
    from ferkit.train.export import ExportGraph, export_onnx

    out = tmp_path / "m.onnx"
    res = export_onnx(tiny_checkpoint, out, weights="float32", flip_tta=flip, calibrate=False,
                      dataset=tiny_fer, measure_flip_cost=False, progress=False)
    assert res.parity_max_abs_diff <= 1e-4

    # Independently: torch (crop 48 -> 40 inside, optional mirror average) against ONNX Runtime.
    ck = load_checkpoint(tiny_checkpoint)
    graph = ExportGraph(ck.model, 48, 40, flip).eval()
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[1:] == [1, 48, 48]
    for n in (1, 7, 33):                       # dynamic batch axis
        x = normalised(tiny_fer.images[100:100 + n])
        with torch1.no_grad():
            want = graph(torch1.from_numpy(x)).numpy()
        got = sess.run(None, {"input": x})[0]
        assert got.shape == (n, 7)
        assert np.abs(got - want).max() <= 1e-4


@pytest.mark.slow
def test_export_card_calibration_and_int8(tiny_checkpoint, tiny_fer, tmp_path, torch1):
    from ferkit.classify import ExpressionClassifier
    from ferkit.train.checkpoint import load_checkpoint
    from ferkit.train.evaluate import evaluate_onnx
    from ferkit.train.export import export_onnx

    out = tmp_path / "fer7-tiny.onnx"
    res = export_onnx(tiny_checkpoint, out, quantize="dynamic", dataset=tiny_fer, progress=False)
    card = ModelCard.load(card_path_for(out))
    ck = load_checkpoint(tiny_checkpoint)

    assert res.parity_max_abs_diff <= 1e-4
    assert card.name == "fer7-tiny" and card.label_set == "fer7" and card.architecture == "fercnn_s"
    assert card.labels == list(ck.label_set.labels)
    assert card.parameters == sum(p.numel() for p in ck.model.parameters())
    assert (card.input.size, card.input.channels, card.input.mean, card.input.std) == (48, 1, 0.5, 0.25)
    assert (card.align.template, card.align.margin) == ("fer2013", 0.0)
    t = card.training
    assert {role: (v["name"], v["samples"]) for role, v in t["splits"].items()} == {
        "train": ("Training", 256), "val": ("PublicTest", 200), "test": ("PrivateTest", 200)}
    assert t["splits"]["test"]["digest"] == membership_digest(tiny_fer.select_split("PrivateTest"))
    assert t["epochs"] == 2 and t["config"]["model"] == "fercnn_s" and t["hardware"]
    assert t["wall_time_s"] > 0 and "data" in t and "command" in t

    # float16 weights: about half the float32 size, still within parity of its reference.
    assert t["export"]["weights"] == "float16"
    assert out.stat().st_size < 0.55 * card.parameters * 4

    # The temperature is fitted on PublicTest and lowers its NLL.
    cal = t["calibration"]
    assert card.temperature == pytest.approx(cal["temperature"]) and cal["samples"] == 200
    assert cal["nll_after"] <= cal["nll_before"]

    # The class prior the model learned is recorded (its mean calibrated prediction on
    # PublicTest), with the correction off, so --prior-correction works on this file.
    pc = card.prior_correction
    assert pc.tau == 0.0 and "200 samples" in pc.source and card.format == 3
    val_probs = ExpressionClassifier(out).predict(np.repeat(tiny_fer.select_split("PublicTest").images[..., None], 3, -1))
    np.testing.assert_allclose(pc.prior, val_probs.mean(0), atol=1e-5)
    corrected = ExpressionClassifier(out, prior_correction=1.0)
    assert corrected.prior_tau == 1.0

    # Card metrics are what the exported file measures through the inference classifier.
    acc = card.metric("accuracy", "PrivateTest")
    assert acc.dataset == "fer2013" and acc.samples == 200
    rep = evaluate_onnx(out, dataset=tiny_fer, split="PrivateTest", progress=False)
    assert rep.accuracy == pytest.approx(acc.value)
    assert rep.ece == pytest.approx(card.metric("ece", "PrivateTest").value)
    assert card.metric("accuracy", "PublicTest").samples == 200
    # PublicTest's metrics reuse the logits the temperature was fitted on: the same as
    # evaluating the file afresh.
    val = evaluate_onnx(out, dataset=tiny_fer, split="PublicTest", progress=False)
    for name in ("accuracy", "ece", "nll"):
        assert getattr(val, name) == pytest.approx(card.metric(name, "PublicTest").value)
    clf = ExpressionClassifier(out)
    p = clf.predict(np.repeat(tiny_fer.images[:5, :, :, None], 3, -1))
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-6)

    # Flip TTA cost is measured, not assumed: the accuracy without the mirror is what a
    # float16 export without flip measures on PrivateTest.
    cost = t["export"]["flip_tta_cost"]
    assert cost["latency_ms_batch1_with_flip"] > 0 and cost["latency_ms_batch1_without_flip"] > 0
    assert cost["accuracy_with_flip"] == pytest.approx(acc.value)
    plain = export_onnx(tiny_checkpoint, tmp_path / "noflip.onnx", flip_tta=False,
                        calibrate=False, dataset=tiny_fer, measure_flip_cost=False,
                        progress=False)
    assert cost["accuracy_without_flip"] == pytest.approx(
        plain.card.metric("accuracy", "PrivateTest").value)

    # int8 copy: its own card with its own measured accuracy.
    q = res.quantized
    assert q is not None and q.name == "fer7-tiny.int8.onnx"
    qcard = ModelCard.load(card_path_for(q))
    qacc = qcard.metric("accuracy", "PrivateTest")
    assert qacc.samples == 200 and "int8 dynamic" in qacc.notes
    assert qacc.value == pytest.approx(
        evaluate_onnx(q, dataset=tiny_fer, split="PrivateTest", progress=False).accuracy)
    assert t["export"]["quantized"]["accuracy"] == pytest.approx(qacc.value)


def test_export_runs_the_file_over_each_split_once(tiny_checkpoint, tiny_fer, tmp_path, torch1,
                                                   monkeypatch):
    """Calibration and the validation metrics share one pass over PublicTest; the
    card's figures are those of a fresh evaluation of the written file."""
    from ferkit.classify import ExpressionClassifier
    from ferkit.train.evaluate import evaluate_onnx
    from ferkit.train.export import export_onnx

    seen = []
    logits = ExpressionClassifier.logits
    monkeypatch.setattr(ExpressionClassifier, "logits",
                        lambda self, crops: seen.append(len(crops)) or logits(self, crops))
    out = tmp_path / "m.onnx"
    res = export_onnx(tiny_checkpoint, out, weights="float32", dataset=tiny_fer,
                      measure_flip_cost=False, progress=False)
    assert sum(seen) == 200 + 200   # PublicTest once, PrivateTest once
    monkeypatch.setattr(ExpressionClassifier, "logits", logits)
    for split in ("PublicTest", "PrivateTest"):
        rep = evaluate_onnx(out, dataset=tiny_fer, split=split, progress=False)
        assert rep.accuracy == pytest.approx(res.card.metric("accuracy", split).value)
        assert rep.nll == pytest.approx(res.card.metric("nll", split).value)


def test_export_rejects_odd_crop_margin(torch1):
    from ferkit.train.export import ExportGraph
    from ferkit.train.models import create_model

    with pytest.raises(ValueError, match="even"):
        ExportGraph(create_model("fercnn_s", 7), 48, 41, True)


@pytest.fixture(scope="module")
def second_checkpoint(tmp_path_factory, tiny_fer, torch1):
    """A second tiny member: another seed and a 44 px input crop."""
    from ferkit.train import TrainConfig, train

    cfg = TrainConfig(name="tiny-b", model="fercnn_s", input_size=44, augment="none",
                      optimizer="adamw", lr=2e-3, epochs=1, warmup_epochs=0, batch_size=32,
                      amp=False, threads=1, seed=7)
    out = tmp_path_factory.mktemp("tiny-run-b")
    return train(cfg, out, resume=False, dataset=tiny_fer, progress=False).best_checkpoint


@pytest.mark.slow
def test_ensemble_export_averages_members(tiny_checkpoint, second_checkpoint, tiny_fer, tmp_path,
                                          torch1):
    import onnxruntime as ort

    from ferkit.train.checkpoint import load_checkpoint
    from ferkit.train.evaluate import evaluate_onnx
    from ferkit.train.export import ExportGraph, export_onnx

    out = tmp_path / "ens.onnx"
    res = export_onnx([tiny_checkpoint, second_checkpoint], out, weights="float32", calibrate=False,
                      quantize="static", dataset=tiny_fer, measure_flip_cost=False,
                      progress=False)
    assert res.parity_max_abs_diff <= 1e-4
    card = res.card
    a, b = load_checkpoint(tiny_checkpoint), load_checkpoint(second_checkpoint)
    assert card.architecture == "fercnn_s+fercnn_s"
    assert card.parameters == sum(p.numel() for ck in (a, b) for p in ck.model.parameters())
    assert [m["config"]["seed"] for m in card.training["members"]] == [0, 7]
    assert card.training["wall_time_s"] == pytest.approx(a.wall_time_s + b.wall_time_s)
    assert "epochs" not in card.training and card.training["hardware"] == a.hardware

    # The graph is the mean of each member's own crop-and-flip logits.
    x = normalised(tiny_fer.images[:9])
    with torch1.no_grad():
        want = (ExportGraph(a.model, 48, 40, True)(torch1.from_numpy(x))
                + ExportGraph(b.model, 48, 44, True)(torch1.from_numpy(x))).numpy() / 2
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert np.abs(sess.run(None, {"input": x})[0] - want).max() <= 1e-4

    # The int8 copy quantises the whole ensemble graph and measures itself.
    qcard = ModelCard.load(card_path_for(res.quantized))
    assert qcard.architecture == "fercnn_s+fercnn_s" and len(qcard.training["members"]) == 2
    assert qcard.metric("accuracy", "PrivateTest").value == pytest.approx(
        evaluate_onnx(res.quantized, dataset=tiny_fer, split="PrivateTest",
                      progress=False).accuracy)
    assert res.quantized.stat().st_size < 0.5 * out.stat().st_size
    # int8 weights are stored as uint8, so CPUs without VNNI run them without saturation
    import onnx

    graph = onnx.load(str(res.quantized)).graph
    kinds = {i.name: i.data_type for i in graph.initializer}
    weights = [kinds[n.input[0]] for n in graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in kinds and n.input[0].endswith("weight_quantized")]
    assert weights and set(weights) == {onnx.TensorProto.UINT8}
    # the logits after the heads stay float: nothing is quantised downstream of the last Gemm,
    # so no two classes tie on an 8-bit grid
    last = max(i for i, n in enumerate(graph.node) if n.op_type == "Gemm")
    assert "QuantizeLinear" not in {n.op_type for n in graph.node[last + 1:]}
    z = ort.InferenceSession(str(res.quantized), providers=["CPUExecutionProvider"]).run(
        None, {"input": normalised(tiny_fer.images[:64])})[0]
    assert len(np.unique(np.round(z, 6))) > 0.9 * z.size


def test_ensemble_rejects_mismatched_members(tiny_checkpoint, tiny_fer, tmp_path, torch1):
    from ferkit.errors import ModelError
    from ferkit.train.checkpoint import load_checkpoint
    from ferkit.train.export import export_onnx

    other = load_checkpoint(tiny_checkpoint)
    other.config.mean = 0.4
    with pytest.raises(ModelError, match="mean/std"):
        export_onnx([tiny_checkpoint, other], tmp_path / "x.onnx", dataset=tiny_fer,
                    progress=False)
    # Members split their data differently: the card's test samples could be another
    # member's training samples, so they are refused too.
    other = load_checkpoint(tiny_checkpoint)
    other.config.data.split_seed = 1
    with pytest.raises(ModelError, match="differ in data"):
        export_onnx([tiny_checkpoint, other], tmp_path / "x.onnx", dataset=tiny_fer,
                    progress=False)
    assert not (tmp_path / "x.onnx").exists()
