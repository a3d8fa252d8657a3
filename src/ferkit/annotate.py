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
    """An annotated RGB copy of ``image``: each face's box, label and class-probability bars."""
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    unit = max(min(h, w) / 720.0, 0.35)           # 1.0 at 720p
    thick = max(1, int(round(2 * unit)))
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
        if bars and face.probabilities:
            _draw_bars(out, face, (x, y + bh + thick), max(bw, int(110 * scale)), scale)
    return out


def _draw_bars(img, face: Face, origin, width: int, scale: float) -> None:
    """Per-class bars under the box (moved above it when the image ends first)."""
    names = list(face.probabilities)
    fs = scale * 0.55
    (_, th), _ = cv2.getTextSize("Xg", _FONT, fs, 1)
    row = th + max(3, int(th * 0.5))
    label_w = max(cv2.getTextSize(n[:8], _FONT, fs, 1)[0][0] for n in names) + 4
    x0, y0 = origin
    total = row * len(names) + 4
    H, W = img.shape[:2]
    if y0 + total > H:
        y0 = max(0, int(face.box[1]) - total - int(th * 2.5))
    x0 = int(np.clip(x0, 0, max(W - width, 0)))
    panel = img[y0:y0 + total, x0:x0 + width]
    if panel.size:
        panel[:] = (panel * 0.45).astype(img.dtype)   # darken for contrast
    bar_w = max(width - label_w - 4, 10)
    for k, name in enumerate(names):
        p = face.probabilities[name]
        yy = y0 + 2 + k * row
        cv2.putText(img, name[:8], (x0 + 2, yy + th), _FONT, fs, (255, 255, 255), 1, cv2.LINE_AA)
        bx = x0 + label_w
        cv2.rectangle(img, (bx, yy + 1), (bx + int(bar_w * p), yy + th), class_color(name), -1)
