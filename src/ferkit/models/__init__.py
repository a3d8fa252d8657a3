"""Models shipped inside the package, and resolving a ``--model`` argument.

A model is an ONNX file with its :class:`~ferkit.card.ModelCard` beside it
(``name.onnx`` + ``name.json``). ``"default"`` names the packaged default model.
"""

from __future__ import annotations

import os
from pathlib import Path

from ferkit.card import ModelCard, card_path_for
from ferkit.errors import ModelError, UnknownNameError

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "fer7-default"


def packaged_models() -> dict[str, Path]:
    """Name → ONNX path for every model shipped in the package."""
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.onnx")) if card_path_for(p).exists()}


def resolve_model(model: str | os.PathLike | None = None) -> tuple[Path, ModelCard]:
    """The ONNX path and card for a packaged model name or a path to an ``.onnx`` file."""
    name = DEFAULT_MODEL if model in (None, "default") else model
    shipped = packaged_models()
    if isinstance(name, str) and name in shipped:
        path = shipped[name]
    else:
        path = Path(name)
        if path.is_dir():
            found = sorted(path.glob("*.onnx"))
            if len(found) != 1:
                raise ModelError(f"{path}: expected exactly one .onnx file in the folder, found {len(found)}")
            path = found[0]
        if not path.is_file():
            known = ", ".join(shipped) or "none installed"
            raise UnknownNameError(f"model not found: {name} (not a packaged model name "
                                   f"nor an .onnx file; packaged models: {known})")
    card_path = card_path_for(path)
    if not card_path.is_file():
        raise ModelError(f"model card missing: {card_path} (every ferkit model needs "
                         "its card beside the ONNX file)")
    return path, ModelCard.load(card_path)
