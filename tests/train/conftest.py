"""Fixtures for the training-pipeline tests: small real FER2013 subsets and a tiny checkpoint."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings

import pytest
from fersubsets import fer_subset, write_class_folders


def pytest_configure(config):
    for marker, what in (("slow", "takes more than ~20 s on a 2-core CPU"),
                         ("needs_data", "needs the datasets in ../shared/data"),
                         ("train", "trains a model (needs PyTorch)")):
        config.addinivalue_line("markers", f"{marker}: {what}")


@pytest.fixture
def ferkit_warnings(caplog):
    """``with ferkit_warnings(match) as lines:`` — the block must log exactly one warning on
    the ``ferkit`` logger, on one line, matching ``match``, and raise no Python warning."""

    @contextlib.contextmanager
    def expect(match: str | None = None, count: int = 1):
        logger = logging.getLogger("ferkit")
        caplog.clear()
        attach = not logger.propagate           # the CLI turns propagation off
        if attach:
            logger.addHandler(caplog.handler)
        lines: list[str] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                yield lines
        finally:
            if attach:
                logger.removeHandler(caplog.handler)
        lines += [r.getMessage() for r in caplog.records
                  if r.levelno >= logging.WARNING and r.name.startswith("ferkit")]
        assert len(lines) == count, lines
        for line in lines:
            assert "\n" not in line
            if match:
                assert re.search(match, line), line

    return expect


@pytest.fixture(scope="session")
def torch1():
    """torch with one CPU thread; skips where PyTorch is not installed."""
    torch = pytest.importorskip("torch", reason="training tests need PyTorch: "
                                                "pip install 'ferkit[train]'")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def tiny_fer(fer2013_dataset):
    """256 Training, 200 PublicTest and 200 PrivateTest FER2013 rows."""
    return fer_subset(fer2013_dataset, {"Training": 256, "PublicTest": 200, "PrivateTest": 200})


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_fer, torch1):
    """A fercnn_s checkpoint (48 px images, 40 px input) after 2 epochs on ``tiny_fer``."""
    from ferkit.train import TrainConfig, train

    cfg = TrainConfig(name="tiny", model="fercnn_s", augment="none", optimizer="adamw", lr=2e-3,
                      epochs=2, warmup_epochs=0, batch_size=32, amp=False, threads=1)
    out = tmp_path_factory.mktemp("tiny-run")
    return train(cfg, out, resume=False, dataset=tiny_fer, progress=False).best_checkpoint


@pytest.fixture
def folder_config(fer2013_dataset, tmp_path, monkeypatch):
    """A config training fercnn_s for 2 epochs on 12 FER2013 PNGs per class in class folders."""
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root = write_class_folders(fer2013_dataset, tmp_path / "faces")
    cfg = {"name": "cli-tiny", "data": {"kind": "folder", "path": str(root), "val_fraction": 0.25,
                                        "test_fraction": 0.25},
           "model": "fercnn_s", "augment": "none", "optimizer": "adamw", "lr": 0.002,
           "epochs": 3, "warmup_epochs": 0, "batch_size": 16, "amp": False, "threads": 1}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    return path
