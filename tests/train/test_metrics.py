"""Metrics against hand-computed values, label-set mapping, ECE, temperature scaling, plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ferkit.labels import FER7, FERPLUS8, KOREAN5, LabelSet
from ferkit.runtime import softmax
from ferkit.train.calibrate import fit_temperature
from ferkit.train.metrics import (
    confusion_matrix,
    expected_calibration_error,
    negative_log_likelihood,
)
from ferkit.train.report import evaluate_probabilities

ABC = LabelSet("abc", ("happy", "sad", "neutral"))


def one_hot_probs(preds, n, conf=0.8):
    p = np.full((len(preds), n), (1 - conf) / (n - 1))
    p[np.arange(len(preds)), preds] = conf
    return p


def test_metrics_match_hand_computed_confusion():
    targets = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    preds = np.array([0, 0, 1, 2, 1, 1, 0, 2, 2, 1])
    # By hand: rows = true, columns = predicted.
    expected_cm = [[2, 1, 1],
                   [1, 2, 0],
                   [0, 1, 2]]
    assert confusion_matrix(targets, preds, 3).tolist() == expected_cm
    rep = evaluate_probabilities(one_hot_probs(preds, 3), targets, ABC, ABC)
    assert rep.confusion == expected_cm
    assert rep.accuracy == pytest.approx(6 / 10)
    # happy: P = 2/3, R = 2/4; sad: P = 2/4, R = 2/3; neutral: P = 2/3, R = 2/3.
    pc = rep.per_class
    assert (pc["happy"]["precision"], pc["happy"]["recall"]) == pytest.approx((2 / 3, 1 / 2))
    assert (pc["sad"]["precision"], pc["sad"]["recall"]) == pytest.approx((1 / 2, 2 / 3))
    assert (pc["neutral"]["precision"], pc["neutral"]["recall"]) == pytest.approx((2 / 3, 2 / 3))
    f1 = [2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2), 2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3), 2 / 3]
    assert pc["happy"]["f1"] == pytest.approx(f1[0])
    assert rep.macro_f1 == pytest.approx(np.mean(f1))
    assert [pc[c]["support"] for c in ABC.labels] == [4, 3, 3]
    assert rep.nll == pytest.approx(-np.log(np.where(preds == targets, 0.8, 0.1)).mean())


def test_ece_on_a_hand_made_case():
    # Two samples at confidence 0.9 (one right) and two at 0.6 (both right):
    # |0.5 - 0.9| * 2/4 + |1.0 - 0.6| * 2/4 = 0.4.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    targets = np.array([0, 1, 0, 1])
    assert expected_calibration_error(probs, targets) == pytest.approx(0.4)
    # Perfectly calibrated: confidence 0.75 in one bin, 3 of 4 right.
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0)


def test_temperature_scaling_fixes_overconfidence():
    rng = np.random.default_rng(0)
    n, c = 4000, 7
    # Targets drawn from softmax(logits) make those logits calibrated (T = 1);
    # scaled up by 4 the classifier is over-confident.
    logits = rng.normal(0, 1.5, (n, c))
    p = softmax(logits)
    targets = (rng.random((n, 1)) > p.cumsum(1)).sum(1)
    over = logits * 4.0
    res = fit_temperature(over, targets)
    assert res.temperature == pytest.approx(4.0, rel=0.1)
    assert res.nll_after < res.nll_before - 0.5
    assert res.ece_after < res.ece_before / 3
    assert res.nll_after == pytest.approx(negative_log_likelihood(softmax(over, res.temperature),
                                                                  targets))
    # Under-confident logits get T < 1.
    assert fit_temperature(logits / 3, targets).temperature < 0.5


def test_ferplus_model_on_fer7_data_reports_contempt():
    mapping = FERPLUS8.mapping_to(FER7)
    assert mapping.unmapped_source == ("contempt",)
    assert mapping.unmapped_target == ()
    # FER+ model predictions on FER-7 targets (neutral, happy, angry): mass on contempt dropped.
    probs = np.zeros((3, 8))
    probs[0, [0, 7]] = [0.4, 0.6]          # neutral 0.4, contempt 0.6 -> neutral after mapping
    probs[1, 1] = 1.0                       # happy
    probs[2, [4, 7]] = [0.3, 0.7]           # angry 0.3, contempt 0.7 -> angry
    targets = np.array([FER7.index("neutral"), FER7.index("happy"), FER7.index("angry")])
    rep = evaluate_probabilities(probs, targets, FERPLUS8, FER7)
    assert rep.label_mapping["model_classes_unmapped"] == ["contempt"]
    assert rep.label_mapping["samples_excluded"] == 0
    assert rep.accuracy == 1.0 and rep.samples == 3
    assert rep.labels == list(FER7.labels)


def test_fer7_model_on_ferplus_data_excludes_contempt_samples():
    targets = np.array([FERPLUS8.index(c) for c in ("happy", "contempt", "contempt", "sad")])
    probs = one_hot_probs([FER7.index("happy"), 0, 0, FER7.index("sad")], 7, 0.9)
    rep = evaluate_probabilities(probs, targets, FER7, FERPLUS8)
    assert rep.label_mapping["data_classes_unmapped"] == {"contempt": 2}
    assert rep.label_mapping["samples_excluded"] == 2
    assert rep.samples == 2 and rep.accuracy == 1.0
    assert "contempt" not in rep.labels


def test_korean5_model_on_fer7_data():
    mapping = KOREAN5.mapping_to(FER7)
    assert mapping.unmapped_source == ("embarrassed",)       # 당황 is not FER's surprise
    assert set(mapping.unmapped_target) == {"disgust", "fear", "surprise"}
    targets = np.array([FER7.index(c) for c in ("happy", "fear", "disgust", "sad", "neutral")])
    preds = [KOREAN5.index(c) for c in ("happy", "sad", "sad", "sad", "angry")]
    rep = evaluate_probabilities(one_hot_probs(preds, 5), targets, KOREAN5, FER7)
    assert rep.label_mapping["data_classes_unmapped"] == {"disgust": 1, "fear": 1, "surprise": 0}
    assert rep.samples == 3 and rep.accuracy == pytest.approx(2 / 3)
    assert rep.labels == ["angry", "happy", "sad", "neutral"]   # FER-7 order
    np.testing.assert_allclose(np.array(rep.confusion).sum(), 3)


def test_report_json_and_plots(tmp_path):
    rng = np.random.default_rng(1)
    targets = rng.integers(0, 7, 300)
    probs = softmax(rng.normal(0, 1, (300, 7)) + 2 * np.eye(7)[targets])
    rep = evaluate_probabilities(probs, targets, FER7, FER7, model="m", dataset="d", split="s")
    path = rep.save(tmp_path)
    d = json.loads(path.read_text())
    assert d["samples"] == 300 and len(d["reliability"]) == 15
    assert sum(b["count"] for b in d["reliability"]) == 300
    for name in ("confusion.png", "reliability.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [m.name for m in rep.card_metrics()] == ["accuracy", "macro_f1", "ece", "nll"]
