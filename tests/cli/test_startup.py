"""``ferkit`` starts light: importing the CLI loads none of the inference, video,
chart or training stacks, and usage errors are refused before they load (issue 19).

Each check runs in a fresh interpreter and looks at ``sys.modules``; timings are
in ``benchmarks/startup.py``, not here.
"""

import json
import subprocess
import sys

import pytest

from clirun import HEAVY, run_cli_fresh


def test_importing_the_cli_loads_nothing_heavy():
    code = f"import json, sys, ferkit.cli; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_importing_ferkit_reads_package_metadata_only_when_asked():
    code = ("import sys, ferkit; before = 'importlib.metadata' in sys.modules; "
            "print(before, ferkit.__version__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded, version = proc.stdout.split()
    assert loaded == "False" and version


@pytest.mark.parametrize("args,exit_code", [
    (["--version"], 0),
    (["--help"], 0),
    (["analyze", "--help"], 0),
    (["models"], 0),
    (["models", "--json"], 0),
    (["analyze", "x.jpg", "--format", "xml"], 2),
    (["analyze", "x.jpg", "--threads", "-1"], 2),
    (["analyze", "x.jpg", "--model", "no-such-model"], 2),
    (["analyze"], 2),
    (["evaluate", "model.onnx", "--tta", "sideways"], 2),
    (["export", "x.ckpt", "--out", "x.onnx", "--weights", "float8"], 2),
    (["export", "x.ckpt", "--out", "x.onnx", "--quantize", "int4"], 2),
    (["train", "no-such-config"], 2),
], ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_refused_or_answered_before_heavy_imports(args, exit_code, tmp_path):
    result = run_cli_fresh(args, tmp_path)
    assert result.code == exit_code, result.stderr
    assert result.heavy == [], f"{args} imported {result['heavy']}"


def test_unknown_detector_is_refused_before_the_models_load(tmp_path):
    # ferkit.detect needs OpenCV for its frames, but ONNX Runtime is not loaded yet.
    result = run_cli_fresh(["analyze", "x.jpg", "--detector", "nosuch"], tmp_path)
    assert result.code == 2 and "unknown detector" in result.stderr, result.stderr
    assert "onnxruntime" not in result.heavy and "torch" not in result.heavy


def test_version_is_the_installed_distributions(tmp_path):
    from importlib import metadata

    result = run_cli_fresh(["--version"], tmp_path)
    assert result.code == 0 and result.heavy == []
    assert result.stderr.strip() == f"ferkit {metadata.version('ferkit')}"


def test_format_error_names_the_choices(tmp_path):
    result = run_cli_fresh(["analyze", "x.jpg", "--format", "xml"], tmp_path)
    assert all(name in result.stderr for name in ("jsonl", "json", "csv")), result.stderr


def test_output_format_choices_are_the_writers():
    from ferkit.cli.analyze import OutputFormat
    from ferkit.writers import FORMATS

    assert [f.value for f in OutputFormat] == list(FORMATS)


@pytest.mark.train
def test_export_choices_are_the_exporters():
    pytest.importorskip("torch")
    from ferkit.cli.train import QuantizeMode, WeightFormat
    from ferkit.train.export import QUANTIZE_MODES, WEIGHT_FORMATS

    assert sorted(m.value for m in QuantizeMode) == sorted(QUANTIZE_MODES)
    assert sorted(w.value for w in WeightFormat) == sorted(WEIGHT_FORMATS)
