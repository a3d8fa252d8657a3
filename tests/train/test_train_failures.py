"""What ``ferkit train`` refuses, each with one clear line and nothing overwritten."""

from __future__ import annotations

import json
import shutil

import pytest
from fersubsets import write_class_folders
from typer.testing import CliRunner

from ferkit.cli import app

runner = CliRunner()


def stderr_of(result) -> str:
    try:
        return result.stderr
    except ValueError:      # older Click: stderr mixed into output
        return result.output


def refused(result, pattern: str) -> str:
    """The command exited 2 with exactly one ``error:`` line matching ``pattern`` (logged
    warnings may precede it), and no traceback."""
    import re

    err = stderr_of(result)
    assert result.exit_code == 2, (result.exit_code, result.output, err)
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in result.output + err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def write_config(path, root, **options):
    cfg = {"name": "tiny", "data": {"kind": "folder", "path": str(root), "val_fraction": 0.25,
                                    "test_fraction": 0.25},
           "model": "fercnn_s", "augment": "none", "optimizer": "adamw", "lr": 0.002,
           "epochs": 1, "warmup_epochs": 0, "batch_size": 16, "amp": False, "threads": 1,
           **options}
    path.write_text(json.dumps(cfg))
    return path


def test_out_holding_a_run_needs_resume_and_the_same_run(folder_config, tmp_path, torch1):
    run = tmp_path / "run"
    first = ["train", str(folder_config), "--out", str(run), "--epochs", "1", "-q"]
    r = runner.invoke(app, first)
    assert r.exit_code == 0, r.output + stderr_of(r)
    config_before = (run / "config.json").read_bytes()
    command_before = (run / "command.json").read_bytes()
    ckpt_before = (run / "last.ckpt").read_bytes()

    # The same command again: refused, not silently continued.
    refused(runner.invoke(app, first), r"already holds a training run .*pass --resume")
    # Resuming with another architecture or other data: refused before anything is written
    # (no torch traceback after overwriting the config).
    refused(runner.invoke(app, first + ["--resume", "--model", "fercnn_m"]),
            r"cannot resume .*differs in architecture .*fercnn_s.*fercnn_m")
    other = tmp_path / "other"
    shutil.copytree(tmp_path / "faces", other)
    refused(runner.invoke(app, first + ["--resume", "--data", str(other)]),
            r"cannot resume .*differs in data\.path")
    # Same config, but the data lost a class since: the labels no longer match.
    shutil.rmtree(tmp_path / "faces" / "disgust")
    refused(runner.invoke(app, first + ["--resume"]),
            r"cannot resume .*trained on labels angry, disgust, .*the data now has angry, fear")
    assert (run / "config.json").read_bytes() == config_before
    assert (run / "command.json").read_bytes() == command_before
    assert (run / "last.ckpt").read_bytes() == ckpt_before

    # Put the class back: the run resumes and trains one more epoch.
    write_class_folders_from(tmp_path, "disgust")
    r = runner.invoke(app, ["train", str(folder_config), "--out", str(run), "--epochs", "2",
                            "--resume", "-q"])
    assert r.exit_code == 0, r.output + stderr_of(r)
    assert (run / "metrics.csv").read_text().count("\n") == 3      # header + 2 epochs
    assert json.loads((run / "config.json").read_text())["epochs"] == 2


def write_class_folders_from(tmp_path, name):
    """Restore one class folder from the copy made before it was removed."""
    shutil.copytree(tmp_path / "other" / name, tmp_path / "faces" / name)


def test_one_class_is_refused(fer2013_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root = write_class_folders(fer2013_dataset, tmp_path / "happy-only", classes=["happy"])
    cfg = write_config(tmp_path / "cfg.json", root)
    refused(runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "run"), "-q"]),
            r"only one class \(happy\) in 12 samples; an expression classifier needs at least two")
    assert not (tmp_path / "run").exists()


def test_empty_class_folder_is_refused(fer2013_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root = write_class_folders(fer2013_dataset, tmp_path / "faces",
                               classes=[c for c in ("angry", "fear", "happy", "sad", "surprise",
                                                    "neutral")])
    (root / "disgust").mkdir()
    cfg = write_config(tmp_path / "cfg.json", root)
    refused(runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "run"), "-q"]),
            r"class disgust has no training samples \(empty class folder: disgust\)")
    assert not (tmp_path / "run").exists()


def test_zero_epochs_is_refused(folder_config, tmp_path):
    cfg = json.loads(folder_config.read_text())
    cfg["epochs"] = 0
    folder_config.write_text(json.dumps(cfg))
    refused(runner.invoke(app, ["train", str(folder_config), "--out", str(tmp_path / "run")]),
            r"epochs must be a positive integer, not 0 \(a run needs at least one epoch\)")
    assert not (tmp_path / "run").exists()


def test_file_name_pattern_matching_nothing(fer2013_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("FERKIT_CACHE", str(tmp_path / "cache"))
    root = write_class_folders(fer2013_dataset, tmp_path / "faces", per_class=2)
    cfg = write_config(tmp_path / "cfg.json", root)
    data = json.loads(cfg.read_text())
    data["data"] = {"kind": "filenames", "path": str(root), "pattern": r"(?P<label>[a-z]+)_\d+"}
    cfg.write_text(json.dumps(data))
    refused(runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "run"), "-q"]),
            r"file-name pattern .* matched none of the 14 image files tried \(e\.g\. ")


def test_unknown_names_and_bad_configs(folder_config, tmp_path):
    out = ["--out", str(tmp_path / "run")]
    refused(runner.invoke(app, ["train", str(folder_config), "--model", "no_such_net"] + out),
            r"unknown model 'no_such_net'")
    refused(runner.invoke(app, ["train", "no_such_config"] + out),
            r"config not found: no_such_config .*default_fer7")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    refused(runner.invoke(app, ["train", str(bad)] + out), r"bad\.json: not valid JSON")
    cfg = json.loads(folder_config.read_text())
    cfg["data"]["split_seeds"] = 3
    folder_config.write_text(json.dumps(cfg))
    refused(runner.invoke(app, ["train", str(folder_config)] + out),
            r"unknown data option\(s\): split_seeds")
    assert not (tmp_path / "run").exists()


def test_checkpoint_format_version_is_checked(tiny_checkpoint, tmp_path, torch1):
    from ferkit.errors import ModelError
    from ferkit.train.checkpoint import CHECKPOINT_VERSION, load_checkpoint, read_checkpoint

    ck = read_checkpoint(tiny_checkpoint)
    assert ck["version"] == CHECKPOINT_VERSION
    newer = tmp_path / "newer.ckpt"
    torch1.save({**ck, "version": CHECKPOINT_VERSION + 1}, newer)
    with pytest.raises(ModelError, match=f"format version {CHECKPOINT_VERSION + 1} was written "
                                         "by a newer ferkit"):
        load_checkpoint(newer)
    refused(runner.invoke(app, ["evaluate", str(newer), "-q"]), "newer ferkit")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    refused(runner.invoke(app, ["export", str(garbage), "--out", str(tmp_path / "m.onnx")]),
            r"garbage\.ckpt: not a readable checkpoint")
