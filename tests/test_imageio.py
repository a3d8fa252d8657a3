import io
import os
import shutil
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image, features

import ferkit.imageio
from ferkit.errors import FerkitError, InputError, UsageError
from ferkit.imageio import MAX_PIXELS, ImageError, display_name, load_image
from imagefiles import (
    animated_gif,
    astronaut,
    bomb_png,
    jpeg_bytes,
    multipage_tiff,
    run_unprivileged,
    world_readable_tmpdir,
    write_bad_files,
    write_non_utf8_named_copy,
)


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
    assert np.array_equal(load_image(rgb[:, :, ::-1], channel_order="BGR"), rgb)
    assert np.array_equal(load_image(rgb, channel_order="RGB"), rgb)


@pytest.mark.parametrize("order", ["rbg", "", None, "bgra", 3])
def test_bad_channel_order_is_a_usage_error(rgb, tmp_path, order):
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path)
    for source in (rgb, path):  # checked for every input, not only arrays
        with pytest.raises(UsageError, match="channel_order must be 'rgb' or 'bgr', not"):
            load_image(source, channel_order=order)


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


@pytest.mark.parametrize("source,type_name", [
    (12345, "int"), ([1, 2, 3], "list"), (None, "NoneType"),
    (threading.Lock(), "_thread.lock"),
])
def test_wrong_type_is_a_type_error_naming_the_type(source, type_name):
    with pytest.raises(TypeError, match=f"cannot read an image from {type_name};"):
        load_image(source)


def test_arrays_of_unusable_dtypes_and_nan():
    with pytest.raises(ImageError, match="unsupported array dtype object"):
        load_image(np.array([[object()]]))
    with pytest.raises(ImageError, match="unsupported array dtype complex"):
        load_image(np.zeros((4, 4, 3), complex))
    nan = np.full((4, 4, 3), np.nan, np.float32)
    assert np.array_equal(load_image(nan), np.zeros((4, 4, 3), np.uint8))


def test_image_error_is_an_input_error_and_a_value_error(tmp_path):
    assert issubclass(ImageError, InputError) and issubclass(ImageError, FerkitError)
    with pytest.raises(InputError):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ValueError):
        load_image(b"not an image at all")


def test_bomb_is_refused_before_decoding():
    with pytest.raises(ImageError, match="too large.*900000000 pixels"):
        load_image(bomb_png())


def test_ferkits_pixel_limit_trips_not_pillows(rgb):
    """Far below Pillow's decompression-bomb limit: only ferkit's own guard can refuse these."""
    png = jpeg_bytes(rgb[:100, :200])  # 200x100 = 20000 pixels
    pil = Image.fromarray(rgb[:100, :200])
    for source in (png, pil):
        with pytest.raises(ImageError, match=r"too large: 200x100 = .* \(20000 pixels\) exceeds "
                                             r"the 19999-pixel limit"):
            load_image(source, max_pixels=19_999)
        assert load_image(source, max_pixels=20_000).shape == (100, 200, 3)
    # Between ferkit's 120 MP and Pillow's refusal at twice its ~89 MP: ferkit's guard refuses
    # before any decoding (the file holds 64 bytes of pixel data: decoding would fail otherwise).
    with pytest.raises(ImageError, match=r"12000x12000 = 144 MP .* exceeds the 120 MP limit"):
        load_image(bomb_png(12000, 12000))
    assert MAX_PIXELS == 120_000_000


def test_huge_image_names_ferkits_limit_or_pillows():
    with pytest.raises(ImageError, match=r"900 MP \(900000000 pixels\) exceeds the 120 MP limit"):
        load_image(bomb_png())
    # Allowed by ferkit, still above Pillow's own limit: the message says which limit refused it.
    limit = 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match=r"Pillow's decompression-bomb limit \(PIL.Image.MAX_IMAGE"):
        load_image(bomb_png(15000, 15000), max_pixels=limit * 2)


@pytest.mark.parametrize("value", [0, -5, "big", True, None])
def test_bad_max_pixels_is_a_usage_error(rgb, value):
    with pytest.raises(UsageError, match="max_pixels must be a positive number"):
        load_image(rgb, max_pixels=value)


def test_non_utf8_file_name(tmp_path, rgb):
    path = write_non_utf8_named_copy(tmp_path, jpeg_bytes(rgb))
    assert load_image(path).shape == rgb.shape
    name = display_name(path)
    name.encode("utf-8")  # printable and encodable
    assert "caf" in name and "\\udce9" in name


# --- paths that are not regular files ---------------------------------------------------------

def _load_with_deadline(path, seconds: float = 10.0):
    """``load_image(path)`` in a thread; fails instead of hanging when the read blocks."""
    outcome = {}

    def run():
        try:
            outcome["value"] = load_image(path)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if os.path.exists(path) and stat_is_fifo(path):  # unblock the reader before failing
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        pytest.fail(f"load_image({path}) blocked for {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def stat_is_fifo(path) -> bool:
    import stat

    return stat.S_ISFIFO(os.stat(path).st_mode)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_character_devices_say_what_they_are(device):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    with pytest.raises(ImageError) as info:
        _load_with_deadline(device)
    assert str(info.value) == f"not a regular file: {device} is a character device"


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match=r"^not a regular file: .*photo.jpg is a pipe \(FIFO\)$"):
        _load_with_deadline(fifo)


def test_a_socket_says_what_it_is(tmp_path):
    path = tmp_path / "s.png"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        with pytest.raises(ImageError, match=r"^not a regular file: .*s.png is a socket$"):
            load_image(path)
    finally:
        sock.close()


def test_broken_link_and_empty_file(tmp_path):
    (tmp_path / "gone.jpg").symlink_to("missing.jpg")
    with pytest.raises(ImageError, match="^broken symbolic link: .*gone.jpg$"):
        load_image(tmp_path / "gone.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="^empty file"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(ImageError, match="^empty file"):
        load_image(io.BytesIO(b""))


def _read_error(path: str) -> str:
    try:
        load_image(path)
    except ImageError as e:
        return str(e)
    return "read without error"


def test_unreadable_file_says_permission_denied(rgb):
    root = world_readable_tmpdir()
    try:
        path = root / "secret.jpg"
        path.write_bytes(jpeg_bytes(rgb))
        path.chmod(0o000)
        # As root, chmod 000 blocks nothing: the read runs in a child switched to user nobody.
        assert run_unprivileged(_read_error, str(path)) == f"permission denied: {path}"
    finally:
        shutil.rmtree(root)


# --- several frames ---------------------------------------------------------------------------

def _solid(color, size=(64, 48), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def test_animated_gif_reads_the_first_frame():
    gif = animated_gif([_solid((255, 0, 0)), _solid((0, 0, 255)), _solid((0, 255, 0))])
    assert Image.open(io.BytesIO(gif)).n_frames == 3
    out = load_image(gif)
    assert out.shape == (48, 64, 3)
    assert (out == (255, 0, 0)).all()


def test_animation_fading_in_reads_the_first_frame_that_shows_anything(rgb):
    small = rgb[::4, ::4]
    blank = _solid((0, 0, 0, 0), (128, 128), "RGBA")
    gif = animated_gif([blank, Image.fromarray(small).convert("RGBA")], disposal=2)
    first = Image.open(io.BytesIO(gif))
    assert first.convert("RGBA").getchannel("A").getextrema() == (0, 0)  # frame 0: nothing
    out = load_image(gif)
    assert np.abs(out.astype(int) - small).mean() < 8  # GIF palette noise only, not white


def test_a_partly_transparent_first_frame_is_kept_on_white():
    half = _solid((0, 0, 0, 0), (64, 48), "RGBA")
    half.paste((255, 0, 0, 255), (0, 0, 32, 48))
    gif = animated_gif([half, _solid((0, 0, 255, 255), (64, 48), "RGBA")], disposal=2)
    out = load_image(gif)
    assert (out[:, :32] == (255, 0, 0)).all() and (out[:, 32:] == 255).all()


def test_a_pil_image_is_read_at_its_current_frame():
    img = Image.open(io.BytesIO(animated_gif([_solid((255, 0, 0)), _solid((0, 0, 255))])))
    img.seek(1)
    assert (load_image(img) == (0, 0, 255)).all()


def test_multipage_tiff_reads_the_first_page():
    tiff = multipage_tiff([_solid((255, 0, 0)), _solid((0, 0, 255), (32, 32))])
    assert Image.open(io.BytesIO(tiff)).n_frames == 2
    out = load_image(tiff)
    assert out.shape == (48, 64, 3) and (out == (255, 0, 0)).all()


# --- AVIF and HEIF ----------------------------------------------------------------------------

def _heif_plugin():
    return pytest.importorskip("pillow_heif", reason="pillow-heif is not installed "
                               "(pip install 'ferkit[heif]'); HEIF decoding cannot be tried")


def _without_heif_opener(monkeypatch):
    """Pillow as it is before the pillow-heif opener was registered."""
    Image.init()
    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if k != "HEIF"})
    monkeypatch.setattr(Image, "ID", [k for k in Image.ID if k != "HEIF"])


def test_avif_files_are_read(tmp_path, rgb):
    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec (Pillow >= 11.3 wheels have one)")
    path = tmp_path / "astronaut.avif"
    Image.fromarray(rgb).save(path, "AVIF", quality=90)
    assert path.read_bytes()[4:12] == b"ftypavif"
    out = load_image(path)
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).mean() < 4


def test_avif_without_a_codec_says_what_is_needed(monkeypatch, tmp_path):
    path = tmp_path / "a.avif"
    path.write_bytes(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64)
    Image.init()
    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if k != "AVIF"})
    monkeypatch.setattr(Image, "ID", [k for k in Image.ID if k != "AVIF"])
    monkeypatch.setattr(ferkit.imageio, "_has_feature", lambda name: False)
    with pytest.raises(ImageError, match=r"AVIF image, but this Pillow .* Pillow 11.3 or later"):
        load_image(path)


def test_heif_files_are_read_through_the_plugin_registered_on_demand(monkeypatch, tmp_path, rgb):
    pillow_heif = _heif_plugin()
    path = tmp_path / "astronaut.HEIC"
    pillow_heif.from_pillow(Image.fromarray(rgb)).save(path, quality=90)
    assert path.read_bytes()[4:12] == b"ftypheic"
    _without_heif_opener(monkeypatch)
    with pytest.raises(Exception):  # noqa: B017 - plain Pillow cannot read it ...
        Image.open(path)
    out = load_image(path)           # ... ferkit registers the plugin when it meets one
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).mean() < 4
    assert "HEIF" in Image.OPEN


def test_heif_without_the_plugin_says_how_to_install_it(monkeypatch, tmp_path):
    path = tmp_path / "photo.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    _without_heif_opener(monkeypatch)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import fails as if not installed
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(info.value) == ("HEIC/HEIF image: reading it needs the pillow-heif plugin, "
                               f"pip install 'ferkit[heif]': {path}")


def test_real_photo_as_avif_and_heif(photos_dir, tmp_path):
    photo = photos_dir / "fer_justin.jpg"
    ref = load_image(photo)
    encoded = []
    if features.check("avif"):
        Image.fromarray(ref).save(tmp_path / "p.avif", quality=92)
        encoded.append(tmp_path / "p.avif")
    try:
        import pillow_heif
    except ImportError:
        pillow_heif = None
    if pillow_heif is not None:
        pillow_heif.from_pillow(Image.fromarray(ref)).save(tmp_path / "p.heif", quality=92)
        encoded.append(tmp_path / "p.heif")
    if not encoded:
        pytest.skip("neither an AVIF codec in Pillow nor pillow-heif is installed")
    for path in encoded:
        out = load_image(path)
        assert out.shape == ref.shape and np.abs(out.astype(int) - ref).mean() < 4, path.name


def test_importing_imageio_does_not_load_the_heif_plugin():
    code = ("import sys, ferkit.imageio, ferkit.inputs; "
            "assert 'pillow_heif' not in sys.modules, 'loaded eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)
