"""Running the ``ferkit`` CLI in a fresh interpreter, to see what it imported."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

# What a usage error, --help or --version must not load.
HEAVY = ("onnxruntime", "cv2", "torch", "matplotlib", "av", "scipy")

# Runs the CLI in-process with the given arguments, then prints its exit code and
# the modules it imported (whatever the CLI printed goes to stderr).
WRAPPER = """
import json, sys
args = json.loads(sys.argv[1])
sys.stdout = sys.stderr
from ferkit.cli import main
sys.argv = ["ferkit", *args]
code = 0
try:
    main()
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.__stdout__)
"""


@dataclass
class CliRun:
    code: int
    modules: set[str]
    stderr: str

    @property
    def heavy(self) -> list[str]:
        """The :data:`HEAVY` packages the run imported."""
        return [m for m in HEAVY if m in self.modules]


def run_cli_fresh(args, cwd, env=None) -> CliRun:
    proc = subprocess.run([sys.executable, "-c", WRAPPER, json.dumps([str(a) for a in args])],
                          capture_output=True, text=True, cwd=cwd, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return CliRun(result["code"], set(result["modules"]), proc.stderr)
