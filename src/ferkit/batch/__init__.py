"""Many images or videos at once, in this process or on a Ray cluster, resumably.

:func:`run_batch` expands the inputs into a plan (:mod:`~ferkit.batch.plan`),
skips what an earlier run into the same folder finished, runs the rest on an
engine (:mod:`~ferkit.batch.local` or :mod:`~ferkit.batch.ray_engine`; both do
the same work, :mod:`~ferkit.batch.work`, and write the same records) and writes
the results as they come (:mod:`~ferkit.batch.store`). Ray is optional
(``pip install 'ferkit[ray]'``) and imported only by the Ray engine.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BatchReport": "ferkit.batch.run", "run_batch": "ferkit.batch.run",
    "ENGINES": "ferkit.batch.run", "video_options_for_batch": "ferkit.batch.run",
    "BatchSettings": "ferkit.batch.work", "Item": "ferkit.batch.plan", "Plan": "ferkit.batch.plan",
    "build_plan": "ferkit.batch.plan", "load_records": "ferkit.batch.store",
    "read_log": "ferkit.batch.store", "FORMATS": "ferkit.batch.store",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ferkit.batch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
