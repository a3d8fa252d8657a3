"""The ``ferkit`` command line: a thin shell over the Python API.

Each sub-module registers its commands on :data:`app`.
Exit codes: 0 all inputs succeeded, 1 some failed, 2 usage error (see
:mod:`ferkit.errors`), 130 interrupted.
"""

from __future__ import annotations

import typer

from ._common import FerkitGroup

app = typer.Typer(cls=FerkitGroup, add_completion=False, no_args_is_help=True,
                  help="ferkit: facial expression recognition in photos, videos and streams.")


def main() -> None:
    app()


# Each sub-module registers its commands on app (one line per module).
from . import analyze  # noqa: E402,F401
from . import train  # noqa: E402,F401
from . import video  # noqa: E402,F401
from . import serve  # noqa: E402,F401
from . import data  # noqa: E402,F401
from . import survey  # noqa: E402,F401
from . import batch  # noqa: E402,F401
