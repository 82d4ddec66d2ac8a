"""The shape of the code, enforced: one namespace, imports one way, no cycles, one clock.

Read from the source with `ast`, so a violation fails here with the file and line, not at
some later import. docs/architecture.md draws what these tests check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.checks import PACKAGES, REPO

SHELL = "postmast"
"""The application shell: the CLI, `postmast run`, the demo, the one clock."""
FOLDERS = {SHELL: REPO / "postmast", **{f"postmast.{n}": REPO / f for n, f in PACKAGES.items()}}
LAYER = {"postmast.connectors": 0, "postmast.scheduler": 1, "postmast.workers": 2, SHELL: 3}
"""A package may import from packages of a lower layer only (and from its own)."""
LEAVES = {"postmast.clock"}
"""Modules everything may import: they import nothing of postmast."""
CYCLES_ALLOWED = "postmast.scheduler.models"
"""The ORM models refer to each other (relationships); cycles inside that package are allowed."""
WALL_CLOCK = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}
WALL_CLOCK_TIME = {"time", "time_ns"}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    path: Path
    line: int


def modules() -> Iterator[tuple[str, Path]]:
    for package, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if package != SHELL and parts[0] in PACKAGES:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join([package, *parts]), path


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Ids of import nodes under `if TYPE_CHECKING:` (not imported at run time)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found |= {id(n) for child in node.body for n in ast.walk(child)}
    return found


def imports() -> Iterator[Import]:
    for name, path in modules():
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, alias.name, path, node.lineno)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # `from postmast.x import y` may import module x.y
                    yield Import(name, f"{node.module}.{alias.name}", path, node.lineno)


def _resolve(target: str, known: set[str]) -> str | None:
    """The postmast module an imported name lives in, if any."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def package_of(module: str) -> str:
    for package in sorted(LAYER, key=len, reverse=True):
        if module == package or module.startswith(package + "."):
            return package
    raise AssertionError(module)


def where(found: Import) -> str:
    return f"{found.path.relative_to(REPO)}:{found.line}"


def test_nothing_imports_the_folders_by_their_bare_names() -> None:
    """Installed, only `postmast` exists: `import scheduler` would work in a checkout and nowhere else."""
    bare = set(PACKAGES.values())
    offenders = []
    for path in [*REPO.glob("*/**/*.py"), *REPO.glob("*.py")]:
        if ".venv" in path.parts or ".cache" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            offenders += [f"{path.relative_to(REPO)}:{node.lineno}" for n in names if n.split(".")[0] in bare]
    assert offenders == [], "\n".join(offenders)


def test_imports_run_one_way() -> None:
    known = {name for name, _ in modules()}
    offenders = []
    for found in imports():
        target = _resolve(found.target, known)
        if target is None or target in LEAVES:
            continue
        source_layer, target_layer = LAYER[package_of(found.source)], LAYER[package_of(target)]
        if target_layer > source_layer:
            offenders.append(f"{where(found)}: {found.source} imports {target}")
    assert offenders == [], "\n".join(offenders)


def test_leaves_import_nothing_of_postmast() -> None:
    known = {name for name, _ in modules()}
    offenders = [
        where(f) for f in imports() if f.source in LEAVES and _resolve(f.target, known) not in (None, SHELL)
    ]
    assert offenders == [], "\n".join(offenders)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_outside_the_models() -> None:
    known = {name for name, _ in modules()}
    graph: dict[str, set[str]] = {}
    for found in imports():
        target = _resolve(found.target, known)
        # a package's __init__ re-exporting its own modules is not a cycle of design
        if target is None or target == found.source or found.source.startswith(target + "."):
            continue
        graph.setdefault(found.source, set()).add(target)
    cycles = [c for c in _cycles(graph) if not all(m.startswith(CYCLES_ALLOWED) for m in c)]
    assert cycles == [], "\n".join(" <-> ".join(c) for c in cycles)
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def _wall_clock_reads(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (owner_name, node.func.attr) in WALL_CLOCK or (
                owner_name == "time" and node.func.attr in WALL_CLOCK_TIME
            ):
                lines.append(node.lineno)
    return lines


def test_only_the_clock_reads_the_wall_clock() -> None:
    """Product code takes the time from `postmast.clock` (through the store's clock): tests can move it."""
    offenders = []
    for name, path in modules():
        if name == "postmast.clock":
            continue
        offenders += [f"{path.relative_to(REPO)}:{n}" for n in _wall_clock_reads(ast.parse(path.read_text()))]
    assert offenders == [], "\n".join(offenders)
    assert _wall_clock_reads(ast.parse("datetime.now(UTC)\ntime.time()\ndt.datetime.utcnow()")) == [1, 2, 3]


@pytest.mark.parametrize("package", sorted(LAYER))
def test_every_package_has_modules(package: str) -> None:
    """The checks above see real code (a wrong folder would make them vacuous)."""
    assert sum(1 for name, _ in modules() if package_of(name) == package) >= 5
