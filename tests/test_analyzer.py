"""The image pipeline end to end on real photos."""

import numpy as np
import pytest

import ferkit
from ferkit.analyzer import Analyzer
from ferkit.errors import UsageError
from ferkit.imageio import ImageError, load_image
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
    results = list(analyzer.analyze_files(paths))
    assert [r.error is None for r in results] == [False, True, False, False]
    # unreadable files have no size; the good one does, and no image is kept unless asked
    assert [(r.width, r.height) for r in results] == [(None, None), (512, 512), (None, None), (None, None)]
    assert all(r.image is None for r in results)
    assert all(r.labels == analyzer.labels for r in results)
    assert len(results[1].faces) == 1
    assert "truncated" in results[0].error and "too large" in results[2].error
    with pytest.raises(ImageError):
        analyzer.analyze(bad["not_an_image"])


def test_tiny_and_huge_images(analyzer):
    assert analyzer.analyze(np.zeros((3, 5, 3), np.uint8)).faces == []
    big = np.tile(astronaut(), (8, 8, 1))  # 4096x4096, 64 faces of ~120 px
    result = analyzer.analyze(big)
    assert len(result.faces) >= 60


def test_classification_makes_new_faces_from_detections(analyzer):
    image = astronaut()
    detections = analyzer.detect(image)
    assert len(detections) == 1 and not hasattr(detections[0], "label")
    faces = analyzer.classify(image, detections)
    assert faces[0].box == detections[0].box and faces[0].score == detections[0].score
    assert faces[0].label == "happy" and faces[0].track_id is None


def test_margin_changes_the_crop_the_model_sees():
    """A wider margin shows more context: the face occupies a smaller part of the crop."""
    image = astronaut()
    tight = Analyzer(margin=0.0, keep_crops=True, threads=1).analyze(image).faces[0].crop
    wide = Analyzer(margin=0.5, keep_crops=True, threads=1).analyze(image).faces[0].crop
    assert tight.shape == wide.shape
    # the wide crop is the tight one shrunk into its centre (up to resampling)
    import cv2

    size = tight.shape[0]
    inner = round(size / 1.5)
    lo = (size - inner) // 2
    shrunk = cv2.resize(tight, (inner, inner), interpolation=cv2.INTER_AREA).astype(float)
    centre = wide[lo:lo + inner, lo:lo + inner].astype(float)
    assert np.abs(centre - shrunk).mean() < np.abs(wide.astype(float) - tight.astype(float)).mean()
    assert not np.array_equal(tight, wide)


@pytest.mark.parametrize("options, message", [
    ({"margin": -0.1}, "margin"), ({"margin": float("nan")}, "margin"),
    ({"min_face_size": 0}, "min_face_size"), ({"min_face_size": 2.5}, "min_face_size"),
    ({"threads": -1}, "threads"), ({"threads": True}, "threads"),
    ({"detect_size": 8}, "detect_size"), ({"score_threshold": 1.5}, "score_threshold"),
    ({"detector": "nosuch"}, "unknown detector"),
])
def test_api_arguments_are_checked_like_the_cli(options, message):
    with pytest.raises(UsageError, match=message):
        Analyzer(**options)


def test_detector_instance_with_detector_options_is_an_error():
    from ferkit.detect import create_detector

    with pytest.raises(UsageError, match="Detector instance"):
        Analyzer(create_detector("retinaface"), min_face_size=40)
    Analyzer(create_detector("retinaface", min_face_size=40), threads=1)  # the right way


# --- fast (default) and the path before it ----------------------------------------

def test_fast_option_and_its_environment_default(monkeypatch):
    from ferkit.analyzer import AnalyzerOptions

    assert AnalyzerOptions().fast is True and Analyzer(threads=1).detector.coarse_side == 320
    before = Analyzer(threads=1, fast=False)
    assert before.options.fast is False and before.detector.coarse_side is None
    monkeypatch.setenv("FERKIT_FAST", "0")
    assert AnalyzerOptions().fast is False and Analyzer(threads=1).detector.coarse_side is None
    assert Analyzer(threads=1, fast=True).options.fast is True
    with pytest.raises(UsageError, match="fast"):
        AnalyzerOptions(fast="yes")


def test_analyze_files_overlapped_gives_what_one_by_one_gives(analyzer, photos_dir, tmp_path):
    """Reading and detecting ahead on a worker thread changes nothing: same results, in
    order, bad files recorded where they are, images kept when asked."""
    from ferkit.detect.retinaface import RetinaFaceDetector

    bad = write_bad_files(tmp_path)
    paths = [photos_dir / "pyfeat_multi_face.jpg", bad["truncated"], photos_dir / "fer_justin.jpg",
             tmp_path / "missing.jpg", photos_dir / "pyfeat_no-face.jpg", photos_dir / "human_group9.jpg"]
    detector = RetinaFaceDetector(threads=1)   # one detector: only the overlap differs
    overlapped = list(Analyzer(detector, threads=1).analyze_files(paths, keep_images=True))
    one_by_one = list(Analyzer(detector, threads=1, fast=False).analyze_files(paths, keep_images=True))
    assert [r.to_dict() for r in overlapped] == [r.to_dict() for r in one_by_one]
    assert [len(r.faces) for r in overlapped] == [5, 0, 1, 0, 0, 5]
    assert [r.error is None for r in overlapped] == [True, False, True, False, True, True]
    assert all((r.image is None) == (r.width is None) for r in overlapped)
    crops = list(Analyzer(detector, threads=1).analyze_files(paths[:1], crop=True))
    assert len(crops[0].faces) == 1 and crops[0].faces[0].box[:2] == (0.0, 0.0)


def test_stopping_a_batch_early_stops_its_worker(analyzer, photos_dir):
    import threading

    files = sorted(photos_dir.glob("*.jpg"))
    results = analyzer.analyze_files(files)
    first = next(results)
    assert first.error is None
    results.close()
    assert not [t for t in threading.enumerate() if t.name == "ferkit-read"]


def test_fast_and_before_agree_on_the_shared_photos(analyzer, photos_dir, photo_face_counts):
    """Same face counts; where the full-size pass answered, the very same faces; where a
    coarse pass did, boxes within a few percent of the face and the same landmarks to
    a few percent of its width."""
    before = Analyzer(threads=1, fast=False)
    for name in photo_face_counts:
        image = load_image(photos_dir / name)
        answered = dict(analyzer.detector.passes)
        now, then = analyzer.analyze(image).faces, before.analyze(image).faces
        full = analyzer.detector.passes.get("full", 0) > answered.get("full", 0)
        assert len(now) == len(then), name
        for a, b in zip(sorted(now, key=lambda f: f.box), sorted(then, key=lambda f: f.box)):
            if full:
                assert a.to_dict() == b.to_dict(), name
                continue
            side = b.box[2]
            assert np.abs(np.array(a.box) - np.array(b.box)).max() < 0.15 * side, name
            assert np.abs(a.landmarks - b.landmarks).max() < 0.15 * side, name
