"""Class folders: ``root/<label>/<image>``, optionally ``root/<split>/<label>/<image>``.

Folder names are resolved through :func:`ferkit.labels.canonical`, so ``happy``,
``Happiness`` and ``기쁨`` are the same class. When no top-level folder is a label
but their sub-folders are, the top level names the splits (``train/``, ``test/``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ferkit.errors import DatasetError
from ferkit.labels import LabelSet, UnknownLabelError

from .base import FaceDataset
from .files import dataset_from_files, list_images, resolve_label
from .preprocess import EXAMPLES, PreprocessOptions


def _is_label(name: str) -> bool:
    try:
        resolve_label(name)
        return True
    except UnknownLabelError:
        return False


def load_folder(root: str | os.PathLike, label_set: LabelSet | str | None = None,
                preprocess: PreprocessOptions | dict | None = None,
                progress: bool = True) -> FaceDataset:
    """Images in class folders as a :class:`FaceDataset`.

    ``label_set`` fixes the classes and their order; by default it is inferred
    from the folders found. Folders that name no class are reported in
    ``info["unknown_labels"]``, stray files in ``info["ignored"]``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    opts = preprocess if isinstance(preprocess, PreprocessOptions) else \
        PreprocessOptions.from_dict(preprocess)
    top = sorted(d for d in root.iterdir() if d.is_dir())
    by_split = bool(top) and not any(_is_label(d.name) for d in top) and any(
        _is_label(sub.name) for d in top for sub in d.iterdir() if sub.is_dir())
    depth = 3 if by_split else 2
    files, names, splits, ignored = [], [], [], []
    for path in list_images(root):
        parts = path.relative_to(root).parts
        if len(parts) != depth:
            ignored.append(str(path.relative_to(root)))
            continue
        files.append(path)
        names.append(parts[-2])
        splits.append(parts[0])
    if not files:
        raise DatasetError(f"{root}: no images in class folders (expected root/<label>/<image> "
                           f"or root/<split>/<label>/<image>; {len(ignored)} image file(s) "
                           "elsewhere)")
    class_dirs = [d for d in (sorted(sub for t in top for sub in t.iterdir() if sub.is_dir())
                              if by_split else top) if _is_label(d.name)]
    with_images = {Path(f).parent for f in files}
    empty = [str(d.relative_to(root)) for d in class_dirs if d not in with_images]
    info = {"path": str(root), "layout": "split/label/image" if by_split else "label/image",
            "ignored": {"count": len(ignored), "examples": ignored[:EXAMPLES]},
            "empty_classes": empty}
    return dataset_from_files(files, names, splits if by_split else None, root, label_set, opts,
                              f"folder:{root.name}", info, progress,
                              declared=sorted({Path(e).name for e in empty}))
