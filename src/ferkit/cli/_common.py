"""What every ``ferkit`` command shares: the error console, the error boundary,
logging set-up, and options declared once."""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console
from typer.core import TyperGroup

from ferkit.errors import FerkitError

# Error lines are printed verbatim (no markup, no highlighting) and are not
# wrapped when standard error is not a terminal, so logs and pipes get one line.
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=not sys.stderr.isatty())

EXIT_INTERRUPTED = 130


def print_error(message: str, kind: str = "error") -> None:
    """One line ``error: <message>`` on standard error, the message shown verbatim."""
    from rich.text import Text

    line = Text(f"{kind}: ", style="bold red" if kind == "error" else "bold yellow")
    line.append(str(message))
    err.print(line, soft_wrap=True)


def print_warning(message: str) -> None:
    print_error(message, kind="warning")


def setup_logging(verbose: bool = False) -> None:
    """Route ferkit's library logging to standard error through rich, one line a record."""
    from rich.logging import RichHandler

    logger = logging.getLogger("ferkit")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        handler = RichHandler(console=err, show_time=False, show_path=False, markup=False,
                              rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


class FerkitGroup(TyperGroup):
    """The CLI's error boundary: a :class:`~ferkit.errors.FerkitError` becomes one line on
    standard error and its exit code; Ctrl-C exits 130. ``FERKIT_DEBUG=1`` re-raises."""

    def invoke(self, ctx):
        setup_logging()
        try:
            return super().invoke(ctx)
        except FerkitError as e:
            if os.environ.get("FERKIT_DEBUG"):
                raise
            print_error(str(e))
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            if os.environ.get("FERKIT_DEBUG"):
                raise
            print_error("interrupted", kind="warning")
            raise typer.Exit(EXIT_INTERRUPTED) from None
