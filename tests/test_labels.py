import numpy as np
import pytest

from ferkit.labels import (
    ALIASES,
    FER7,
    FERPLUS8,
    KOREAN5,
    KOREAN6,
    KOREAN7,
    LabelSet,
    UnknownLabelError,
    canonical,
    display_name,
    display_names,
    get_label_set,
)


@pytest.mark.parametrize("alias,expected", [
    ("Anger", "angry"), ("HAPPINESS", "happy"), ("joy", "happy"), ("smile", "happy"),
    ("sadness", "sad"), ("surprised", "surprise"), ("fearful", "fear"), ("disgusted", "disgust"),
    ("기쁨", "happy"), ("당황", "embarrassed"), ("embarrassment", "embarrassed"), ("놀람", "surprise"), ("분노", "angry"), ("슬픔", "sad"), ("중립", "neutral"),
    ("불안", "anxiety"), ("상처", "hurt"), (" neutral ", "neutral"),
])
def test_aliases_resolve_to_canonical_names(alias, expected):
    assert canonical(alias) == expected


def test_unknown_label_is_a_clear_error():
    with pytest.raises(UnknownLabelError, match="bored"):
        canonical("bored")


def test_builtin_sets_have_documented_order():
    assert FER7.labels == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert len(FERPLUS8) == 8 and FERPLUS8.labels[-1] == "contempt"
    assert KOREAN5.labels == ("happy", "embarrassed", "angry", "sad", "neutral")
    assert KOREAN6.labels == ("happy", "embarrassed", "angry", "anxiety", "hurt", "sad")
    assert set(KOREAN7.labels) - set(KOREAN6.labels) == {"neutral"}
    assert set(KOREAN7.labels) - set(KOREAN5.labels) == {"anxiety", "hurt"}
    assert get_label_set("FER+8") is FERPLUS8
    assert get_label_set(["Anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]) is FER7


def test_ferplus_to_fer7_reports_contempt():
    m = FERPLUS8.mapping_to(FER7)
    assert m.unmapped_source == ("contempt",)
    assert m.unmapped_target == ()
    # FER+ neutral (0) -> FER-7 neutral (6); contempt (7) -> -1
    assert m.map_indices([0, 1, 7]).tolist() == [6, 3, -1]


def test_fer7_to_korean5_maps_probabilities_and_reports_the_rest():
    m = FER7.mapping_to(KOREAN5)
    # 당황 is not FER's surprise: neither maps onto the other
    assert set(m.unmapped_source) == {"disgust", "fear", "surprise"}
    assert m.unmapped_target == ("embarrassed",)
    p = np.array([[0.1, 0.2, 0.2, 0.3, 0.1, 0.0, 0.1]])   # no mass on surprise
    q = m.map_probabilities(p)
    assert q.shape == (1, 5)
    assert np.isclose(q.sum(), 1.0)
    # happy keeps its share of the mappable mass (0.3 / 0.6)
    assert np.isclose(q[0, KOREAN5.index("happy")], 0.5)


def test_label_set_rejects_duplicates():
    with pytest.raises(ValueError, match="repeats"):
        LabelSet("bad", ("happy", "joy"))


def test_korean_display_names_cover_every_class():
    every = {c for c in ALIASES.values()}
    names = display_names(sorted(every), "ko")
    assert len(set(names.values())) == len(every)        # one distinct Korean name per class
    for c, ko in names.items():
        assert canonical(ko) == c                         # and each reads back as its class
    assert [display_name(c, "ko") for c in KOREAN6] == ["기쁨", "당황", "분노", "불안", "상처", "슬픔"]
    assert display_name("당황", "en") == "embarrassed"
    assert display_name("my_custom_class", "ko") == "my_custom_class"
    with pytest.raises(ValueError, match="language"):
        display_name("happy", "fr")
