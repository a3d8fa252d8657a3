"""``ferkit serve`` on the command line: options refused before the web stack and the models load."""

from __future__ import annotations

import pytest

from clirun import run_cli_fresh


@pytest.mark.parametrize("args,exit_code,says", [
    (["serve", "--help"], 0, ""),
    (["serve", "--token", "short"], 2, "at least 16"),
    (["serve", "--model", "no-such-model"], 2, "model not found"),
    (["serve", "--detector", "nosuch"], 2, "unknown detector"),
    (["serve", "--port", "70000"], 2, ""),
    (["serve", "--cors-origin", "*"], 2, "no '*'"),
    (["serve", "--survey", "no/such/folder"], 2, "not a folder"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else str(v))
def test_refused_before_the_web_stack_loads(args, exit_code, says, tmp_path):
    result = run_cli_fresh(args, tmp_path)
    assert result.code == exit_code, result.stderr
    assert says in result.stderr
    assert not {"fastapi", "uvicorn", "onnxruntime", "torch"} & result.modules, result.heavy
