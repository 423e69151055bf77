"""The layout's rules, read afresh from the source (docs/architecture.md describes them).

1. No module-level import cycles among ``metrics_core`` and ``tui`` modules (imports inside functions and
   ``if TYPE_CHECKING:`` blocks are not module-level; the cost registry registers its rule modules lazily).
2. The stages point one way; ``metrics_core`` never imports textual, rich or ``tui``; screens and widgets
   import the app module for typing only: import-linter contracts in pyproject.toml (``lint-imports``).
3. ``import metrics_core`` (and its top-level stage packages) and ``tui.cli`` start-up import no torch, no
   textual (tests/test_import_isolation.py).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("metrics_core", "tui")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Project modules imported by statements that run at import time (not in functions/classes' methods,
    not under ``if TYPE_CHECKING``)."""
    found: set[str] = set()

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = module.split(".") if is_package else module.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (node.level - 1)]
                    base = ".".join(pkg + ([node.module] if node.module else []))
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    found.add(sub if sub in known else base)
            elif isinstance(node, ast.If):
                if not _is_type_checking(node):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try, ast.With)):
                visit(node.body)
                for h in getattr(node, "handlers", []):
                    visit(h.body)
                visit(getattr(node, "orelse", []))
                visit(getattr(node, "finalbody", []))
            elif isinstance(node, ast.ClassDef):
                visit([n for n in node.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))])

    visit(tree.body)
    return {m for m in found if m in known}


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    known = set(files)
    return {
        mod: _module_level_imports(ast.parse(path.read_text()), mod, path.name == "__init__.py", known)
        for mod, path in files.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_graph_is_read_from_the_source():
    graph = import_graph()
    # a few edges known by construction, so that an empty graph cannot pass the cycle test
    assert "metrics_core.capture.dispatch" in graph["metrics_core.capture.trace"]
    assert "metrics_core.runtime.engines" in graph["metrics_core.runtime.analyze"]
    assert "tui.cli.commands" in graph["tui.cli"]


def test_find_cycle_detects_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_level_import_cycles():
    assert find_cycle(import_graph()) is None


def test_import_linter_contracts_hold():
    """Layers (sources/costs -> capture -> report -> perf -> runtime -> measure -> tui.app -> tui.cli),
    metrics_core free of UI, screens free of the app module (see [tool.importlinter] in pyproject.toml)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in out.stdout
