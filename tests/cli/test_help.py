"""``--help`` of every command reads as help should: flags take no value, arguments
show their names, and command summaries are whole sentences (issue 19).

The commands are listed from the app itself, so a new command is checked too.
"""

import re

import pytest
import typer
from typer.testing import CliRunner

from ferkit.cli import app

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BORDER = "│╭╮╰╯─"


def _commands(group=None, path=()):
    """(argv prefix, click command) for the root and every sub-command, nested groups included."""
    group = group or typer.main.get_command(app)
    found = [(list(path), group)]
    for name, cmd in sorted(getattr(group, "commands", {}).items()):
        if hasattr(cmd, "commands"):
            found += _commands(cmd, (*path, name))
        else:
            found.append(([*path, name], cmd))
    return found


COMMANDS = _commands()
IDS = [" ".join(argv) or "ferkit" for argv, _ in COMMANDS]


def _help(argv: list[str]) -> str:
    # Wide enough that no row wraps; colours stripped (CI may force them).
    r = runner.invoke(app, [*argv, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert r.exit_code == 0, r.output
    return ANSI.sub("", r.output)


def _rows(text: str) -> list[str]:
    """The panel rows of a help text, without the box characters."""
    return [line.strip().strip(BORDER).strip() for line in text.splitlines()]


def _summary(cmd) -> str:
    """The first paragraph of a command's help, as one line."""
    return " ".join((cmd.help or "").strip().split("\n\n")[0].split())


def test_every_command_is_listed():
    names = {argv[-1] for argv, _ in COMMANDS if argv}
    assert {"analyze", "models", "train", "evaluate", "export", "compare", "video", "live"} <= names


@pytest.mark.parametrize("argv,cmd", COMMANDS, ids=IDS)
def test_flags_show_no_value_placeholder(argv, cmd):
    text = _help(argv)
    assert "<bool>" not in text and "BOOLEAN" not in text, text
    ctx = cmd.make_context(cmd.name, [], resilient_parsing=True)
    flags = [p for p in cmd.get_params(ctx) if getattr(p, "is_flag", False)]
    assert any(p.name == "help" for p in flags)
    for p in flags:
        names = [*p.opts, *p.secondary_opts]
        row = next((r for r in _rows(text) if r.startswith(names[0] + " ")
                    or r.startswith("* " + names[0] + " ")), None)
        assert row is not None, f"no help row for {names[0]}:\n{text}"
        rest = row.removeprefix("* ")
        for name in names:
            rest = rest.replace(name, "", 1)
        # What follows the option names is its help text, with no type or value in between.
        first_words = " ".join((p.help or "").split()[:2])
        assert rest.strip().startswith(first_words), f"{names[0]} shows a value: {row!r}"


@pytest.mark.parametrize("argv,cmd", [c for c in COMMANDS if c[0]], ids=[i for i in IDS if i != "ferkit"])
def test_arguments_show_their_names(argv, cmd):
    text = _help(argv)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "<" not in usage, usage
    assert "<list[" not in text, text
    for p in cmd.params:
        if p.param_type_name != "argument":
            continue
        shown = p.name.upper() + ("..." if p.nargs != 1 else "")
        if not p.required:
            shown = f"[{shown}]"
        assert re.search(rf"(^|\s){re.escape(shown)}(\s|$)", usage), (shown, usage)


@pytest.mark.parametrize("argv,cmd", [c for c in COMMANDS if c[0]], ids=[i for i in IDS if i != "ferkit"])
def test_summary_is_a_whole_sentence(argv, cmd):
    first_line = (cmd.help or "").strip().splitlines()[0].strip()
    # The summary is the docstring's first line, a whole sentence, and its own paragraph.
    assert _summary(cmd) == first_line, f"{argv}: the summary runs on to a second line"
    assert first_line.endswith("."), f"{argv}: summary {first_line!r} is not a sentence"


def test_group_help_lists_each_summary_whole():
    text = _help([])
    rows = _rows(text.split("Commands", 1)[1])
    shown: dict[str, str] = {}
    last = None
    for row in rows:
        if not row:
            continue
        head = row.split(" ", 1)[0]
        if head in {argv[0] for argv, _ in COMMANDS if argv}:
            last = head
            shown[last] = row[len(head):].strip()
        elif last is not None:  # a wrapped continuation line
            shown[last] += " " + row
    for argv, cmd in COMMANDS:
        if len(argv) == 1:
            assert shown.get(argv[0]) == _summary(cmd), (argv[0], shown.get(argv[0]))


def _strs(values) -> list[str]:
    return [str(v) for v in values]


def test_crops_is_a_flag():
    analyze = typer.main.get_command(app).commands["analyze"]
    ctx = analyze.make_context("analyze", ["x.jpg", "--crops"])
    assert ctx.params["crops"] is True and _strs(ctx.params["paths"]) == ["x.jpg"]
    # A value after the flag is one more input, as for any click flag.
    ctx = analyze.make_context("analyze", ["x.jpg", "--crops", "true"])
    assert ctx.params["crops"] is True and _strs(ctx.params["paths"]) == ["x.jpg", "true"]
    ctx = analyze.make_context("analyze", ["x.jpg"])
    assert ctx.params["crops"] is False


def test_crops_followed_by_a_word_reports_that_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["analyze", "x.jpg", "--crops", "true", "-q"])
    assert r.exit_code == 1, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("{")]
    assert len(lines) == 2 and '"file": "true"' in lines[1], r.output
