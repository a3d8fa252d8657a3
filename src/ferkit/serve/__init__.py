"""``ferkit serve``: a REST API, a stream socket and a web page over one process's models.

:func:`create_app` builds the ASGI app from a :class:`ServeSettings`; ``ferkit
serve`` runs it with Uvicorn. Needs the ``serve`` extra (``pip install
'ferkit[serve]'``: FastAPI, Uvicorn, python-multipart). See ``docs/serve.md``.
"""

from __future__ import annotations

from ferkit.serve.settings import ServeSettings


def create_app(settings: ServeSettings | None = None, survey=None):
    """The ASGI app; see :func:`ferkit.serve.app.create_app`."""
    from ferkit.serve.app import create_app as _create_app

    return _create_app(settings, survey=survey)


__all__ = ["ServeSettings", "create_app"]
