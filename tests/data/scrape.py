"""A raw stock-photo scrape built from the shared photos.

Each picture is one case ``ferkit data clean`` must decide; :data:`EXPECTED` says
how (decision and reason codes per face).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

# picture -> (decision, reason codes) of each of its faces (one entry per face; pictures
# without a face have one row).
EXPECTED = {
    "stubborn-sad-upset-little-asian-260nw-554860681.jpg": [("review", {"no label"})],
    "happy-smiling-man-portrait-shutterstock_99812.jpg": [("keep", set())],
    "cheerful-smile-guy-1200px.jpg": [("reject", {"duplicate"})],
    "laughing-woman-text-banner.jpg": [("reject", {"text"})],
    "sad-asian-woman-stock.jpg": [("reject", {"text"})],
    "happy-woman-blurred.jpg": [("reject", {"blurred"})],
    "happy-friends-together.jpg": [("review", {"several faces"})] * 2,
    "happy-empty-landscape.jpg": [("reject", {"no face"})],
    "shocked-man-profile.jpg": [("reject", {"profile"})],
    "angry-man-shouting.jpg": [("keep", set())],
    "crying-child.jpg": [("reject", {"not decodable"})],
    "portrait-of-a-businessman.jpg": [("review", {"no label"})],
    "tiny-happy-face.jpg": [("reject", {"too small"})],
    "disgusted-woman-dark-glasses.jpg": [("reject", {"eyes covered"})],
}


def _read(photos: Path, name: str, max_side: int | None = None) -> np.ndarray:
    import cv2

    image = cv2.imread(str(photos / name))
    if max_side and max(image.shape[:2]) > max_side:
        s = max_side / max(image.shape[:2])
        image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    return image


def _largest_face(image: np.ndarray):
    import cv2

    from ferkit.detect import create_detector

    faces = create_detector("retinaface").detect(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return max(faces, key=lambda f: f.box[2] * f.box[3])


def _dark_glasses(image: np.ndarray) -> np.ndarray:
    """Paint dark lenses over both eyes, where the detector puts them."""
    import cv2

    eyes = _largest_face(image).landmarks[:2]
    radius = int(np.linalg.norm(eyes[1] - eyes[0]) * 0.42)
    out = image.copy()
    for x, y in eyes:
        cv2.ellipse(out, (int(x), int(y)), (radius, int(radius * 0.75)), 0, 0, 360, (15, 15, 15), -1)
    cv2.line(out, tuple(int(v) for v in eyes[0]), tuple(int(v) for v in eyes[1]), (15, 15, 15), 4)
    return out


def _portrait(image: np.ndarray) -> np.ndarray:
    """The largest face of a group photo with a box's worth of context around it."""
    x, y, w, h = _largest_face(image).box
    x0, y0 = max(int(x - w), 0), max(int(y - h), 0)
    return image[y0:int(y + 2 * h), x0:int(x + 2 * w)].copy()


def build_scrape(photos: Path, root: Path) -> Path:
    """Write the raw scrape of :data:`EXPECTED` under ``root`` (plus one non-image file)."""
    import cv2

    root.mkdir(parents=True, exist_ok=True)

    def save(name: str, image: np.ndarray, quality: int = 92) -> None:
        assert cv2.imwrite(str(root / name), image, [cv2.IMWRITE_JPEG_QUALITY, quality])

    save("stubborn-sad-upset-little-asian-260nw-554860681.jpg", _read(photos, "pyfeat_0-f1-su-ph.jpg"))
    justin = _read(photos, "fer_justin.jpg")
    save("happy-smiling-man-portrait-shutterstock_99812.jpg", justin)
    # the same photo again, smaller and re-compressed: a near-duplicate
    save("cheerful-smile-guy-1200px.jpg", cv2.resize(justin, None, fx=0.8, fy=0.8,
                                                      interpolation=cv2.INTER_AREA), quality=60)
    banner = _read(photos, "wujie_images_1.jpg").copy()
    h, w = banner.shape[:2]
    cv2.rectangle(banner, (0, h - 60), (w, h), (255, 255, 255), -1)
    cv2.putText(banner, "SALE 50% OFF", (12, h - 18), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (0, 0, 0), 3)
    save("laughing-woman-text-banner.jpg", banner)
    # a real stock photo with its watermark (123RF)
    shutil.copyfile(photos / "pyfeat_sad_asian.jpg", root / "sad-asian-woman-stock.jpg")
    save("happy-woman-blurred.jpg", cv2.GaussianBlur(_portrait(_read(photos, "human_group12.jpg")), (0, 0), 8))
    shutil.copyfile(photos / "facerec_two_people.jpg", root / "happy-friends-together.jpg")
    shutil.copyfile(photos / "pyfeat_no-face.jpg", root / "happy-empty-landscape.jpg")
    save("shocked-man-profile.jpg", _read(photos, "pyfeat_BWPictureHuman.jpg", 800))
    shutil.copyfile(photos / "pyfeat_angry_black.jpg", root / "angry-man-shouting.jpg")
    (root / "crying-child.jpg").write_bytes((photos / "wujie_images_2.jpg").read_bytes()[:3000])
    shutil.copyfile(photos / "retina_img11.jpg", root / "portrait-of-a-businessman.jpg")
    save("tiny-happy-face.jpg", _read(photos, "pyfeat_surprise_white.jpg", 130))
    save("disgusted-woman-dark-glasses.jpg", _dark_glasses(_read(photos, "rmn_test_image.png")))
    (root / "notes.txt").write_text("not a picture\n")
    return root


def copy_dataset(folder: Path, dest: Path) -> Path:
    """A copy of a dataset folder a test may change."""
    shutil.copytree(folder, dest)
    return dest
