"""Source rules every backend folder obeys (ARCHITECTURE principles 2 and 3), checked on the code.

1. The import boundary. Each module under backends/<name>/ declares what it is with a module-level
   ``ROLE``: ``"compile"`` (lowering, mapping, writing), ``"simulate"`` (an engine: reads only the
   artifact), ``"format"`` (the artifact's file layout, which both sides must agree on) or
   ``"backend"`` (the package's ``__init__``, wiring the two together). A simulate module may import
   format modules and the core, never a compile module, directly or through another module: a bug in
   the compiler would otherwise be reproduced by the simulator that is meant to check it.
2. No hardware number in code. A numeric literal in a backend module is allowed only if it is
   0, 1, 2, -1 or 0.5 (arithmetic, rounding, sign), or sits on a line marked ``# format:`` (an
   encoding constant of the artifact's own file format, e.g. a header magic or a field width).
   Everything else (limits, bit widths of the chip, clocks, cycle counts) is read from the target
   TOML, where it has a source.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

BACKENDS = Path(__file__).resolve().parents[2] / "backends"
ROLES = ("compile", "simulate", "format", "backend")
ALLOWED = {0, 1, 2, -1, 0.5}


def modules(backend: Path) -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(backend.glob("*.py"))}


def role(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ROLE" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def local_imports(tree: ast.Module, backend: str, names: set[str]) -> set[str]:
    """Sibling modules of this backend that `tree` imports (relative or absolute)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1 or mod.startswith(f"neurodeploy.backends.{backend}"):
                base = mod.removeprefix(f"neurodeploy.backends.{backend}").lstrip(".")
                if base:
                    found.add(base.split(".")[0])
                else:
                    found |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith(f"neurodeploy.backends.{backend}."):
                    found.add(a.name.split(".")[3])
    return found & names


BACKEND_DIRS = sorted(p for p in BACKENDS.iterdir() if (p / "__init__.py").is_file())


@pytest.mark.parametrize("backend", BACKEND_DIRS, ids=lambda p: p.name)
def test_simulators_import_no_compiler_module(backend):
    mods = modules(backend)
    roles = {name: role(tree) for name, tree in mods.items()}
    undeclared = sorted(n for n, r in roles.items() if r not in ROLES)
    assert not undeclared, f"{backend.name}: modules without a ROLE in {ROLES}: {undeclared}"
    assert roles["__init__"] == "backend"
    graph = {n: local_imports(t, backend.name, set(mods) - {"__init__"}) for n, t in mods.items()}
    for name in (n for n, r in roles.items() if r == "simulate"):
        seen, todo = set(), [name]
        while todo:
            for dep in graph[todo.pop()] - seen:
                seen.add(dep)
                todo.append(dep)
        bad = sorted(d for d in seen if roles[d] == "compile")
        assert not bad, f"{backend.name}/{name}.py (simulate) reaches compile modules {bad}"


def literals(tree: ast.Module):
    """(line, value) of every numeric literal, a unary minus folded in."""
    negated = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            negated.add(id(node.operand))
            if _number(node.operand.value):
                yield node.lineno, -node.operand.value
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and _number(node.value) and id(node) not in negated:
            yield node.lineno, node.value


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@pytest.mark.parametrize("backend", BACKEND_DIRS, ids=lambda p: p.name)
def test_no_hardware_number_in_backend_code(backend):
    bad = []
    for path in sorted(backend.glob("*.py")):
        lines = path.read_text().splitlines()
        for line, value in literals(ast.parse("\n".join(lines), str(path))):
            if value not in ALLOWED and "# format:" not in lines[line - 1]:
                bad.append(f"{path.name}:{line}: {value!r}")
    assert not bad, ("numeric literals that belong in the target TOML (or mark an encoding constant "
                     "'# format:'):\n" + "\n".join(sorted(set(bad))))
