"""Labels from file names: tokens, the default keyword map, multi-keyword and Korean
names, user maps, file-name patterns, class folders, and ``ferkit data label``."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from ferkit.data.keywords import default_keywords, label_from_name, load_keywords, tokenize
from ferkit.data.labelling import Labeller, label_pictures, read_labels_file, write_labels_file
from ferkit.errors import ConfigError, DatasetError

KOREAN = ("020ebc10d4c4758048577c36ffa034c3759efd81ce478c997835d63d1e7395fd_여_30_기쁨_"
          "공공시설&종교&의료시설_20210222125753-001-001.jpg")


@pytest.mark.parametrize("name,words", [
    ("stubborn-sad-upset-little-asian-260nw-554860681.jpg", ["stubborn", "sad", "upset", "little", "asian"]),
    ("HappyGirlSmiling_01.png", ["happy", "girl", "smiling"]),
    ("portrait of young woman crying - Shutterstock 1234.JPG", ["portrait", "of", "young", "woman", "crying"]),
    ("angry2man.jpeg", ["angry", "man"]),
    ("istockphoto-1200px-shocked_businessman.webp", ["shocked", "businessman"]),
])
def test_tokenize(name, words):
    assert tokenize(name) == words


@pytest.mark.parametrize("name,label,reason", [
    ("stubborn-sad-upset-little-asian-260nw-554860681.jpg", None,
     "keywords of several labels: sad (sad), angry (upset)"),
    ("unhappy-man.jpg", "angry", ""),                      # the scrapes filed unhappy under anger
    ("frightened-amazed-girl.jpg", "surprise", ""),        # two words, one label
    ("HappyGirlSmiling_01.png", "happy", ""),
    ("little-boy-cry-123rf.jpg", "sad", ""),
    ("man-with-a-poker-face.jpg", "neutral", ""),          # a phrase
    ("sadistic-villain.jpg", None, "no keyword in the name"),   # whole words only
    ("happy-and-sad-mask.jpg", None, "keywords of several labels: happy (happy), sad (sad)"),
    (KOREAN, "happy", ""),
    ("여자_슬픔_사진.jpg", "sad", ""),
    ("남자_분노_기쁨.png", None, "keywords of several labels: angry (분노), happy (기쁨)"),
    ("business-meeting-260nw-1.jpg", None, "no keyword in the name"),
])
def test_default_keywords(name, label, reason):
    got = label_from_name(name, default_keywords())
    assert (got.label, got.reason) == (label, reason)


def test_korean_names_written_decomposed_still_match():
    import unicodedata

    assert label_from_name(unicodedata.normalize("NFD", "여자_슬픔.jpg"), default_keywords()).label == "sad"


def test_user_keyword_maps(tmp_path):
    path = tmp_path / "words.yaml"
    path.write_text("anger: [grumpy, cross]\nhappiness: [beaming, over the moon]\n기쁨: [신남]\n")
    words = load_keywords(path)
    assert label_from_name("grumpy-cat.jpg", words).label == "angry"
    assert label_from_name("girl-over-the-moon.jpg", words).label == "happy"
    assert label_from_name("신남_아이.jpg", words).label == "happy"
    assert label_from_name("sad-man.jpg", words).label is None       # only the user's words
    (tmp_path / "bad.json").write_text(json.dumps({"happy": ["glad"], "sad": ["glad"]}))
    with pytest.raises(ConfigError, match="'glad' is a word of both happy and sad"):
        load_keywords(tmp_path / "bad.json")
    (tmp_path / "unknown.json").write_text(json.dumps({"bored": ["meh"]}))
    with pytest.raises(ConfigError, match="unknown expression label 'bored'"):
        load_keywords(tmp_path / "unknown.json")
    with pytest.raises(ConfigError, match="keyword map not found"):
        load_keywords(tmp_path / "missing.yaml")


def test_labeller_sources(tmp_path):
    folders = Labeller.for_folder(tmp_path)
    assert folders.label(Path("x.jpg"), "Happiness/IMG_001.jpg").label == "happy"
    assert folders.label(Path("sad-girl.jpg"), "misc/sad-girl.jpg").label == "sad"   # not a class folder
    pattern = Labeller.for_folder(tmp_path, pattern=r"(?P<person>[0-9a-f]{64})_(?P<g>.)_(?P<a>\d+)_(?P<label>[^_]+)_.*")
    assert pattern.label(Path(KOREAN), KOREAN).label == "happy"
    assert pattern.label(Path("a.jpg"), "a.jpg").reason == "the name does not match the pattern"


def test_label_pictures_counts_faces_and_writes_a_labels_file(tmp_path, photos_dir):
    src = tmp_path / "raw"
    src.mkdir()
    shutil.copy(photos_dir / "fer_justin.jpg", src / "happy-man.jpg")
    shutil.copy(photos_dir / "facerec_two_people.jpg", src / "happy-friends.jpg")
    shutil.copy(photos_dir / "pyfeat_no-face.jpg", src / "sad-landscape.jpg")
    shutil.copy(photos_dir / "pyfeat_0-f1-su-ph.jpg", src / "stubborn-sad-upset-little-asian-260nw-554860681.jpg")
    summary = label_pictures(src, Labeller.for_folder(src), progress=False)
    rows = {r["file"]: r for r in summary.rows}
    assert (rows["happy-man.jpg"]["status"], rows["happy-man.jpg"]["label"], rows["happy-man.jpg"]["faces"]) == \
        ("labelled", "happy", 1)
    assert rows["happy-friends.jpg"]["status"] == "review"
    assert rows["happy-friends.jpg"]["reason"].startswith("several faces (2)")
    assert rows["sad-landscape.jpg"]["reason"] == "no face found"
    assert rows["stubborn-sad-upset-little-asian-260nw-554860681.jpg"]["keywords"] == "sad: sad; angry: upset"
    out = write_labels_file(tmp_path / "labels.csv", summary)
    with open(out, newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    table = read_labels_file(out)
    assert table["happy-man.jpg"].label == "happy" and table["happy-friends.jpg"].label is None
    (tmp_path / "broken.csv").write_text("file,label,status\nx.jpg,happy,perhaps\n")
    with pytest.raises(DatasetError, match="broken.csv:2: status 'perhaps'"):
        read_labels_file(tmp_path / "broken.csv")
