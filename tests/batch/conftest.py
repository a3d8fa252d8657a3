"""Fixtures for the batch tests: a folder mixing real photos, broken files and short
clips, and a two-node Ray cluster on loopback started (and stopped) by the tests."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from batchsetup import CLIPS, PHOTOS, RayCluster

from imagefiles import jpeg_bytes, write_bad_files, write_non_utf8_named_copy


@pytest.fixture(scope="session")
def mixed_folder(tmp_path_factory, photos_dir, videos_dir) -> Path:
    """Good photos, every kind of bad file (empty, truncated, not an image, a
    decompression bomb), names that are not UTF-8 or look like patterns and
    escapes, and two short clips (with a broken one)."""
    folder = tmp_path_factory.mktemp("mixed")
    for name in PHOTOS:
        shutil.copyfile(photos_dir / name, folder / name)
    write_bad_files(folder / "bad")
    write_non_utf8_named_copy(folder, (photos_dir / "fer_justin.jpg").read_bytes())
    shutil.copyfile(photos_dir / "fer_justin.jpg", folder / "odd name [1] %41 #2.jpg")
    for name in CLIPS:
        (folder / "clips").mkdir(exist_ok=True)
        os.symlink(videos_dir / name, folder / "clips" / name)
    (folder / "clips" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    return folder


@pytest.fixture(scope="session")
def many_photos(tmp_path_factory, photos_dir) -> Path:
    """40 distinct small images (each photo cut by a few rows and re-encoded): a run
    long enough to kill a worker in the middle of it."""
    from ferkit.imageio import load_image

    folder = tmp_path_factory.mktemp("many")
    for name in PHOTOS[:5]:
        rgb = load_image(photos_dir / name)
        for k in range(8):
            (folder / f"{Path(name).stem}_{k}.jpg").write_bytes(jpeg_bytes(rgb[: rgb.shape[0] - k]))
    return folder


@pytest.fixture(scope="module")
def ray_cluster():
    # Looked up, not imported: Ray reads its settings (token authentication) when imported.
    if importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyarrow") is None:
        pytest.skip("Ray is not installed: pip install 'ferkit[ray]' to run the Ray engine tests")
    cluster = RayCluster()
    try:
        yield cluster
    finally:
        cluster.stop()
