"""``ferkit analyze --label-names ko``: Korean class names in JSON and CSV results."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from ferkit.cli import app
from ferkit.labels import FER7, KOREAN_NAMES, LABEL_LANGUAGES
from ferkit.results import Detection, Face, ImageResult

runner = CliRunner()
KO = [KOREAN_NAMES[c] for c in FER7.labels]     # 분노 혐오 공포 기쁨 슬픔 놀람 중립


def test_choices_are_the_languages():
    from ferkit.cli._common import LabelNames

    assert [x.value for x in LabelNames] == list(LABEL_LANGUAGES)


def test_korean_names_in_json_and_csv(photos_dir, tmp_path):
    photo = photos_dir / "facerec_two_people.jpg"
    en = runner.invoke(app, ["analyze", str(photo), "--format", "json", "-q"])
    ko = runner.invoke(app, ["analyze", str(photo), "--format", "json", "-q",
                             "--label-names", "ko", "--annotate", str(tmp_path / "ann")])
    assert en.exit_code == 0 and ko.exit_code == 0, ko.output
    (r_en,), (r_ko,) = json.loads(en.stdout), json.loads(ko.stdout)
    assert len(r_ko["faces"]) == len(r_en["faces"]) == 2
    for f_en, f_ko in zip(r_en["faces"], r_ko["faces"]):
        assert f_ko["label"] == KOREAN_NAMES[f_en["label"]]
        assert list(f_ko["probabilities"]) == KO
        assert list(f_ko["probabilities"].values()) == list(f_en["probabilities"].values())
        assert f_ko["box"] == f_en["box"]
    # The annotated copy is still drawn (with the English names: no Hangul in OpenCV's fonts).
    assert len(list((tmp_path / "ann").glob("*.jpg"))) == 1

    out = tmp_path / "faces.csv"
    r = runner.invoke(app, ["analyze", str(photo), "--format", "csv", "-o", str(out), "-q",
                            "--label-names", "ko"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [c for c in rows[0] if c.startswith("p_")] == [f"p_{k}" for k in KO]
    assert {row["label"] for row in rows} <= set(KO)


def test_unknown_language_is_a_usage_error(photos_dir):
    r = runner.invoke(app, ["analyze", str(photos_dir / "fer_justin.jpg"), "--label-names", "fr"])
    assert r.exit_code == 2 and "fr" in r.output


def test_with_label_names_renames_a_copy():
    face = Face.classified(Detection((1, 2, 3, 4), 0.9), ["happy", "embarrassed"],
                           [0.3, 0.7])
    result = ImageResult("x.jpg", 10, 10, [face], labels=["happy", "embarrassed"])
    ko = result.with_label_names({"happy": "기쁨", "embarrassed": "당황"})
    assert ko.labels == ["기쁨", "당황"] and ko.faces[0].label == "당황"
    assert ko.faces[0].probabilities == pytest.approx({"기쁨": 0.3, "당황": 0.7})
    assert result.faces[0].label == "embarrassed"         # the original is untouched
