"""Model registry: ``create_model(name, num_classes, in_chans)``.

ferkit's own architectures register themselves with :func:`register_model`;
any other name is handed to timm (``pip install ferkit[train]``), from scratch.
Two options apply to every architecture (the Korean ResNet projects' recipe):
``head="dense512"`` puts Dense-512 + ReLU + dropout 0.5 before the classifier
(instead of one linear layer), ``weight_init="he_normal"`` draws every convolution and
linear weight from He's normal (``std = sqrt(2 / fan_in)``, biases 0) instead of
the layers' own defaults.
"""

from __future__ import annotations

from torch import nn

from ferkit.errors import ConfigError, UnknownNameError

from ..config import HEADS, INITS
from . import cnn, resnet  # noqa: F401  (register ferkit's own models)
from .registry import MODELS as _REGISTRY
from .registry import register_model

# Short names users type, mapped to timm's.
TIMM_ALIASES = {
    "resnet18": "resnet18",
    "resnet50": "resnet50",
    "mobilenetv3_large": "mobilenetv3_large_100",
    "mobilenetv3_small": "mobilenetv3_small_100",
    "efficientnet_b0": "efficientnet_b0",
    "inception_resnet_v2": "inception_resnet_v2",
}


DENSE_HEAD_WIDTH = 512
DENSE_HEAD_DROPOUT = 0.5

__all__ = ["HEADS", "INITS", "TIMM_ALIASES", "check_model_name", "create_model", "list_models",
           "classifier_of", "model_from_config", "register_model"]


def list_models() -> list[str]:
    """ferkit's own architectures plus the timm shorthands."""
    return sorted(_REGISTRY) + sorted(TIMM_ALIASES)


def check_model_name(name: str) -> None:
    """Raise :class:`~ferkit.errors.UnknownNameError` unless ``name`` is a known architecture."""
    if name in _REGISTRY:
        return
    try:
        import timm
    except ImportError:
        raise UnknownNameError(f"model {name!r} needs timm: pip install 'ferkit[train]'") from None
    if TIMM_ALIASES.get(name, name) not in timm.list_models():
        raise UnknownNameError(f"unknown model {name!r}; ferkit models: "
                               f"{', '.join(sorted(_REGISTRY))}; or any timm architecture name")


def check_model_options(weight_init: str, head: str) -> None:
    """Raise :class:`~ferkit.errors.ConfigError` for an unknown ``weight_init`` or ``head``."""
    for what, value, allowed in (("weight_init", weight_init, INITS), ("head", head, HEADS)):
        if value not in allowed:
            raise ConfigError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")


def create_model(name: str, num_classes: int, in_chans: int = 1, drop_rate: float = 0.0,
                 weight_init: str = "default", head: str = "linear", **kwargs) -> nn.Module:
    """Build an untrained model by name (no pretrained weights are ever fetched), with the
    ``weight_init`` and ``head`` options of the module doc."""
    check_model_options(weight_init, head)
    if name in _REGISTRY:
        model = _REGISTRY[name](num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                                **kwargs)
    else:
        check_model_name(name)
        import timm

        timm_name = TIMM_ALIASES.get(name, name)
        model = timm.create_model(timm_name, pretrained=False, num_classes=num_classes,
                                  in_chans=in_chans, drop_rate=drop_rate, **kwargs)
    if head == "dense512":
        _dense_head(model, name)
    if weight_init == "he_normal":
        he_normal(model)
    return model


def model_from_config(cfg, num_classes: int) -> nn.Module:
    """The untrained model a :class:`~ferkit.train.config.TrainConfig` describes (training
    builds it, checkpoints rebuild it before loading their weights)."""
    return create_model(cfg.model, num_classes, cfg.channels, cfg.drop_rate, weight_init=cfg.weight_init,
                        head=cfg.head)


def classifier_of(model: nn.Module) -> tuple[str, nn.Module | None]:
    """The dotted name and module of the final classifier: timm's ``get_classifier()``,
    or ``head`` for ferkit's own models."""
    layer = model.get_classifier() if hasattr(model, "get_classifier") else getattr(model, "head",
                                                                                    None)
    for name, module in model.named_modules():
        if module is layer and name:
            return name, module
    return "", None


def _dense_head(model: nn.Module, name: str) -> None:
    """Replace the final linear classifier with Dense-512 + ReLU + dropout + linear."""
    where, old = classifier_of(model)
    if not isinstance(old, nn.Linear):
        raise ConfigError(f"head 'dense512' replaces a final linear classifier, which {name} "
                          f"does not end in (found {type(old).__name__})")
    parent = model.get_submodule(where.rpartition(".")[0]) if "." in where else model
    setattr(parent, where.rpartition(".")[2], nn.Sequential(
        nn.Linear(old.in_features, DENSE_HEAD_WIDTH), nn.ReLU(inplace=True),
        nn.Dropout(DENSE_HEAD_DROPOUT), nn.Linear(DENSE_HEAD_WIDTH, old.out_features)))


def he_normal(model: nn.Module) -> nn.Module:
    """He-normal weights (``std = sqrt(2 / fan_in)``) and zero biases for every
    convolution and linear layer, as Keras' ``he_normal`` (untruncated)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model
