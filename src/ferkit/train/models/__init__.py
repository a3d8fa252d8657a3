"""Model registry: ``create_model(name, num_classes, in_chans)``.

ferkit's own architectures register themselves with :func:`register_model`;
any other name is handed to timm (``pip install ferkit[train]``), from scratch.
"""

from __future__ import annotations

from torch import nn

from ferkit.errors import UnknownNameError

from . import cnn  # noqa: F401  (registers ferkit's own models)
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


__all__ = ["TIMM_ALIASES", "check_model_name", "create_model", "list_models", "register_model"]


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


def create_model(name: str, num_classes: int, in_chans: int = 1, drop_rate: float = 0.0,
                 **kwargs) -> nn.Module:
    """Build an untrained model by name (no pretrained weights are ever fetched)."""
    if name in _REGISTRY:
        return _REGISTRY[name](num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate,
                               **kwargs)
    check_model_name(name)
    import timm

    timm_name = TIMM_ALIASES.get(name, name)
    return timm.create_model(timm_name, pretrained=False, num_classes=num_classes,
                             in_chans=in_chans, drop_rate=drop_rate, **kwargs)
