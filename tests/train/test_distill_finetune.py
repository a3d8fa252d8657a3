"""FER+-blended targets, knowledge distillation and fine-tuning (--init) on small real data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ferkit.errors import ConfigError


@pytest.fixture(scope="session")
def votes_path(shared_data):
    return shared_data / "fer2013" / "fer2013new.csv"


def test_blend_targets_mix_fer2013_labels_with_the_crowd(fer2013_dataset, votes_path):
    from ferkit.train.datasets.fer2013 import (
        FER7_FROM_FERPLUS,
        blend_targets,
        ferplus_fer7_distribution,
        read_ferplus_votes,
    )

    votes = read_ferplus_votes(votes_path)
    labels = fer2013_dataset.targets
    crowd, ok = ferplus_fer7_distribution(votes)
    half = blend_targets(labels, votes, 0.5)
    assert np.allclose(half.sum(1), 1, atol=1e-5)
    assert np.array_equal(blend_targets(labels, votes, 1.0).argmax(1), labels)
    # Row 0: FER2013 says angry; its votes are neutral 4, sadness 1, anger 3, disgust 2.
    assert labels[0] == 0 and list(votes[0, :8]) == [4, 0, 0, 1, 3, 2, 0, 0]
    expected = np.zeros(7)
    expected[0] += 0.5
    for col, share in zip(FER7_FROM_FERPLUS, (3, 2, 0, 0, 1, 0, 4)):
        expected[FER7_FROM_FERPLUS.index(col)] += 0.5 * share / 10
    assert np.allclose(half[0], expected)
    # Rows the crowd left without a FER-7 vote (all unknown / not a face) keep their label.
    lonely = np.flatnonzero(~ok)
    assert len(lonely) > 0
    assert np.array_equal(half[lonely], np.eye(7)[labels[lonely]])
    # The crowd disagrees with FER2013 on a large share of rows: that is the point of blending.
    assert 0.2 < (crowd[ok].argmax(1) != labels[ok]).mean() < 0.5


def test_blend_data_config_loads_soft_fer2013_targets(shared_data, tmp_path):
    from ferkit.train.config import DataConfig
    from ferkit.train.datasets import load_dataset

    fer = shared_data / "fer2013"
    data = DataConfig(kind="fer2013", path=str(fer / "fer2013.csv.gz"),
                      votes=str(fer / "fer2013new.csv"), label_mode="blend", blend=0.7)
    ds = load_dataset(data)
    assert ds.soft and ds.targets.shape == (35887, 7)
    assert ds.targets.max(1).min() >= 0.7 - 1e-6        # the FER2013 label keeps weight >= 0.7
    with pytest.raises(ConfigError, match="needs data.votes"):
        load_dataset(DataConfig(kind="fer2013", path=str(fer / "fer2013.csv.gz"), label_mode="blend"))
    with pytest.raises(ConfigError, match="between 0 and 1"):
        load_dataset(DataConfig(kind="fer2013", path=str(fer / "fer2013.csv.gz"),
                                votes=str(fer / "fer2013new.csv"), label_mode="blend", blend=1.5))


def test_distillation_loss_is_zero_only_when_the_student_matches(torch1):
    import torch

    from ferkit.train.distill import distillation_loss

    teacher = torch.softmax(torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]]) / 2, 1)
    targets = torch.eye(3)[[0, 1]]
    same = distillation_loss(torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]]), teacher, targets, 2.0, 1.0)
    other = distillation_loss(torch.tensor([[-1.0, 0.5, 2.0], [1.0, 0.0, 1.0]]), teacher, targets, 2.0, 1.0)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    assert float(other) > 0.5


def test_distilled_student_learns_and_tracks_its_teacher(tiny_fer, tiny_checkpoint, tmp_path, torch1):
    """A student distilled (weight 1: teacher only) from a trained checkpoint: its loss falls and
    it agrees with the teacher far more than an untrained network does."""
    from ferkit.train import TrainConfig, train
    from ferkit.train.checkpoint import load_checkpoint
    from ferkit.train.inference import predict_logits

    cfg = TrainConfig(name="student", model="fercnn_s", augment="none", optimizer="adamw", lr=2e-3,
                      epochs=4, warmup_epochs=0, batch_size=32, amp=False, threads=1,
                      distill={"teachers": [str(tiny_checkpoint)], "weight": 1.0, "temperature": 2.0})
    out = tmp_path / "student"
    train(cfg, out, dataset=tiny_fer, progress=False)
    rows = list(csv_rows(out / "metrics.csv"))
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    teacher = load_checkpoint(tiny_checkpoint)
    student = load_checkpoint(out / "last.ckpt")
    x = tiny_fer.images[tiny_fer.split == "PublicTest"]
    import torch

    from ferkit.train.inference import model_images
    xt = model_images(x, teacher.config)
    t = predict_logits(teacher.model, xt, teacher.config, "none", torch.device("cpu")).argmax(1)
    s = predict_logits(student.model, xt, student.config, "none", torch.device("cpu")).argmax(1)
    fresh = TrainConfig(name="fresh", model="fercnn_s", seed=5)
    from ferkit.train.models import model_from_config
    untrained = model_from_config(fresh, 7).eval()
    u = predict_logits(untrained, xt, fresh, "none", torch.device("cpu")).argmax(1)
    agree, chance = float((s == t).float().mean()), float((u == t).float().mean())
    assert agree >= 0.6 and agree > chance + 0.2, (agree, chance)


def test_distill_options_are_checked(tiny_fer, tmp_path, torch1):
    from ferkit.errors import ModelError
    from ferkit.train import TrainConfig
    from ferkit.train.trainer import plan_run

    missing = TrainConfig(name="s", distill={"teachers": [str(tmp_path / "no-such-run")]})
    with pytest.raises(ModelError, match="no checkpoint"):
        plan_run(missing, tmp_path / "out", dataset=tiny_fer, progress=False)
    assert not (tmp_path / "out").exists()

    for bad, match in (({"teachers": []}, "non-empty list"), ({"teachers": ["x"], "weight": 2}, "between"),
                       ({"teachers": ["x"], "temp": 1}, "unknown distill option")):
        with pytest.raises(ConfigError, match=match):
            TrainConfig(name="s", distill=bad).validate()


def csv_rows(path):
    import csv

    with open(path, newline="") as f:
        yield from csv.DictReader(f)


def test_fine_tune_a_checkpoint_on_a_new_label_set(tiny_fer, tiny_checkpoint, tmp_path, torch1):
    """--init from a checkpoint onto 3 classes (two shared, one new): the backbone comes over,
    the head is rebuilt with the shared rows copied, the frozen epoch leaves the backbone alone."""
    import torch

    from ferkit.labels import FER7, LabelSet
    from ferkit.train import TrainConfig
    from ferkit.train.checkpoint import load_checkpoint
    from ferkit.train.datasets.base import FaceDataset
    from ferkit.train.finetune import head_module, load_init, resolve_init, set_frozen
    from ferkit.train.models import model_from_config
    from ferkit.train.trainer import plan_run, run_plan, write_run_files

    keep = np.isin(tiny_fer.targets, [3, 4, 5])              # happy, sad, surprise
    labels = ("happy", "sad", "contempt")                    # contempt: a class the source lacks
    new = FaceDataset(tiny_fer.images[keep], np.array([{3: 0, 4: 1, 5: 2}[t] for t in tiny_fer.targets[keep]]),
                      LabelSet("custom", labels), tiny_fer.split[keep], tiny_fer.sources[keep], "three")
    cfg = TrainConfig(name="ft", model="fercnn_m", input_size=36, init_weights=str(tiny_checkpoint),
                      freeze_epochs=1, epochs=2, warmup_epochs=0, batch_size=32, augment="none",
                      optimizer="sgd", lr=0.01, amp=False, threads=1)
    plan = plan_run(cfg, tmp_path / "ft", dataset=new, progress=False)
    assert (cfg.model, cfg.input_size) == ("fercnn_s", 40)   # taken from the source
    source = resolve_init(str(tiny_checkpoint))
    model = model_from_config(cfg, 3)
    summary = load_init(model, source, list(labels))
    assert "new head for 3 classes" in summary and "happy, sad" in summary
    name, head = head_module(model)
    w = source.state[f"{name}.weight"]
    assert torch.equal(head.weight[0], w[FER7.index("happy")])
    assert torch.equal(head.weight[1], w[FER7.index("sad")])
    body = [k for k in source.state if not k.startswith(name + ".")]
    state = model.state_dict()
    assert all(torch.equal(state[k], source.state[k]) for k in body)
    set_frozen(model, True)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [f"{name}.weight", f"{name}.bias"]
    set_frozen(model, False)
    assert all(p.requires_grad for p in model.parameters())

    write_run_files(plan.out, cfg, None)
    run_plan(plan, progress=False)
    tuned = load_checkpoint(plan.out / "last.ckpt")
    assert list(tuned.label_set.labels) == list(labels)
    saved = json.loads((plan.out / "config.json").read_text())
    assert saved["init_weights"] == str(tiny_checkpoint) and saved["freeze_epochs"] == 1


def test_fine_tune_from_a_packaged_model(tiny_fer, tmp_path, torch1):
    """Every packaged model that ships float weights can start a run; the weights load whole."""
    from ferkit.models import resolve_model
    from ferkit.train.finetune import fine_tunable, load_init, resolve_init
    from ferkit.train.models import create_model

    names = fine_tunable()
    assert names, "no packaged model ships float weights for --init"
    for name in names:
        init = resolve_init(name)
        _, card = resolve_model(name)
        assert init.labels == list(card.labels)
        assert (init.input["channels"], init.input["image_size"]) == (card.input.channels, card.input.size)
        model = create_model(init.input["model"], len(init.labels), init.input["channels"])
        assert load_init(model, init, init.labels) == f"all weights from {name}"


def test_init_refuses_what_it_cannot_start_from(tmp_path, torch1):
    from ferkit.train.finetune import resolve_init

    with pytest.raises(ConfigError, match="neither a packaged model"):
        resolve_init(str(tmp_path / "nothing-here"))
