import io

import numpy as np
import pytest
from PIL import Image

from ferkit.imageio import ImageError, display_name, load_image
from imagefiles import astronaut, bomb_png, jpeg_bytes, write_bad_files, write_non_utf8_named_copy


@pytest.fixture(scope="module")
def rgb():
    return astronaut()


def _save(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_path_bytes_array_and_pil_agree(tmp_path, rgb):
    png = _save(Image.fromarray(rgb))
    path = tmp_path / "a.png"
    path.write_bytes(png)
    for src in (path, str(path), png, io.BytesIO(png), rgb, Image.fromarray(rgb)):
        out = load_image(src)
        assert out.dtype == np.uint8 and out.shape == rgb.shape
        assert np.array_equal(out, rgb)


def test_bgr_arrays_are_flipped(rgb):
    assert np.array_equal(load_image(rgb[:, :, ::-1], channel_order="bgr"), rgb)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "1", "LA"])
def test_image_modes_become_rgb(mode, rgb):
    img = Image.fromarray(rgb)
    if mode == "I;16":
        gray = np.asarray(img.convert("L")).astype(np.uint16) * 257
        img = Image.fromarray(gray)
    else:
        img = img.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    out = load_image(_save(img, fmt))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    if mode in ("L", "I;16"):
        ref = np.asarray(Image.fromarray(rgb).convert("L"))
        assert np.abs(out[:, :, 0].astype(int) - ref).max() <= 1  # 16-bit scaled back to 8-bit


def test_exif_orientation_is_honoured(rgb):
    # Stored rotated, with EXIF saying "rotate 90 CW to display" (orientation 6).
    stored = np.rot90(rgb, 1)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = load_image(jpeg_bytes(np.ascontiguousarray(stored), exif=exif))
    assert out.shape == rgb.shape
    assert np.abs(out.astype(int) - rgb).mean() < 6  # JPEG noise only


def test_grayscale_and_rgba_arrays(rgb):
    gray = rgb[:, :, 0]
    assert load_image(gray).shape == rgb.shape
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    assert np.array_equal(load_image(rgba), rgb)
    assert load_image(rgb.astype(np.float32) / 255).dtype == np.uint8


@pytest.mark.parametrize("kind,message", [
    ("zero_bytes", "empty file"), ("truncated", "corrupt or truncated"),
    ("not_an_image", "not an image"), ("bomb", "too large"),
])
def test_bad_files_raise_clear_errors(tmp_path, kind, message):
    path = write_bad_files(tmp_path)[kind]
    with pytest.raises(ImageError, match=message):
        load_image(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="file not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="cannot read an image"):
        load_image(12345)


def test_bomb_is_refused_before_decoding():
    with pytest.raises(ImageError, match="too large.*900000000 pixels"):
        load_image(bomb_png())


def test_non_utf8_file_name(tmp_path, rgb):
    path = write_non_utf8_named_copy(tmp_path, jpeg_bytes(rgb))
    assert load_image(path).shape == rgb.shape
    name = display_name(path)
    name.encode("utf-8")  # printable and encodable
    assert "caf" in name and "\\udce9" in name
