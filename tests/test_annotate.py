"""Rendering tests for ferkit.annotate: every label and its probabilities stay readable.

Each layout check asserts that no tag overlaps another tag, a panel or a face, that no
panel overlaps a face, and that the pixels of every tag in the final image are exactly
the tag as drawn (fill and text, rendered here independently): nothing painted over it.
"""

from __future__ import annotations

import inspect
from itertools import combinations

import cv2
import numpy as np
import pytest
import skimage.data

from ferkit.annotate import CLASS_COLORS, class_color, draw_faces
from ferkit.results import Face

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _face(box, probs, track_id=None, landmarks=True) -> Face:
    x, y, w, h = box
    probs = {c: float(p) for c, p in zip(CLASSES, probs)}
    lm = None
    if landmarks:   # eyes, nose, mouth corners at the usual places in the box
        lm = np.array([[x + .3 * w, y + .4 * h], [x + .7 * w, y + .4 * h], [x + .5 * w, y + .6 * h],
                       [x + .35 * w, y + .78 * h], [x + .65 * w, y + .78 * h]])
    return Face(box=tuple(float(v) for v in box), score=0.99, landmarks=lm,
                label=max(probs, key=probs.get), probabilities=probs, track_id=track_id)


def _random_probs(rng):
    return rng.dirichlet(np.full(len(CLASSES), 0.4))


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(r, shape) -> bool:
    return 0 <= r[0] < r[2] <= shape[1] and 0 <= r[1] < r[3] <= shape[0]


def _box_rect(face: Face):
    x, y, w, h = face.box
    return int(x), int(y), int(np.ceil(x + w)) + 1, int(np.ceil(y + h)) + 1


def _tag_as_drawn(layout, shape):
    """The tag rendered on its own, independently of draw_faces: solid fill and the text."""
    canvas = np.zeros(shape, np.uint8)
    x0, y0, x1, y1 = layout.tag
    canvas[y0:y1, x0:x1] = layout.fill
    cv2.putText(canvas, layout.text, layout.org, cv2.FONT_HERSHEY_SIMPLEX, layout.font_scale,
                layout.text_color, layout.thickness, cv2.LINE_AA)
    return canvas


def _ink_rows(region: np.ndarray, background) -> np.ndarray:
    """Indices of the rows of ``region`` holding text ink (pixels far from ``background``)."""
    diff = np.abs(region.astype(int) - np.asarray(background, int)).max(axis=2)
    return np.nonzero((diff > 100).any(axis=1))[0]


def _panel_text_height(out: np.ndarray, layout) -> int:
    """Tallest run of rows with white text in the panel's left (class name) column."""
    x0, y0, x1, y1 = layout.panel
    names = out[y0:y1, x0:x0 + (x1 - x0) // 3]
    rows = np.nonzero((names.min(axis=2) > 170).any(axis=1))[0]
    runs = np.split(rows, np.nonzero(np.diff(rows) > 1)[0] + 1) if len(rows) else []
    return max((len(r) for r in runs), default=0)


def check_layout(image: np.ndarray, faces: list[Face], out: np.ndarray, layouts,
                 allow_blocked: bool = False) -> None:
    """Every tag and panel is inside the image and free of each other and of every face;
    every tag's pixels are exactly the tag as drawn, with its text visible. With
    ``allow_blocked`` a tag that found no free place (flagged ``blocked``, in the compact
    form) may cover a face, still nothing else."""
    assert len(layouts) == len(faces)
    boxes = [_box_rect(f) for f in faces]
    tags = [lay.tag for lay in layouts]
    panels = [lay.panel for lay in layouts if lay.panel is not None]
    for lay in layouts:
        assert allow_blocked or not lay.blocked, f"face {lay.index}: no free place for its tag"
        assert _inside(lay.tag, out.shape), lay.tag
        if lay.blocked:
            assert lay.compact
        else:
            for k, box in enumerate(boxes):
                assert not _overlap(lay.tag, box), f"tag {lay.index} covers face {k}"
        for p in panels:
            assert not _overlap(lay.tag, p), f"tag {lay.index} under panel {p}"
        if lay.panel is not None:
            assert _inside(lay.panel, out.shape), lay.panel
            for k, box in enumerate(boxes):
                assert not _overlap(lay.panel, box), f"panel {lay.index} covers face {k}"
        # the tag's own face box is right next to it (or under it), not somewhere else
        gap_x = max(boxes[lay.index][0] - lay.tag[2], lay.tag[0] - boxes[lay.index][2], 0)
        gap_y = max(boxes[lay.index][1] - lay.tag[3], lay.tag[1] - boxes[lay.index][3], 0)
        assert max(gap_x, gap_y) <= 8, f"tag {lay.index} is {gap_x, gap_y} px from its face"
    for a, b in combinations(tags, 2):
        assert not _overlap(a, b), f"tags {a} and {b} overlap"
    for a, b in combinations(panels, 2):
        assert not _overlap(a, b), f"panels {a} and {b} overlap"
    for lay in layouts:
        x0, y0, x1, y1 = lay.tag
        expected = _tag_as_drawn(lay, out.shape)
        np.testing.assert_array_equal(out[y0:y1, x0:x1], expected[y0:y1, x0:x1],
                                      err_msg=f"tag {lay.text!r} was painted over")
        ink = np.zeros(out.shape[:2], np.uint8)   # all of the text lies inside its tag
        cv2.putText(ink, lay.text, lay.org, cv2.FONT_HERSHEY_SIMPLEX, lay.font_scale, 255,
                    lay.thickness, cv2.LINE_AA)
        assert ink.sum() == ink[y0:y1, x0:x1].sum(), f"text of {lay.text!r} spills out of its tag"
        assert len(_ink_rows(out[y0:y1, x0:x1], lay.fill)) > 0


# ------------------------------------------------------------------ scenes from skimage.data

def astronaut_closeup() -> np.ndarray:
    """A 640x360 close-up: the astronaut's head fills most of the frame height."""
    return cv2.resize(skimage.data.astronaut()[20:200, 80:400], (640, 360), interpolation=cv2.INTER_AREA)


def closeup_face(track_id=4) -> Face:
    # the head nearly touches the top and bottom of the frame, as in a close-up video
    return _face((190, 6, 200, 348), [0.02, 0.01, 0.02, 0.86, 0.03, 0.02, 0.04], track_id=track_id)


def crowd(n=20, size=(720, 1280), seed=0):
    """``n`` real faces (crops of the astronaut) packed into a group shot, in staggered rows."""
    rng = np.random.default_rng(seed)
    astro = skimage.data.astronaut()
    frame = cv2.resize(astro, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    frame = (frame * 0.6).astype(np.uint8)
    head = astro[53:171, 170:278]   # eyes and mouth where _face puts the landmarks
    faces = []
    per_row, rows = 7, int(np.ceil(n / 7))
    for k in range(n):
        r, c = divmod(k, per_row)
        w = int(rng.integers(58, 78))
        h = int(w * 1.1)
        x = int(60 + c * (size[1] - 120) / per_row + (r % 2) * 70 + rng.integers(-10, 10))
        y = int(90 + r * (size[0] - 160) / rows + rng.integers(-12, 12))
        frame[y:y + h, x:x + w] = cv2.resize(head, (w, h), interpolation=cv2.INTER_AREA)
        faces.append(_face((x, y, w, h), _random_probs(rng)))
    return frame, faces


# ------------------------------------------------------------------ tests

def test_closeup_at_360p_label_and_panel_are_both_visible():
    image, face = astronaut_closeup(), closeup_face(track_id=4)
    out, layouts = draw_faces(image, [face], return_layout=True)
    check_layout(image, [face], out, layouts)
    lay = layouts[0]
    assert lay.text == "#4 happy 86%"
    assert lay.panel_kind == "rows" and lay.panel_rows == len(CLASSES)   # room beside the face
    assert len(_ink_rows(out[lay.tag[1]:lay.tag[3], lay.tag[0]:lay.tag[2]], lay.fill)) >= 11
    assert _panel_text_height(out, lay) >= 9        # legible probabilities at 360p
    # nothing was drawn inside the face but its box line and landmarks
    x, y, w, h = (int(v) for v in face.box)
    inner = (slice(y + 4, y + h - 4), slice(x + 4, x + w - 4))
    plain = draw_faces(image, [Face(box=face.box, score=1.0, landmarks=face.landmarks, label=face.label)],
                       bars=False)
    np.testing.assert_array_equal(out[inner], plain[inner])


def test_portrait_whose_panel_does_not_fit_below_the_face():
    image = skimage.data.astronaut()                       # 512x512 portrait
    face = _face((150, 330, 140, 170), [0.1, 0.05, 0.05, 0.1, 0.6, 0.05, 0.05])   # near the bottom
    out, layouts = draw_faces(image, [face], return_layout=True)
    check_layout(image, [face], out, layouts)
    assert layouts[0].panel_kind == "rows"


def test_twenty_faces_tags_and_panels_never_collide():
    image, faces = crowd(20)                               # 1280x720
    out, layouts = draw_faces(image, faces, return_layout=True)
    check_layout(image, faces, out, layouts)
    assert all(lay.panel_kind == "rows" and lay.panel_rows >= 2 for lay in layouts)
    assert not any(lay.compact for lay in layouts)


def test_twenty_faces_at_540p_keep_full_tags_and_most_panels():
    image, faces = crowd(20, size=(540, 960))
    out, layouts = draw_faces(image, faces, return_layout=True)
    check_layout(image, faces, out, layouts)
    assert not any(lay.compact for lay in layouts)
    assert all(lay.panel_kind in ("rows", "bar") for lay in layouts)   # the bar when no panel fits
    assert sum(lay.panel_kind == "rows" for lay in layouts) >= 15


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_packed_crowd_falls_back_to_compact_tags_that_still_never_collide(seed):
    # 24 faces in 900x600, about 20 px between rows: no room for every full tag
    image, faces = crowd(24, size=(600, 900), seed=seed)
    out, layouts = draw_faces(image, faces, return_layout=True)
    check_layout(image, faces, out, layouts, allow_blocked=True)
    assert any(lay.compact for lay in layouts)
    assert sum(lay.blocked for lay in layouts) <= len(faces) // 3


def test_real_group_photo(photos_dir):
    import ferkit

    result = ferkit.Analyzer().analyze(photos_dir / "retina_img2.jpg")
    assert len(result.faces) >= 20
    image = cv2.cvtColor(cv2.imread(str(photos_dir / "retina_img2.jpg")), cv2.COLOR_BGR2RGB)
    out, layouts = draw_faces(image, result.faces, return_layout=True)
    check_layout(image, result.faces, out, layouts)
    assert all(lay.panel_kind == "rows" for lay in layouts)


def test_text_height_scales_with_the_image():
    base, face = astronaut_closeup(), closeup_face()
    heights = {}
    for k in (1, 2, 3):                                   # 360p, 720p, 1080p
        image = cv2.resize(base, (640 * k, 360 * k), interpolation=cv2.INTER_LINEAR)
        scaled = _face(tuple(v * k for v in face.box), list(face.probabilities.values()), track_id=4)
        out, (lay,) = draw_faces(image, [scaled], return_layout=True)
        tag = out[lay.tag[1]:lay.tag[3], lay.tag[0]:lay.tag[2]]
        heights[k] = (len(_ink_rows(tag, lay.fill)), _panel_text_height(out, lay))
    assert heights[1][0] >= 11 and heights[1][1] >= 9      # legible at 360p
    assert heights[1][0] < heights[2][0] < heights[3][0]
    assert heights[1][1] < heights[2][1] < heights[3][1]
    assert heights[3][0] >= 1.8 * heights[1][0] and heights[3][1] >= 1.8 * heights[1][1]


def test_track_id_comes_from_the_face():
    assert "track_ids" not in inspect.signature(draw_faces).parameters
    image, face = astronaut_closeup(), closeup_face(track_id=None)
    _, (lay,) = draw_faces(image, [face], return_layout=True)
    assert lay.text == "happy 86%"
    face.track_id = 12
    _, (lay,) = draw_faces(image, [face], return_layout=True)
    assert lay.text.startswith("#12 ")


def test_awkward_inputs_still_draw():
    image = astronaut_closeup()
    assert np.array_equal(draw_faces(image, []), image)
    assert draw_faces(image, []) is not image
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    out = draw_faces(gray, [closeup_face()])
    assert out.shape == (*gray.shape, 3)
    # a face leaving the frame, one without probabilities, and a tiny image
    faces = [_face((600, 300, 120, 120), _random_probs(np.random.default_rng(0))),
             Face(box=(10, 40, 60, 60), score=0.9)]
    out, layouts = draw_faces(image, faces, return_layout=True)
    assert all(_inside(lay.tag, out.shape) for lay in layouts)
    assert layouts[1].text == "face" and layouts[1].panel is None
    tiny = np.zeros((148, 199, 3), np.uint8)
    out, (lay,) = draw_faces(tiny, [_face((0, 0, 199, 148), _random_probs(np.random.default_rng(1)))],
                             return_layout=True)
    assert out.shape == tiny.shape and _inside(lay.tag, tiny.shape)


def test_class_colours():
    assert class_color("happy") == CLASS_COLORS["happy"]
    assert class_color("unknown-label") == class_color("unknown-label")
    assert all(0 <= v <= 255 for v in class_color(None))
