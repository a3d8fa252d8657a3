"""``ferkit survey create``: N faces per class from one or two sources, copied under
opaque names, with the model's answers stored beside them.

A source is a ``ferkit data`` dataset folder (its kept rows; only its test split
when it has one, so the model is not asked about faces it trained on) or a
folder of class folders of face crops. With a second (``private``) source half of
each class comes from each. Images are re-encoded (no metadata) under random
names, so nothing a participant's browser receives names the label.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import numpy as np

from ferkit.errors import DatasetError, UsageError, check_int
from ferkit.labels import LABEL_LANGUAGES, display_names, get_label_set

from .store import ANSWERS_FILE, ORDERS, SURVEY_FILE


def candidates(source: str | os.PathLike) -> tuple[list[tuple[Path, str]], str]:
    """``(image path, label)`` of the faces a source offers, and how they were chosen."""
    from ferkit.train.datasets.files import list_images, resolve_label
    from ferkit.train.datasets.manifest import is_manifest_dataset

    root = Path(source)
    if not root.is_dir():
        raise DatasetError(f"survey source not found: {root}")
    if is_manifest_dataset(root):
        from ferkit.data.manifest import read_manifest

        manifest = read_manifest(root, check_files=True)
        kept = manifest.kept()
        test = [r for r in kept if r["split"] == "test"]
        rows, how = (test, "test split") if test else (kept, "kept rows")
        return [(manifest.folder / r["file"], r["label"]) for r in rows], how
    found = []
    for path in list_images(root):
        parts = path.relative_to(root).parts
        if len(parts) == 2:
            try:
                found.append((path, resolve_label(parts[0])))
            except ValueError:
                continue
    if not found:
        raise DatasetError(f"{root}: neither a dataset folder (manifest.csv) nor class folders of face crops")
    return found, "class folders"


def create_survey(dataset: str | os.PathLike, out: str | os.PathLike, per_class: int = 20,
                  private: str | os.PathLike | None = None, order: str = "shuffled", seed: int = 0,
                  language: str = "en", labels=None, model: str = "default", title: str = "") -> dict:
    """Build the survey folder ``out`` and return its spec (``survey.json``)."""
    from ferkit.analyzer import Analyzer
    from ferkit.imageio import load_image
    from ferkit.writers import prepare_folder, write_image, write_text_atomic

    check_int("--per-class", per_class, low=1)
    if language not in LABEL_LANGUAGES:
        raise UsageError(f"language must be one of {', '.join(LABEL_LANGUAGES)}, not {language!r}")
    if order not in ORDERS:
        raise UsageError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    out = Path(out)
    if (out / SURVEY_FILE).exists() or (out / ANSWERS_FILE).exists():
        raise UsageError(f"{out} holds a survey already (its answers would be lost); choose another --out")
    sources = [("public", dataset)] + ([("private", private)] if private is not None else [])
    pools = {name: candidates(path) for name, path in sources}
    present = set.intersection(*({label for _, label in pool} for pool, _ in pools.values()))
    if labels:
        try:
            label_set = get_label_set(labels)
        except KeyError as e:
            raise UsageError(str(e.args[0])) from None
        classes = list(label_set.labels)
    else:
        from ferkit.train.datasets.files import infer_label_set

        classes = list(infer_label_set(present).labels)
    if not classes:
        raise DatasetError("the sources share no class")
    shares = {"public": per_class - per_class // 2, "private": per_class // 2} if private is not None \
        else {"public": per_class}
    rng = np.random.default_rng(seed)
    chosen = []
    for name, (pool, how) in pools.items():
        for c in classes:
            paths = sorted(str(p) for p, label in pool if label == c)
            if len(paths) < shares[name]:
                raise DatasetError(f"{name} source {sources[[s for s, _ in sources].index(name)][1]}: "
                                   f"class {c} has {len(paths)} faces ({how}), {shares[name]} asked")
            for i in rng.permutation(len(paths))[:shares[name]]:
                chosen.append((Path(paths[i]), c, name))
    order_idx = rng.permutation(len(chosen))
    chosen = [chosen[i] for i in order_idx]

    analyzer = Analyzer(model=model)
    prepare_folder(out / "images", "the survey folder")
    items = []
    for path, label, source in chosen:
        token = secrets.token_hex(8)
        rgb = load_image(path)
        write_image(out / "images" / f"{token}.jpg", rgb, quality=95)
        items.append({"id": token, "image": f"images/{token}.jpg", "label": label, "source": source,
                      "origin": str(path)})
    faces = analyzer.classify_crops([out / it["image"] for it in items])
    model_set = get_label_set(analyzer.labels)
    survey_set = get_label_set(classes)
    mapping = model_set.mapping_to(survey_set)
    for it, face in zip(items, faces):
        probs = np.array([face.probabilities[c] for c in analyzer.labels])
        mapped = mapping.map_probabilities(probs)
        best = int(np.argmax(mapped))
        it["model"] = {"answer": survey_set.labels[best], "confidence": round(float(mapped[best]), 4),
                       "probabilities": {c: round(float(p), 4) for c, p in zip(survey_set.labels, mapped)}}
    spec = {"format": 1, "title": title or "Which expression is this?", "labels": list(survey_set.labels),
            "names": display_names(survey_set.labels, language), "language": language, "order": order,
            "seed": seed, "per_class": per_class, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "sources": {name: {"path": str(Path(path).resolve()), "chosen_from": pools[name][1]}
                        for name, path in sources},
            "model": {"name": analyzer.card.name, "labels": list(analyzer.labels),
                      "unmapped": list(mapping.unmapped_target)},
            "items": items}
    write_text_atomic(out / SURVEY_FILE, json.dumps(spec, indent=1, ensure_ascii=False) + "\n")
    from .store import Survey

    Survey.open(out)   # creates answers.sqlite
    return spec
