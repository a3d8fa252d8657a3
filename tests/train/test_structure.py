"""The training package's module graph: no import cycle (counting imports hidden inside
functions), no module importing another's private helper, no pyplot, and one copy of the
helpers the rest of ferkit owns."""

from __future__ import annotations

import ast
from pathlib import Path

import ferkit.train

PACKAGE = Path(ferkit.train.__file__).parent
SRC = PACKAGE.parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path):
    """``(module, imported names)`` of every import in the file, wherever it stands."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            module = (f"{base}.{node.module}" if node.module else base) if node.level \
                else node.module
            yield module, [a.name for a in node.names]


def train_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(module: str, names: list[str], known: dict) -> list[str]:
    """The ferkit.train modules an import statement loads."""
    out = [module] if module in known else []
    out += [f"{module}.{n}" for n in names if f"{module}.{n}" in known]
    return out


def graph() -> dict[str, set[str]]:
    known = train_modules()
    edges = {}
    for name, path in known.items():
        targets = set()
        for module, names in imports(path):
            targets.update(resolve(module, names, known))
        # A package's __init__ is imported with any of its sub-modules; the lazy
        # ferkit.train.__init__ imports nothing of its own package.
        edges[name] = {t for t in targets if t != name}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_find_cycle_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_train():
    edges = graph()
    assert "ferkit.train.compare" in edges["ferkit.train.trainer"]     # the graph is real
    assert find_cycle(edges) is None


def test_no_private_helper_imported_across_modules():
    offenders = []
    for name, path in train_modules().items():
        for module, names in imports(path):
            if module and module.startswith("ferkit") and module != name:
                offenders += [f"{name}: from {module} import {n}" for n in names
                              if n.startswith("_") and n != "__version__"]
    assert offenders == []


def test_plots_use_the_object_api():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import matplotlib.pyplot" not in text and "matplotlib.use(" not in text, path


def test_one_copy_of_shared_helpers():
    """Softmax, ONNX Runtime sessions and progress bars come from ferkit.runtime /
    ferkit.progress; split selection lives in ferkit.train.splits only."""
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "def softmax" not in text and "InferenceSession(" not in text, path
        assert "rich.progress import" not in text, path
        if path.name != "splits.py":
            assert "permutation(" not in text and "def pick_split" not in text, path
