"""Fine-tuning: start a run from a packaged model's or a checkpoint's weights (``--init``).

The source fixes the architecture and the input (channels, image and crop size,
normalisation), so the config takes them from it. The backbone is loaded whole; the
classifier head is loaded when the label sets match, and otherwise rebuilt for the new
classes, with the rows of classes both sets share copied over. ``freeze_epochs`` trains
only the head for the first epochs, then everything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ferkit.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

INPUT_FIELDS = ("model", "channels", "image_size", "input_size", "mean", "std")


@dataclass
class InitWeights:
    """Weights to start from, and what they expect."""

    origin: str
    state: dict[str, torch.Tensor]
    labels: list[str]
    input: dict            # the INPUT_FIELDS of the source


def packaged_weights(name: str) -> Path | None:
    from ferkit.models import MODELS_DIR

    path = MODELS_DIR / f"{name}.weights.npz"
    return path if path.is_file() else None


def resolve_init(source: str) -> InitWeights:
    """A packaged model name (its ``<name>.weights.npz`` + card), a checkpoint or a run folder."""
    from ferkit.models import packaged_models, resolve_model

    if source in packaged_models():
        weights = packaged_weights(source)
        if weights is None:
            raise ModelError(f"packaged model {source!r} ships no float weights to fine-tune from "
                             f"(models with them: {', '.join(fine_tunable()) or 'none'})")
        _, card = resolve_model(source)
        z = np.load(weights, allow_pickle=False)
        arch = str(z["__architecture__"])
        state = {k: torch.from_numpy(z[k].astype(np.float32) if z[k].dtype == np.float16 else z[k])
                 for k in z.files if not k.startswith("__")}
        crop = card.training.get("export", {}).get("input_size") or card.input.size
        return InitWeights(source, state, list(card.labels), {
            "model": arch, "channels": card.input.channels, "image_size": card.input.size,
            "input_size": int(crop), "mean": card.input.mean, "std": card.input.std})
    from .checkpoint import find_checkpoints, load_checkpoint

    path = Path(source)
    if not path.exists():
        raise ConfigError(f"--init {source}: neither a packaged model with float weights "
                          f"({', '.join(fine_tunable()) or 'none'}) nor a checkpoint or run folder")
    found = find_checkpoints(path)
    if len(found) != 1:
        raise ConfigError(f"--init {source}: an ensemble of {len(found)} members; name one "
                          "member's best.ckpt")
    ck = load_checkpoint(found[0])
    cfg = ck.config
    return InitWeights(str(found[0]), ck.model.state_dict(), list(ck.label_set.labels),
                       {f: getattr(cfg, f) for f in INPUT_FIELDS})


def fine_tunable() -> list[str]:
    """Packaged models that ship float weights for ``--init``."""
    from ferkit.models import packaged_models

    return [n for n in packaged_models() if packaged_weights(n) is not None]


def adopt_input(cfg, init: InitWeights) -> list[str]:
    """Set the config's architecture and input from the source; returns what changed."""
    changed = []
    for f in INPUT_FIELDS:
        if getattr(cfg, f) != init.input[f]:
            changed.append(f"{f} {getattr(cfg, f)!r} -> {init.input[f]!r}")
            setattr(cfg, f, init.input[f])
    return changed


def head_module(model: nn.Module) -> tuple[str, nn.Linear]:
    """The name and final linear layer of the classifier."""
    from .models import classifier_of

    name, layer = classifier_of(model)
    if isinstance(layer, nn.Sequential):
        idx = max(i for i, m in enumerate(layer) if isinstance(m, nn.Linear))
        return f"{name}.{idx}", layer[idx]
    return name, layer


def load_init(model: nn.Module, init: InitWeights, labels: list[str]) -> str:
    """Load ``init`` into ``model`` (built for ``labels``); returns a one-line summary."""
    head_name, head = head_module(model)
    prefix = head_name + "."
    body = {k: v for k, v in init.state.items() if not k.startswith(prefix)}
    missing, unexpected = model.load_state_dict(body, strict=False)
    missing = [k for k in missing if not k.startswith(prefix)]
    if missing or unexpected:
        raise ModelError(f"--init {init.origin}: its weights do not fit this architecture "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    w, b = init.state.get(prefix + "weight"), init.state.get(prefix + "bias")
    if list(labels) == list(init.labels) and w is not None:
        head.load_state_dict({"weight": w, "bias": b})
        return f"all weights from {init.origin}"
    shared = [c for c in labels if c in init.labels]
    if w is not None and w.shape[1] == head.in_features:
        with torch.no_grad():
            for c in shared:
                head.weight[labels.index(c)] = w[init.labels.index(c)]
                head.bias[labels.index(c)] = b[init.labels.index(c)]
    return (f"backbone from {init.origin}; a new head for {len(labels)} classes"
            + (f" (rows of {', '.join(shared)} copied)" if shared else ""))


def set_frozen(model: nn.Module, frozen: bool) -> None:
    """Freeze (or unfreeze) everything but the classifier head."""
    head_name, _ = head_module(model)
    top = head_name.split(".")[0]
    for name, p in model.named_parameters():
        p.requires_grad_(not frozen or name.split(".")[0] == top)
