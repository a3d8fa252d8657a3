"""Fixtures for ``ferkit serve``; the helpers they use are in servetools.py."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="ferkit serve needs the serve extra: pip install 'ferkit[serve]'")

from servetools import serving  # noqa: E402


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One app for a test module, default limits but a 4 MB upload limit."""
    with serving(tmp_path_factory.mktemp("serve"), workers=2, max_upload_mb=4) as c:
        yield c
