"""Model options of the Korean ResNet recipe: he_normal initialisation and a Dense-512 head."""

from __future__ import annotations

import math

import pytest

from ferkit.errors import ConfigError


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["fercnn_s", "resnet18s", "resnet18", "mobilenetv3_small",
                                  "efficientnet_b0"])
def test_dense512_head_on_own_and_timm_models(name, torch1):
    from torch import nn

    from ferkit.train.models import create_model

    torch1.manual_seed(0)
    plain = create_model(name, 6, 1, 0.2)
    dense = create_model(name, 6, 1, 0.2, head="dense512")
    linear = [m for m in plain.modules() if isinstance(m, nn.Linear)][-1]
    features = linear.in_features
    heads = [m for m in dense.modules() if isinstance(m, nn.Sequential) and len(m) == 4
             and isinstance(m[0], nn.Linear) and m[0].out_features == 512]
    assert len(heads) == 1
    h = heads[0]
    assert (h[0].in_features, h[3].in_features, h[3].out_features) == (features, 512, 6)
    assert isinstance(h[1], nn.ReLU) and isinstance(h[2], nn.Dropout) and h[2].p == 0.5
    assert n_params(dense) - n_params(plain) == (features * 512 + 512 + 512 * 6 + 6) - (features * 6 + 6)
    dense.eval()
    with torch1.no_grad():
        out = dense(torch1.randn(2, 1, 48, 48))
    assert out.shape == (2, 6) and torch1.isfinite(out).all()


@pytest.mark.parametrize("name", ["fercnn_s", "resnet18"])
def test_he_normal_initialisation(name, torch1):
    from torch import nn

    from ferkit.train.models import create_model

    torch1.manual_seed(0)
    he = create_model(name, 7, 1, weight_init="he_normal", head="dense512")
    torch1.manual_seed(0)
    default = create_model(name, 7, 1)
    # The biggest convolution: std sqrt(2 / fan_in) under he_normal; PyTorch's default for
    # ferkit's CNN (kaiming_uniform, a = sqrt(5)) gives 1 / sqrt(3 fan_in), 2.45 times less
    # (timm's ResNet already starts from a He normal, over fan_out).
    def biggest(model):
        return max((m for m in model.modules() if isinstance(m, nn.Conv2d)),
                   key=lambda m: m.weight.numel())
    cases = [(he, math.sqrt(2))] + ([(default, 1 / math.sqrt(3))] if name == "fercnn_s" else [])
    for model, want in cases:
        w = biggest(model).weight.detach()
        fan_in = w[0].numel()
        assert float(w.std()) * math.sqrt(fan_in) == pytest.approx(want, rel=0.05)
    for m in he.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
            assert float(m.bias.detach().abs().max()) == 0.0
    dense = [m for m in he.modules() if isinstance(m, nn.Linear) and m.out_features == 512][0]
    assert float(dense.weight.detach().std()) * math.sqrt(dense.in_features) == pytest.approx(math.sqrt(2),
                                                                                    rel=0.05)


def test_options_are_config_options_and_checkpoints_rebuild_them(tmp_path, torch1):
    from ferkit.train.checkpoint import load_checkpoint, save_checkpoint
    from ferkit.train.config import TrainConfig
    from ferkit.train.models import create_model, model_from_config

    cfg = TrainConfig.from_dict({"model": "fercnn_s", "weight_init": "he_normal", "head": "dense512"})
    cfg.validate()
    model = model_from_config(cfg, 6)
    labels = ["happy", "embarrassed", "angry", "anxiety", "hurt", "sad"]
    path = save_checkpoint({"model": model.state_dict(), "config": cfg.to_dict(), "epoch": 0,
                            "labels": labels, "label_set": "korean6"}, tmp_path / "m.ckpt")
    loaded = load_checkpoint(path)
    assert loaded.config.head == "dense512" and loaded.label_set.name == "korean6"
    x = torch1.randn(3, 1, 40, 40)
    model.eval()
    with torch1.no_grad():
        assert torch1.equal(loaded.model(x), model(x))
    for bad in ({"weight_init": "xavier"}, {"head": "mlp"}):
        with pytest.raises(ConfigError, match="must be one of"):
            TrainConfig.from_dict(bad).validate()
        with pytest.raises(ConfigError, match="must be one of"):
            create_model("fercnn_s", 7, **bad)
