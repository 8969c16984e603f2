"""No import cycle between the package's modules, read from the source (issue 13: imports go one way).

Two graphs: the imports a module runs when it is imported (module level, ``if TYPE_CHECKING:`` blocks left out),
and every import it holds, those inside functions included (a cycle there still ties two modules together).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "enrichment_assets"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _known(name: str) -> str | None:
    """The package module ``name`` refers to (a name imported from a module is that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, *, inside_functions: bool) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and not inside_functions:
                continue
            if isinstance(child, ast.Import):
                found.update(filter(None, (_known(alias.name) for alias in child.names)))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found.update(filter(None, (_known(f"{base}.{alias.name}") for alias in child.names)))
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    return found


@pytest.mark.parametrize("inside_functions", [False, True], ids=["module level", "function level too"])
def test_no_import_cycle(inside_functions: bool) -> None:
    graph = {module: _imports(module, inside_functions=inside_functions) for module in MODULES}
    assert len(graph) > 100 and sum(map(len, graph.values())) > 300  # the graph was read, not empty
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle (each imports the next): {' -> '.join(reversed(exc.args[1]))}")
