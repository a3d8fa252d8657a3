"""``ferkit train`` → ``ferkit export`` → ``ferkit evaluate`` end to end on a small folder dataset."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from ferkit.card import ModelCard
from ferkit.cli import app
from ferkit.train.config import DataConfig
from ferkit.train.datasets import load_dataset
from ferkit.train.splits import membership_digest, resolve_splits

runner = CliRunner()


def output(result) -> str:
    try:
        return result.output + result.stderr
    except ValueError:      # older Click: stderr mixed into output
        return result.output


def test_train_export_evaluate(folder_config, tmp_path, torch1):
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", str(folder_config), "--out", str(run), "--epochs", "2", "-q"])
    assert r.exit_code == 0, output(r)
    assert "best validation accuracy" in r.output
    assert json.loads((run / "config.json").read_text())["epochs"] == 2   # override applied
    assert (run / "command.json").is_file()
    assert (run / "curves.png").is_file()                              # learning curves per epoch

    onnx = tmp_path / "m.onnx"
    r = runner.invoke(app, ["export", str(run / "best.ckpt"), "--out", str(onnx),
                            "--quantize", "static", "-q"])
    assert r.exit_code == 0, output(r)
    card = ModelCard.load(tmp_path / "m.json")
    assert card.training["command"][:2] == ["ferkit", "train"]
    assert (card.training["splits"]["test"]["name"], card.training["splits"]["test"]["samples"]) \
        == ("test", 21)
    assert card.metric("accuracy", "test").samples == 21
    assert (tmp_path / "m.int8.onnx").is_file() and (tmp_path / "m.int8.json").is_file()

    r = runner.invoke(app, ["evaluate", str(onnx), "--split", "test", "--out",
                            str(tmp_path / "ev"), "-q"])
    assert r.exit_code == 0, output(r)
    assert "macro-F1" in r.output
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["samples"] == 21
    assert report["accuracy"] == pytest.approx(card.metric("accuracy", "test").value)
    assert (tmp_path / "ev" / "confusion.png").is_file()

    r = runner.invoke(app, ["evaluate", str(run / "best.ckpt"), "--split", "test",
                            "--tta", "ten-crop", "-q"])
    assert r.exit_code == 0, output(r)
    r = runner.invoke(app, ["evaluate", str(onnx), "--tta", "ten-crop", "-q"])
    assert r.exit_code == 2 and "checkpoints" in output(r)


def test_missing_torch_message(folder_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)      # import torch now raises ImportError
    for args in (["train", str(folder_config)], ["export", "x.ckpt", "--out", "x.onnx"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2
        assert "pip install 'ferkit[train]'" in output(r)


def test_ensemble_config_trains_members_and_exports_one_model(folder_config, tmp_path, torch1):
    cfg = json.loads(folder_config.read_text())
    cfg["ensemble"] = [{"seed": 0}, {"seed": 1, "epochs": 1}]
    folder_config.write_text(json.dumps(cfg))
    run = tmp_path / "ens"
    r = runner.invoke(app, ["train", str(folder_config), "--out", str(run), "-q"])
    assert r.exit_code == 0, output(r)
    assert r.output.count("best validation accuracy") == 2
    for i, (seed, epochs) in enumerate([(0, 3), (1, 1)]):
        member = json.loads((run / f"member-{i}" / "config.json").read_text())
        assert (member["seed"], member["epochs"], member["ensemble"]) == (seed, epochs, [])
        assert (run / f"member-{i}" / "best.ckpt").is_file()

    onnx = tmp_path / "ens.onnx"
    r = runner.invoke(app, ["export", str(run), "--out", str(onnx), "-q"])
    assert r.exit_code == 0, output(r)
    card = ModelCard.load(tmp_path / "ens.json")
    assert card.architecture == "fercnn_s+fercnn_s"

    # One split for every member, for export and for evaluate (members differ in seed only).
    data = DataConfig.from_dict(cfg["data"])
    splits = resolve_splits(load_dataset(data, progress=False), data)
    files = {role: set(part.sources) for role, part, _ in splits.parts()}
    assert {role: len(f) for role, f in files.items()} == {"train": 42, "val": 21, "test": 21}
    assert not files["train"] & (files["val"] | files["test"]) and not files["val"] & files["test"]
    expected = {role: membership_digest(part) for role, part, _ in splits.parts()}
    for i in (0, 1):
        used = json.loads((run / f"member-{i}" / "result.json").read_text())["splits"]
        assert {role: v["digest"] for role, v in used.items()} == expected, f"member-{i}"
    reported = card.training["splits"]
    assert {role: v["digest"] for role, v in reported.items()} == expected
    for model, split in ((run / "member-1" / "best.ckpt", "test"), (onnx, "val")):
        r = runner.invoke(app, ["evaluate", str(model), "--split", split, "--out",
                                str(tmp_path / f"ev-{split}"), "-q"])
        assert r.exit_code == 0, output(r)
        report = json.loads((tmp_path / f"ev-{split}" / "report.json").read_text())
        assert report["samples_digest"] == expected[split] and report["samples"] == 21
    assert [m["config"]["epochs"] for m in card.training["members"]] == [3, 1]
    assert all(m["command"][:3] == ["ferkit", "train", str(folder_config)]
               for m in card.training["members"])

    r = runner.invoke(app, ["compare", str(run), "--out", str(tmp_path / "cmp.png")])
    assert r.exit_code == 0, output(r)
    assert "ens/member-0" in r.output and "ens/member-1" in r.output
    assert (tmp_path / "cmp.png").is_file()

    r = runner.invoke(app, ["export", str(tmp_path / "nowhere"), "--out", str(onnx), "-q"])
    assert r.exit_code == 2 and "no checkpoint" in output(r)


def test_ensemble_entries_must_be_overrides():
    from ferkit.train import TrainConfig

    with pytest.raises(ValueError, match="ensemble\\[1\\]"):
        TrainConfig(ensemble=[{"seed": 1}, 3]).members()
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig(ensemble=[{"sed": 1}]).members()
    # What the data and the exported graph's input depend on is shared by every member.
    with pytest.raises(ValueError, match="ensemble\\[0\\] overrides channels, image_size"):
        TrainConfig(ensemble=[{"image_size": 64, "channels": 3}]).members()
    members = TrainConfig(name="e", ensemble=[{"seed": 3, "input_size": 44}]).members()
    assert [(m.name, m.seed, m.input_size) for m in members] == [("e-member0", 3, 44)]


def test_command_line_options_win_over_ensemble_entries():
    from ferkit.train import TrainConfig

    cfg = TrainConfig(epochs=70, ensemble=[{"seed": 0}, {"seed": 1, "epochs": 55}])
    cfg.override(epochs=2, lr=0.01)
    assert [(m.seed, m.epochs, m.lr) for m in cfg.members()] == [(0, 2, 0.01), (1, 2, 0.01)]
    with pytest.raises(ValueError, match="own seeds"):
        cfg.override(seed=5)
    r = runner.invoke(app, ["train", "default_fer7", "--seed", "5", "--out", "/nonexistent/x"])
    assert r.exit_code == 2 and "own seeds" in output(r)
