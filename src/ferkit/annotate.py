"""Drawing results onto images: box, label and a probability bar per face.

Sizes scale with the image, so labels stay legible from thumbnails to 4K.
"""

from __future__ import annotations

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


def class_color(label: str | None) -> tuple[int, int, int]:
    if label in CLASS_COLORS:
        return CLASS_COLORS[label]
    h = sum(map(ord, label or "")) * 47 % 180
    hsv = np.uint8([[[h, 200, 230]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def _text_on_fill(img, text, org, scale, thick, fill, color=(255, 255, 255)):
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    x, y = org
    pad = max(2, int(th * 0.3))
    x = int(np.clip(x, 0, max(img.shape[1] - tw - 2 * pad, 0)))
    y = int(np.clip(y, th + 2 * pad, img.shape[0]))
    cv2.rectangle(img, (x, y - th - 2 * pad), (x + tw + 2 * pad, y + base // 2), fill, -1)
    cv2.putText(img, text, (x + pad, y - pad), _FONT, scale, color, thick, cv2.LINE_AA)
    return tw + 2 * pad, th + 2 * pad


def draw_faces(image: np.ndarray, faces: list[Face], track_ids: list[int] | None = None,
               bars: bool = True) -> np.ndarray:
    """An annotated RGB copy of ``image``: each face's box, label and class probabilities.

    Probabilities are drawn as a panel of per-class bars under the face where it
    fits without covering another face, else as one compact stacked bar.
    """
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    unit = max(min(h, w) / 720.0, 0.35)           # 1.0 at 720p
    thick = max(1, int(round(2 * unit)))
    occupied = [_rect(f.box) for f in faces]
    for i, face in enumerate(faces):
        x, y, bw, bh = (int(round(v)) for v in face.box)
        color = class_color(face.label)
        cv2.rectangle(out, (x, y), (x + bw, y + bh), color, thick, cv2.LINE_AA)
        if face.landmarks is not None:
            for px, py in face.landmarks:
                cv2.circle(out, (int(px), int(py)), max(1, thick), (255, 255, 255), -1, cv2.LINE_AA)
        scale = float(np.clip(bw / 220.0, 0.45 * unit, 0.9 * unit))
        tthick = max(1, int(round(scale * 1.8)))
        title = face.label or "face"
        if face.label:
            title += f" {face.confidence:.0%}"
        if track_ids is not None:
            title = f"#{track_ids[i]} {title}"
        _text_on_fill(out, title, (x, y - thick), scale, tthick, color)
        if not (bars and face.probabilities):
            continue
        width = max(bw, int(110 * scale))
        panel = _panel_rect(out, face, (x, y + bh + thick), width, scale)
        others = occupied[:i] + occupied[i + 1:]
        if any(_overlaps(panel, r) for r in others):
            _draw_stacked_bar(out, face, (x, y + bh + thick), bw, max(3, int(6 * unit)))
        else:
            _draw_panel(out, face, panel, scale)
            occupied.append(panel)
    return out


def _rect(box) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return int(x), int(y), int(x + w), int(y + h)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _panel_metrics(face: Face, scale: float):
    fs = scale * 0.55
    (_, th), _ = cv2.getTextSize("Xg", _FONT, fs, 1)
    row = th + max(3, int(th * 0.5))
    return fs, th, row, row * len(face.probabilities) + 4


def _panel_rect(img, face: Face, origin, width: int, scale: float) -> tuple[int, int, int, int]:
    """Where the per-class panel goes: under the box, or above it at the image's bottom."""
    _, th, _, total = _panel_metrics(face, scale)
    H, W = img.shape[:2]
    x0, y0 = origin
    if y0 + total > H:
        y0 = max(0, int(face.box[1]) - total - int(th * 2.5))
    x0 = int(np.clip(x0, 0, max(W - width, 0)))
    return x0, y0, x0 + width, y0 + total


def _draw_panel(img, face: Face, rect, scale: float) -> None:
    fs, th, row, _ = _panel_metrics(face, scale)
    x0, y0, x1, y1 = rect
    region = img[y0:y1, x0:x1]
    if region.size:
        region[:] = (region * 0.45).astype(img.dtype)   # darken for contrast
    names = list(face.probabilities)
    label_w = max(cv2.getTextSize(n[:8], _FONT, fs, 1)[0][0] for n in names) + 4
    bar_w = max(x1 - x0 - label_w - 4, 10)
    for k, name in enumerate(names):
        yy = y0 + 2 + k * row
        cv2.putText(img, name[:8], (x0 + 2, yy + th), _FONT, fs, (255, 255, 255), 1, cv2.LINE_AA)
        bx = x0 + label_w
        cv2.rectangle(img, (bx, yy + 1), (bx + int(bar_w * face.probabilities[name]), yy + th),
                      class_color(name), -1)


def _draw_stacked_bar(img, face: Face, origin, width: int, height: int) -> None:
    """One bar split into class-coloured segments proportional to the probabilities."""
    x, y = origin
    y = min(y, img.shape[0] - height)
    for name, p in face.probabilities.items():
        seg = int(round(width * p))
        if seg > 0:
            cv2.rectangle(img, (x, y), (x + seg, y + height), class_color(name), -1)
        x += seg
