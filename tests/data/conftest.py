"""Fixtures of the ``ferkit data`` tests: the raw scrape (see scrape.py), cleaned once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrape import build_scrape


@pytest.fixture(scope="session")
def raw_scrape(photos_dir, tmp_path_factory) -> Path:
    return build_scrape(photos_dir, tmp_path_factory.mktemp("scrape") / "raw")


@pytest.fixture(scope="session")
def cleaned(raw_scrape, tmp_path_factory):
    """``(summary, dataset folder)`` of cleaning the scrape once."""
    from ferkit.data.clean import clean

    out = tmp_path_factory.mktemp("cleaned") / "dataset"
    notices = []
    summary = clean(raw_scrape, out, progress=False, on_notice=notices.append)
    summary.notices = notices
    return summary, out
