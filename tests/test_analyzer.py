"""The image pipeline end to end on real photos."""

import numpy as np
import pytest

import ferkit
from ferkit.analyzer import Analyzer, expand_inputs
from ferkit.imageio import ImageError
from imagefiles import astronaut, write_bad_files


@pytest.fixture(scope="module")
def analyzer():
    return Analyzer(threads=1)


def test_astronaut_is_one_happy_face(analyzer):
    result = analyzer.analyze(astronaut())
    assert (result.width, result.height) == (512, 512)
    assert len(result.faces) == 1
    face = result.faces[0]
    x, y, w, h = face.box
    # her face sits around (225, 115) in the 512x512 picture
    assert x < 225 < x + w and y < 115 < y + h
    assert face.label == "happy"
    assert set(face.probabilities) == set(ferkit.FER7.labels)
    assert np.isclose(sum(face.probabilities.values()), 1.0, atol=1e-5)
    assert face.confidence == max(face.probabilities.values())


def test_module_level_analyze_accepts_a_path(tmp_path):
    from PIL import Image

    path = tmp_path / "astronaut.png"
    Image.fromarray(astronaut()).save(path)
    result = ferkit.analyze(path)
    assert result.file == str(path) and len(result.faces) == 1


def test_face_counts_on_real_photos(analyzer, photos_dir, photo_face_counts):
    """Exact count on photos with up to 3 faces; within 1 on larger groups."""
    checked = 0
    for name, expected in photo_face_counts.items():
        if expected is None:
            continue
        found = len(analyzer.analyze(photos_dir / name).faces)
        tolerance = 0 if expected <= 3 else 1
        assert abs(found - expected) <= tolerance, f"{name}: found {found}, expected {expected}"
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("name", ["pyfeat_no-face.jpg", "fer_no-faces.jpg"])
def test_no_face_photos(analyzer, photos_dir, name):
    result = analyzer.analyze(photos_dir / name)
    assert result.faces == [] and result.error is None


def test_crop_mode_classifies_the_whole_image(analyzer):
    img = astronaut()[40:200, 160:290]  # roughly her face
    result = analyzer.analyze(img, crop=True)
    assert len(result.faces) == 1
    assert result.faces[0].box == (0.0, 0.0, 130.0, 160.0)
    assert result.faces[0].label == "happy"


def test_batch_records_errors_and_keeps_going(analyzer, tmp_path):
    bad = write_bad_files(tmp_path)
    from PIL import Image

    good = tmp_path / "good.png"
    Image.fromarray(astronaut()).save(good)
    paths = [bad["truncated"], good, bad["bomb"], tmp_path / "missing.jpg"]
    results = [r for r, _ in analyzer.analyze_files(paths)]
    assert [r.error is None for r in results] == [False, True, False, False]
    assert len(results[1].faces) == 1
    assert "truncated" in results[0].error and "too large" in results[2].error
    with pytest.raises(ImageError):
        analyzer.analyze(bad["not_an_image"])


def test_expand_inputs_folders_globs_and_missing(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for p in ("a/1.jpg", "a/b/2.PNG", "a/notes.txt"):
        (tmp_path / p).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    files, errors = expand_inputs([tmp_path / "a", str(tmp_path / "a" / "*.jpg"),
                                   tmp_path / "empty", tmp_path / "nothing.jpg",
                                   str(tmp_path / "*.gif")])
    assert [p.name for p in files] == ["1.jpg", "2.PNG", "1.jpg"]
    msgs = sorted(e.error.split(":")[0] for e in errors)
    assert msgs == ["file not found", "no files match", "no images found in folder"]


def test_tiny_and_huge_images(analyzer):
    assert analyzer.analyze(np.zeros((3, 5, 3), np.uint8)).faces == []
    big = np.tile(astronaut(), (8, 8, 1))  # 4096x4096, 64 faces of ~120 px
    result = analyzer.analyze(big)
    assert len(result.faces) >= 60
