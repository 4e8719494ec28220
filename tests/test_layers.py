"""The house reads top-down: every import points to a lower floor, and no module imports itself
back through others. Read from the source with `ast` (every import statement, including the
ones inside functions and `workflow.unsafe.imports_passed_through()` blocks)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Floor of each top-level package: a package imports only packages on lower floors.
FLOORS = {
    "kernel": 0,  # domain types, the API-workflow contract, catalog, prompts, failure codes
    "clients": 1,  # settings and the clients of outside services (S3, Temporal, telemetry)
    "db": 2,
    "gemini_emulator": 2,
    "activities": 3,
    "api": 3,  # never imports activities or workflows: same floor, so it cannot
    "workflows": 4,
    "web": 4,  # the web studio: pages over api, db and clients; api never imports it
    "studio": 5,  # the `studio` command: composition root
}


def _modules() -> Iterator[tuple[str, Path]]:
    for package in FLOORS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(p for p in parts if p != "__init__"), path


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import of a project package in the file."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                # `from kernel import payloads` names the module kernel.payloads when there is one.
                submodule = f"{target}.{alias.name}"
                yield (submodule if submodule in MODULES else target), node.lineno


MODULES = dict(_modules())


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _ in _imports(name, path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def test_every_import_points_to_a_lower_floor() -> None:
    upward = []
    for module, path in _modules():
        here = module.split(".")[0]
        for target, line in _imports(module, path):
            there = target.split(".")[0]
            if there in FLOORS and there != here and FLOORS[there] >= FLOORS[here]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target} ({here} -> {there})")
    assert upward == [], "\n".join(upward)


def test_no_import_cycles_between_modules() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_the_kernel_imports_nothing_of_ours() -> None:
    ours = [t for m, p in _modules() if m.startswith("kernel") for t, _ in _imports(m, p)]
    assert [t for t in ours if t.split(".")[0] in FLOORS and not t.startswith("kernel")] == []
