"""Drawing results onto images: box, label tag and a probability panel per face.

Text is sized from the image (legible at 360p, larger on bigger images) and every
tag and panel is placed where it covers no face, no other tag and no other panel:
:func:`plan_layout` works out the rectangles, :func:`draw_faces` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ferkit.results import Face

# RGB colour per canonical class; unknown classes get a stable fallback.
CLASS_COLORS: dict[str, tuple[int, int, int]] = {
    "angry": (220, 40, 40), "disgust": (120, 160, 30), "fear": (150, 70, 200),
    "happy": (250, 200, 0), "sad": (40, 110, 230), "surprise": (250, 120, 20),
    "neutral": (150, 150, 150), "contempt": (150, 90, 50), "anxiety": (0, 170, 170),
    "hurt": (200, 60, 140),
}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_AA = cv2.LINE_AA

# Font scales (cv2.putText units; 0.5 draws capitals about 11 px tall).
TAG_SCALE_360P = 0.5      # label tags on a 360-pixel image, and the smallest ever used
PANEL_SCALE_MIN = 0.45    # probability rows never get smaller than this
PANEL_TOP = 3             # rows in a panel when the full list of classes does not fit

Rect = tuple[int, int, int, int]   # (x0, y0, x1, y1), half-open: x0 <= x < x1


def class_color(label: str | None) -> tuple[int, int, int]:
    if label in CLASS_COLORS:
        return CLASS_COLORS[label]
    h = sum(map(ord, label or "")) * 47 % 180
    hsv = np.uint8([[[h, 200, 230]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _ink_for(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black text on light fills (happy's yellow), white on dark ones."""
    r, g, b = fill
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


@dataclass
class FaceLayout:
    """Where one face's annotations went (pixel rectangles are ``(x0, y0, x1, y1)``, half-open).

    ``tag`` holds the label text drawn at ``org`` with ``font_scale`` and ``thickness``
    in ``text_color`` on a solid ``fill``; ``panel`` is the probability panel
    (``panel_kind`` "rows" with ``panel_rows`` classes, or "bar" for the compact
    stacked bar) or ``None``. ``blocked`` is True when no free place existed and the
    tag had to overlap something.
    """

    index: int
    face_rect: Rect
    tag: Rect
    text: str
    org: tuple[int, int]
    font_scale: float
    thickness: int
    fill: tuple[int, int, int]
    text_color: tuple[int, int, int]
    text_height: int
    compact: bool = False
    blocked: bool = False
    panel: Rect | None = None
    panel_kind: str | None = None
    panel_rows: int = 0
    panel_scale: float = 0.0
    panel_text_height: int = 0
    panel_bar_units: float = 4.0


def image_text_scale(height: int, width: int) -> float:
    """Font scale of label tags for an image of this size: 0.5 at 360p, growing sub-linearly."""
    return TAG_SCALE_360P * max(min(height, width) / 360.0, 1.0) ** 0.7


def _line_thickness(height: int, width: int) -> int:
    return max(1, round(2 * max(min(height, width) / 720.0, 0.35)))


# ---------------------------------------------------------------------------- geometry

def _hits(cands: np.ndarray, obstacles: list[Rect]) -> np.ndarray:
    """Per candidate rectangle: does it intersect any obstacle?"""
    if not obstacles:
        return np.zeros(len(cands), bool)
    o = np.asarray(obstacles)[None]
    c = cands[:, None]
    return ((c[..., 0] < o[..., 2]) & (o[..., 0] < c[..., 2])
            & (c[..., 1] < o[..., 3]) & (o[..., 1] < c[..., 3])).any(axis=1)


def _overlap_area(cands: np.ndarray, obstacles: list[Rect]) -> np.ndarray:
    if not obstacles:
        return np.zeros(len(cands))
    o = np.asarray(obstacles)[None]
    c = cands[:, None]
    w = np.minimum(c[..., 2], o[..., 2]) - np.maximum(c[..., 0], o[..., 0])
    h = np.minimum(c[..., 3], o[..., 3]) - np.maximum(c[..., 1], o[..., 1])
    return (np.clip(w, 0, None) * np.clip(h, 0, None)).sum(axis=1)


def _gaps(cands: np.ndarray, rects: list[Rect]) -> np.ndarray:
    """Distance in pixels from each candidate to the nearest of ``rects`` (0 when touching)."""
    if not rects:
        return np.full(len(cands), np.inf)
    o = np.asarray(rects)[None]
    c = cands[:, None]
    dx = np.maximum(0, np.maximum(o[..., 0] - c[..., 2], c[..., 0] - o[..., 2]))
    dy = np.maximum(0, np.maximum(o[..., 1] - c[..., 3], c[..., 1] - o[..., 3]))
    return np.hypot(dx, dy).min(axis=1)


def _best(cands: np.ndarray, own: list[Rect], others: list[Rect]) -> int:
    """Index of the first candidate plainly nearer its own face than any other, else 0."""
    clear = _gaps(cands, own) < _gaps(cands, others)
    return int(clear.argmax()) if clear.any() else 0


def _clamp(v: int, lo: int, hi: int) -> int:
    return max(lo, min(v, hi))


def _around(anchor: Rect, w: int, h: int, W: int, H: int, sides: str = "abrl") -> np.ndarray:
    """Candidate ``w`` x ``h`` rectangles touching ``anchor`` from outside, in order of
    preference (a: above, b: below, r: right, l: left; corners last), kept inside the image."""
    x0, y0, x1, y1 = anchor
    xs = (x0, x1 - w, (x0 + x1 - w) // 2)
    ys = (y0, y1 - h, (y0 + y1 - h) // 2)
    out = []
    for side in sides:
        if side in "ab":
            y = y0 - h if side == "a" else y1
            out += [(_clamp(x, 0, W - w), y) for x in xs]
        else:
            x = x1 if side == "r" else x0 - w
            out += [(x, _clamp(y, 0, H - h)) for y in ys]
    for side in sides:   # corners: diagonal neighbours of the anchor
        if side in "ab":
            y = y0 - h if side == "a" else y1
            out += [(x0 - w, y), (x1, y)]
    rects = [(x, y, x + w, y + h) for x, y in out if x >= 0 and y >= 0 and x + w <= W and y + h <= H]
    return np.array(rects, dtype=np.int64).reshape(-1, 4)


def _face_rect(face: Face, thick: int) -> Rect:
    """The pixels a face's box line and landmarks may touch."""
    x, y, w, h = (float(v) for v in face.box)
    x0, y0, x1, y1 = x, y, x + w, y + h
    if face.landmarks is not None and len(face.landmarks):
        pts = np.asarray(face.landmarks, dtype=float)
        x0, y0 = min(x0, pts[:, 0].min()), min(y0, pts[:, 1].min())
        x1, y1 = max(x1, pts[:, 0].max()), max(y1, pts[:, 1].max())
    m = thick // 2 + max(1, thick) + 1
    return (int(np.floor(x0)) - m, int(np.floor(y0)) - m, int(np.ceil(x1)) + m + 1, int(np.ceil(y1)) + m + 1)


# ---------------------------------------------------------------------------- text

def _title(face: Face, short: bool = False) -> str:
    label = face.label or "face"
    if short:
        label = label[:3]
    text = label
    if face.label:
        text += f" {face.confidence * 100:.0f}" + ("" if short else "%")
    if face.track_id is not None:
        text = f"#{face.track_id} {text}"
    return text


def _tag_box(text: str, scale: float) -> tuple[int, int, int, int, int, int]:
    """(width, height, pad, text width, text height, baseline) of a tag holding ``text``."""
    thick = _text_thickness(scale)
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    pad = max(2, round(th * 0.25))
    return tw + 2 * pad, th + base + 2 * pad, pad, tw, th, base


def _text_thickness(scale: float) -> int:
    return max(1, round(scale * 1.6))


def _panel_names(face: Face, rows: int) -> list[str]:
    order = sorted(face.probabilities, key=lambda k: -face.probabilities[k])
    return order[:rows]


def _panel_metrics(face: Face, rows: int, scale: float, bar_units: float = 4.0):
    """Size and text metrics of a panel of the ``rows`` most probable classes, with bars
    ``bar_units`` text heights long."""
    names = _panel_names(face, rows)
    (_, th), base = cv2.getTextSize("Xg", _FONT, scale, 1)
    pad = max(2, th // 4)
    row = th + base + max(2, th // 3)
    name_w = max(cv2.getTextSize(n[:8], _FONT, scale, 1)[0][0] for n in names)
    pct_w = cv2.getTextSize("100%", _FONT, scale, 1)[0][0]
    bar_w = round(bar_units * th)
    width = pad + name_w + pad + bar_w + pad + pct_w + pad
    height = 2 * pad + row * len(names)
    return names, th, base, pad, row, name_w, bar_w, pct_w, width, height


# ---------------------------------------------------------------------------- layout

def plan_layout(shape: tuple[int, ...], faces: list[Face], bars: bool = True) -> list[FaceLayout]:
    """Where each face's tag and panel go on an image of ``shape``; one entry per face, in order.

    Tags are placed first, largest face first, each at the first free spot around its
    box (above, below, right, left); a tag that fits nowhere gets a shorter text, then
    the spot with the least overlap. Panels follow in the space left: the full class
    list for every face if all fit, else the top classes, else a stacked bar, else none.
    """
    H, W = int(shape[0]), int(shape[1])
    thick = _line_thickness(H, W)
    img_scale = image_text_scale(H, W)
    floor = max(TAG_SCALE_360P, 0.6 * img_scale)
    face_rects = [_face_rect(f, thick) for f in faces]
    order = sorted(range(len(faces)), key=lambda i: -(faces[i].box[2] * faces[i].box[3]))

    layouts: dict[int, FaceLayout] = {}
    tags: list[Rect] = []
    for i in order:
        face, fr = faces[i], face_rects[i]
        scale = min(max(face.box[2] / 110.0, floor), img_scale)
        tries = [(_title(face), scale, False), (_title(face), floor, True),
                 (_title(face, short=True), floor, True)]
        chosen = None
        for text, s, compact in tries:
            tw_, th_, *_ = _tag_box(text, s)
            cands = _around(fr, tw_, th_, W, H)
            free = cands[~_hits(cands, tags + face_rects)]
            if len(free):
                others = face_rects[:i] + face_rects[i + 1:] + tags
                pick = free[_best(free, [fr], others)]
                chosen = (text, s, compact, tuple(int(v) for v in pick), False)
                break
        if chosen is None:
            # nowhere free: never on another tag; over this face's own box edge (forehead,
            # chin) rather than over a neighbour's face, and as little of it as possible
            text, s = _title(face, short=True), floor
            tw_, th_, *_ = _tag_box(text, s)
            x0, x1 = _clamp(fr[0], 0, max(W - tw_, 0)), _clamp(fr[2] - tw_, 0, max(W - tw_, 0))
            y0, y1 = _clamp(fr[1], 0, max(H - th_, 0)), _clamp(fr[3] - th_, 0, max(H - th_, 0))
            inner = [(x, y, x + tw_, y + th_) for y in (y0, y1) for x in (x0, x1)]
            cands = np.vstack([_around(fr, tw_, th_, W, H), np.array(inner, dtype=np.int64)])
            others = face_rects[:i] + face_rects[i + 1:]
            cost = (_overlap_area(cands, tags) * 1000 + _overlap_area(cands, others) * 2
                    + _overlap_area(cands, [fr]))
            chosen = (text, s, True, tuple(int(v) for v in cands[int(np.argmin(cost))]), True)
        text, s, compact, rect, blocked = chosen
        _, _, pad, _, th, _ = _tag_box(text, s)
        ink_fill = class_color(face.label)
        layouts[i] = FaceLayout(
            index=i, face_rect=fr, tag=rect, text=text, org=(rect[0] + pad, rect[1] + pad + th),
            font_scale=s, thickness=_text_thickness(s), fill=ink_fill, text_color=_ink_for(ink_fill),
            text_height=th, compact=compact, blocked=blocked)
        tags.append(rect)

    if bars:
        _plan_panels(faces, order, layouts, face_rects, tags, W, H, thick,
                     small=max(PANEL_SCALE_MIN, 0.7 * floor))
    return [layouts[i] for i in range(len(faces))]


def _plan_panels(faces, order, layouts, face_rects, tags, W, H, thick, small) -> None:
    """Greedy panel placement (see :func:`plan_layout`), most constrained face first, with
    one repair step: a face left without a panel may take a spot from one neighbour's
    panel if that neighbour then finds another."""
    with_probs = [i for i in order if faces[i].probabilities]
    if not with_probs:
        return
    fixed = face_rects + tags
    free_cache: dict = {}
    others = {i: [r for j, r in enumerate(face_rects) if j != i] + [layouts[j].tag for j in layouts if j != i]
              for i in with_probs}

    def panel_scale(i):
        return max(PANEL_SCALE_MIN, 0.8 * layouts[i].font_scale)

    def free_spots(i, rows, s, units) -> np.ndarray:
        """Spots for face ``i``'s panel that cover no face and no tag, best first."""
        key = (i, rows, s, units)
        if key not in free_cache:
            *_, w, h = _panel_metrics(faces[i], rows, s, units)
            fr, tag = face_rects[i], layouts[i].tag
            union = (min(fr[0], tag[0]), min(fr[1], tag[1]), max(fr[2], tag[2]), max(fr[3], tag[3]))
            c = np.vstack([_around(fr, w, h, W, H, "b"), _around(union, w, h, W, H, "b"),
                           _around(fr, w, h, W, H, "rl"), _around(union, w, h, W, H, "rla"),
                           _around(tag, w, h, W, H, "abrl")])
            free_cache[key] = c[~_hits(c, fixed)] if len(c) else c
        return free_cache[key]

    def place(i, variants, panels: list[Rect]):
        for rows, s, units in variants:
            c = free_spots(i, rows, s, units)
            if len(c):
                c = c[~_hits(c, panels)]
                if len(c):
                    pick = c[_best(c, [face_rects[i], layouts[i].tag], others[i])]
                    return tuple(int(v) for v in pick), rows, s, units
        return None

    def attempt(variants_of, all_or_nothing):
        placed: dict[int, tuple[Rect, int, float, float]] = {}
        for i in with_probs:
            p = place(i, variants_of(i), [v[0] for v in placed.values()])
            if p is None:
                if all_or_nothing:
                    return None
                continue
            placed[i] = p
        for i in [i for i in with_probs if i not in placed]:   # repair
            for rows, s, units in variants_of(i):
                hit = None
                for c in free_spots(i, rows, s, units):
                    c = tuple(int(v) for v in c)
                    blockers = [j for j, v in placed.items() if _hits(np.array([c]), [v[0]])[0]]
                    if len(blockers) != 1:
                        continue
                    j = blockers[0]
                    pj = place(j, variants_of(j), [v[0] for k, v in placed.items() if k != j] + [c])
                    if pj is not None:
                        hit = (c, j, pj)
                        break
                if hit:
                    c, j, pj = hit
                    placed[i], placed[j] = (c, rows, s, units), pj
                    break
        return placed

    def room(i):   # free spots for a small panel before any panel is placed
        return len(free_spots(i, min(PANEL_TOP, len(faces[i].probabilities)), small, 4.0))

    def smaller(i):
        n = len(faces[i].probabilities)
        top = min(PANEL_TOP, n)
        return [(top, panel_scale(i), 4.0), (top, small, 4.0), (min(2, n), small, 4.0),
                (min(2, n), small, 1.5)]

    with_probs.sort(key=room)
    placed = (attempt(lambda i: [(len(faces[i].probabilities), panel_scale(i), 4.0)], True)
              or attempt(smaller, False))
    panels = [v[0] for v in placed.values()]
    for i in with_probs:
        lay = layouts[i]
        if i in placed:
            lay.panel, lay.panel_rows, lay.panel_scale, lay.panel_bar_units = placed[i]
            lay.panel_kind = "rows"
            lay.panel_text_height = cv2.getTextSize("Xg", _FONT, lay.panel_scale, 1)[0][1]
            continue
        # compact form: one bar split by class, as wide as the face
        fr = face_rects[i]
        bw, bh = max(fr[2] - fr[0], 8), max(4, 2 * thick + 2)
        cands = np.vstack([_around(fr, bw, bh, W, H, "b"), _around(lay.tag, bw, bh, W, H, "ab")])
        free = cands[~_hits(cands, fixed + panels)] if len(cands) else cands
        if len(free):
            lay.panel = tuple(int(v) for v in free[0])
            lay.panel_kind = "bar"
            panels.append(lay.panel)


# ---------------------------------------------------------------------------- drawing

def draw_faces(image: np.ndarray, faces: list[Face], bars: bool = True, *,
               return_layout: bool = False):
    """An annotated RGB copy of ``image``: each face's box, label tag and class probabilities.

    The tag reads ``#track label confidence`` (the ``#track`` part only for faces with a
    ``track_id``). With ``bars`` each face also gets a panel of its most probable
    classes where one fits without covering a face or a tag, else a compact stacked
    bar. With ``return_layout`` the result is ``(image, layouts)``, one
    :class:`FaceLayout` per face saying where its tag and panel were drawn.
    """
    out = np.ascontiguousarray(image.copy())
    if out.ndim == 2:
        out = np.ascontiguousarray(np.repeat(out[:, :, None], 3, axis=2))
    h, w = out.shape[:2]
    thick = _line_thickness(h, w)
    layouts = plan_layout(out.shape, faces, bars)
    for face in faces:   # boxes first: nothing below may be painted over a tag
        x, y, bw, bh = (round(float(v)) for v in face.box)
        cv2.rectangle(out, (x, y), (x + bw, y + bh), class_color(face.label), thick, _AA)
        if face.landmarks is not None:
            for px, py in face.landmarks:
                cv2.circle(out, (int(px), int(py)), max(1, thick), (255, 255, 255), -1, _AA)
    for face, lay in zip(faces, layouts):
        if lay.panel_kind == "rows":
            _draw_panel(out, face, lay)
        elif lay.panel_kind == "bar":
            _draw_stacked_bar(out, face, lay.panel)
    for lay in layouts:   # tags last, on top of everything
        x0, y0, x1, y1 = lay.tag
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), lay.fill, -1)
        cv2.putText(out, lay.text, lay.org, _FONT, lay.font_scale, lay.text_color, lay.thickness, _AA)
    return (out, layouts) if return_layout else out


def _draw_panel(img: np.ndarray, face: Face, lay: FaceLayout) -> None:
    names, th, _, pad, row, name_w, bar_w, pct_w, *_ = _panel_metrics(face, lay.panel_rows, lay.panel_scale,
                                                                  lay.panel_bar_units)
    x0, y0, x1, y1 = lay.panel
    region = img[y0:y1, x0:x1]
    region[:] = (region.astype(np.uint16) * 64 >> 8).astype(img.dtype)   # darken for contrast
    s = lay.panel_scale
    for k, name in enumerate(names):
        p = float(face.probabilities[name])
        top = y0 + pad + k * row
        baseline = top + th
        cv2.putText(img, name[:8], (x0 + pad, baseline), _FONT, s, (255, 255, 255), 1, _AA)
        bx = x0 + pad + name_w + pad
        cv2.line(img, (bx, baseline), (bx + bar_w - 1, baseline), (110, 110, 110), 1)
        if p > 0:
            cv2.rectangle(img, (bx, top + 1), (bx + max(1, round(bar_w * p)) - 1, baseline),
                          class_color(name), -1)
        pct = f"{p * 100:.0f}%"
        pw = cv2.getTextSize(pct, _FONT, s, 1)[0][0]
        cv2.putText(img, pct, (bx + bar_w + pad + pct_w - pw, baseline), _FONT, s, (255, 255, 255), 1, _AA)


def _draw_stacked_bar(img: np.ndarray, face: Face, rect: Rect) -> None:
    """One bar split into class-coloured segments proportional to the probabilities."""
    x0, y0, x1, y1 = rect
    x = x0
    for name, p in face.probabilities.items():
        seg = round((x1 - x0) * float(p))
        if seg > 0:
            cv2.rectangle(img, (x, y0), (min(x + seg, x1) - 1, y1 - 1), class_color(name), -1)
        x += seg
