"""Shared fixtures: the datasets in the repository's sibling ``../shared/data``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()


try:
    import torch  # noqa: F401
except ImportError:  # a base install: the training tests need ferkit[train]
    collect_ignore = ["train"]

DATA_FIXTURES = {"shared_data"}


def pytest_collection_modifyitems(config, items):
    """Mark tests that read the shared datasets ``needs_data`` and those of the
    training extra ``train``, so ``-m "not needs_data and not train"`` runs offline
    on a base install."""
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.needs_data)
        if "train" in Path(str(item.fspath)).relative_to(REPO / "tests").parts[:1]:
            item.add_marker(pytest.mark.train)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"test data not found at {path} (the repository's sibling ../shared/data); "
                    "these tests run where the shared datasets are present, e.g. CI")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED_DATA)


@pytest.fixture(scope="session")
def photos_dir(shared_data) -> Path:
    return _need(shared_data / "photos")


@pytest.fixture(scope="session")
def photo_face_counts(photos_dir) -> dict[str, int | None]:
    """file name -> number of visible faces (None for crowds without an exact count)."""
    with open(photos_dir / "faces.csv", newline="") as f:
        return {r["file"]: (int(r["faces"]) if r["faces"].strip() else None) for r in csv.DictReader(f)}


@pytest.fixture(scope="session")
def videos_dir(shared_data) -> Path:
    return _need(shared_data / "videos")


@pytest.fixture(scope="session")
def fer2013_csv(shared_data) -> Path:
    return _need(shared_data / "fer2013" / "fer2013.csv.gz")


@pytest.fixture(scope="session")
def ferplus_votes(shared_data) -> Path:
    return _need(shared_data / "fer2013" / "fer2013new.csv")


@pytest.fixture(scope="session")
def fer2013_dataset(fer2013_csv):
    """FER2013 as a :class:`~ferkit.train.datasets.FaceDataset` (decoded once, then cached)."""
    from ferkit.train.datasets import load_fer2013

    return load_fer2013(fer2013_csv)
