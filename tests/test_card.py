import json

import pytest

from ferkit.card import AlignSpec, InputSpec, Metric, ModelCard, card_path_for
from ferkit.labels import FER7


def test_card_round_trips_through_json(tmp_path):
    card = ModelCard(name="m", labels=list(FER7.labels), label_set="fer7", architecture="fercnn_s",
                     parameters=123, input=InputSpec(48, 1, 0.5, 0.25, preprocess="clahe"),
                     align=AlignSpec("fer2013", 0.1), temperature=1.7,
                     metrics=[Metric("accuracy", 0.7, "FER2013", "PrivateTest", 3589)],
                     training={"command": "ferkit train x.json"})
    path = tmp_path / "m.json"
    card.save(path)
    loaded = ModelCard.load(path)
    assert loaded == card
    assert loaded.metric("accuracy", "PrivateTest").value == 0.7
    assert loaded.label_set_obj is FER7
    assert card_path_for(tmp_path / "m.onnx") == path


def test_newer_card_format_is_refused(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"name": "m", "labels": ["happy"], "format": 99}))
    with pytest.raises(ValueError, match="newer"):
        ModelCard.load(path)


def test_garbage_card_is_a_clear_error(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a valid ferkit model card"):
        ModelCard.load(path)


def test_a_card_with_a_prior_correction_round_trips_as_format_3(tmp_path):
    from ferkit.card import PriorCorrection

    card = ModelCard(name="m", labels=list(FER7.labels), label_set="fer7",
                     prior_correction=PriorCorrection([2, 1, 2, 4, 3, 2, 4], tau=0.5, source="counts"))
    path = tmp_path / "m.json"
    card.save(path)
    saved = json.loads(path.read_text())
    assert saved["format"] == 3 and saved["prior_correction"]["tau"] == 0.5
    assert ModelCard.load(path) == card
    plain = ModelCard(name="m", labels=list(FER7.labels))
    plain.save(path)                                  # without it, older ferkit still reads the card
    assert json.loads(path.read_text())["format"] == 1 and "prior_correction" not in path.read_text()
