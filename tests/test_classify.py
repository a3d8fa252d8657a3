"""The classifier refuses models whose card and graph disagree, and its probabilities
are always finite and sum to 1."""

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from ferkit.classify import ExpressionClassifier
from ferkit.cli import app
from ferkit.errors import ModelError, UnknownNameError, UsageError
from ferkit.models import resolve_model
from ferkit.runtime import softmax
from imagefiles import astronaut


@pytest.fixture
def model_copy(tmp_path):
    """A copy of the packaged default model and its card; returns (onnx path, card dict)."""
    onnx, _ = resolve_model("default")
    target = tmp_path / "copy.onnx"
    shutil.copy(onnx, target)
    card = json.loads(onnx.with_suffix(".json").read_text())
    return target, card


def _write_card(onnx, card):
    onnx.with_suffix(".json").write_text(json.dumps(card))


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(labels=c["labels"][:6]), "7 classes but (its|the) card names 6 labels"),
    (lambda c: c["input"].update(size=64), "takes input"),
    (lambda c: c["input"].update(channels=3), "takes input"),
    (lambda c: c.update(temperature=0.0), "temperature"),
    (lambda c: c.update(temperature=-1.5), "temperature"),
    (lambda c: c.update(temperature="hot"), "temperature"),
    (lambda c: c.update(labels=["happy"] * 7), "distinct labels"),
])
def test_a_card_that_disagrees_with_its_graph_is_refused(model_copy, change, message):
    onnx, card = model_copy
    change(card)
    _write_card(onnx, card)
    with pytest.raises(ModelError, match=message):
        ExpressionClassifier(onnx)


def test_the_unchanged_copy_loads(model_copy):
    onnx, card = model_copy
    _write_card(onnx, card)
    assert ExpressionClassifier(onnx).labels == card["labels"]


def test_garbage_onnx_and_missing_card_are_model_errors(model_copy, tmp_path):
    onnx, card = model_copy
    onnx.write_bytes(b"this is not a protobuf" * 100)
    _write_card(onnx, card)
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        ExpressionClassifier(onnx)
    lonely = tmp_path / "lonely.onnx"
    shutil.copy(resolve_model("default")[0], lonely)
    with pytest.raises(ModelError, match="model card missing"):
        ExpressionClassifier(lonely)
    with pytest.raises(UnknownNameError, match="packaged models"):
        ExpressionClassifier("no-such-model")


def test_cli_says_what_is_wrong_with_a_model_in_one_line(model_copy):
    onnx, card = model_copy
    card["temperature"] = 0
    _write_card(onnx, card)
    result = CliRunner().invoke(app, ["analyze", "nothing.jpg", "--model", str(onnx)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {onnx.name}: its card's temperature must be a positive number, got 0"]


def test_probabilities_are_finite_and_sum_to_one():
    classifier = ExpressionClassifier("default")
    crops = np.stack([np.zeros((48, 48, 3), np.uint8), np.full((48, 48, 3), 255, np.uint8),
                      astronaut()[100:148, 200:248]])
    p = classifier.predict(crops)
    assert p.shape == (3, 7) and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)


def test_softmax_refuses_non_finite_logits_and_bad_temperatures():
    np.testing.assert_allclose(softmax(np.array([[1000.0, 0.0]])), [[1.0, 0.0]])
    with pytest.raises(ModelError, match="non-finite"):
        softmax(np.array([[np.nan, 1.0]]))
    with pytest.raises(ModelError, match="temperature"):
        softmax(np.array([[1.0, 2.0]]), temperature=0)


# Class-prior correction (logit adjustment): probabilities divided by prior ** tau.


def _faces():
    """Three real crops: the astronaut's face, a dark and a bright one."""
    face = astronaut()[100:148, 200:248]
    return np.stack([face, (face * 0.4).astype(np.uint8), np.clip(face * 1.6, 0, 255).astype(np.uint8)])


def _with_prior(onnx, card, tau, prior=(0.14, 0.015, 0.14, 0.25, 0.17, 0.11, 0.175)):
    card["prior_correction"] = {"prior": list(prior), "tau": tau, "source": "test"}
    _write_card(onnx, card)
    return np.array(prior) / np.sum(prior)


@pytest.mark.parametrize("tau", [0.5, 1.0])
def test_prior_correction_divides_the_calibrated_probabilities_by_the_prior(model_copy, tau):
    onnx, card = model_copy
    _write_card(onnx, card)
    plain = ExpressionClassifier(onnx).predict(_faces())
    prior = _with_prior(onnx, card, tau)
    corrected = ExpressionClassifier(onnx).predict(_faces())
    expected = plain / prior ** tau
    np.testing.assert_allclose(corrected, expected / expected.sum(1, keepdims=True), rtol=1e-9)
    # the rarest class (disgust, prior 1.5 %) gains the most
    gain = corrected / plain
    assert (gain.argmax(1) == card["labels"].index("disgust")).all()


def test_prior_correction_argument_overrides_the_card(model_copy):
    onnx, card = model_copy
    _write_card(onnx, card)
    plain = ExpressionClassifier(onnx).predict(_faces())
    _with_prior(onnx, card, 1.0)
    off = ExpressionClassifier(onnx, prior_correction=0)
    assert off.prior_tau == 0.0
    np.testing.assert_array_equal(off.predict(_faces()), plain)
    half = ExpressionClassifier(onnx, prior_correction=0.5)
    assert half.prior_tau == 0.5
    assert not np.allclose(half.predict(_faces()), plain)


def test_prior_correction_needs_a_recorded_prior_and_a_sane_strength(model_copy):
    onnx, card = model_copy
    card.pop("prior_correction", None)
    _write_card(onnx, card)
    with pytest.raises(UsageError, match="records no class prior"):
        ExpressionClassifier(onnx, prior_correction=0.5)
    assert ExpressionClassifier(onnx, prior_correction=0).prior_tau == 0.0
    _with_prior(onnx, card, 0.0)
    for bad in (-0.1, 2.5, float("nan"), True):
        with pytest.raises(UsageError, match="prior_correction"):
            ExpressionClassifier(onnx, prior_correction=bad)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["prior_correction"].update(prior=[0.5, 0.5]), "2 classes but the card names 7"),
    (lambda c: c["prior_correction"].update(prior=[0.2, 0.0, 0.2, 0.2, 0.2, 0.1, 0.1]), "positive"),
    (lambda c: c["prior_correction"].update(tau=-1), "tau"),
    (lambda c: c["prior_correction"].update(tau="on"), "tau"),
])
def test_a_card_with_a_broken_prior_is_refused(model_copy, change, message):
    onnx, card = model_copy
    _with_prior(onnx, card, 1.0)
    change(card)
    _write_card(onnx, card)
    with pytest.raises(ModelError, match=message):
        ExpressionClassifier(onnx)


def test_cli_prior_correction_changes_the_answers_and_refuses_bad_values(model_copy, tmp_path):
    import cv2

    onnx, card = model_copy
    _with_prior(onnx, card, 0.0)
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    runs = {}
    for tau in ("0", "1"):
        result = CliRunner().invoke(app, ["analyze", str(photo), "--model", str(onnx), "-q",
                                          "--prior-correction", tau])
        assert result.exit_code == 0, result.output
        runs[tau] = json.loads(result.output)["faces"][0]["probabilities"]
    assert runs["0"]["disgust"] < runs["1"]["disgust"]
    assert runs["0"]["happy"] > runs["1"]["happy"]
    result = CliRunner().invoke(app, ["analyze", str(photo), "--model", str(onnx), "--prior-correction", "3"])
    assert result.exit_code == 2 and "--prior-correction" in result.output
