"""The `Backend` protocol and the registry that finds backends in `neurodeploy.backends.*`.

A backend package (``backends/<name>/__init__.py``) exposes ``BACKEND``, an instance of a
`Backend` subclass. The compile flow is the same for every target (see `compile`):

    check (design rules, before any mapping) -> lower (writes files into a staging dir)
    -> manifest with checksums -> atomic move into place.

`run` sees only the artifact (ARCHITECTURE principle 2).

Options are ``-O key=value`` strings, parsed and documented by each backend. One is common to all:
``steps=N``, the run length the artifact's run spec (and, where the chip records into its own
memory, the recording buffers) is sized for.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import artifact as art
from . import ir
from . import targets as tg
from .errors import ResourceExceeded, TargetError, UsageError
from .ir.graph import Graph
from .result import Result


@dataclass
class Rule:
    """One design-rule check: `needed <= available` must hold."""

    name: str
    needed: float
    available: float
    where: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.needed <= self.available

    def raise_if_violated(self) -> None:
        if not self.ok:
            raise ResourceExceeded(self.name, self.needed, self.available, where=self.where or None,
                                   hint=self.hint or None)


class Backend:
    name: str = ""
    engines: tuple[str, ...] = ("sim",)

    def check(self, graph: Graph, target: tg.Target, options: dict) -> list[Rule]:
        """Design-rule checks run before mapping. Unsupported nodes raise `UnsupportedNode`."""
        raise NotImplementedError

    def lower(self, graph: Graph, target: tg.Target, options: dict, out: Path) -> dict:
        """Quantize, partition, place, route; write data files into `out`. Returns manifest info
        (JSON-able, deterministic) such as a utilization summary."""
        raise NotImplementedError

    def run(self, artifact: art.Artifact, inputs: np.ndarray, *, steps: int | None,
            record: list[str], engine: str | None = None) -> Result:
        raise NotImplementedError

    def report(self, artifact: art.Artifact):
        """A rich renderable with per-unit utilization (the `--report` table)."""
        raise NotImplementedError


def installed() -> list[str]:
    import neurodeploy.backends as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg)


def get(name: str) -> Backend:
    if name not in installed():
        raise TargetError(f"backend {name!r} is not installed",
                          hint=f"installed backends: {', '.join(installed()) or 'none'}")
    return importlib.import_module(f"neurodeploy.backends.{name}").BACKEND


def resolve(target: str | tg.Target) -> tuple[tg.Target, Backend]:
    """The target description and its installed backend, or a clear error saying what is known."""
    t = target if isinstance(target, tg.Target) else tg.load(target)
    known = installed()
    if t.backend not in known:
        raise TargetError(f"target {t.name} needs backend {t.backend!r}, which is not installed",
                          hint=f"known targets: {', '.join(tg.available())}; installed backends: "
                               f"{', '.join(known) or 'none'}")
    return t, get(t.backend)


def compile(graph: Graph, target: str | tg.Target, out_dir: str | Path, *, options: dict | None = None,
            overwrite: bool = False) -> art.Artifact:
    """Compile `graph` for `target` into the artifact directory `out_dir` (pure: same input,
    byte-identical artifact). Raises `ResourceExceeded` with the first violated rule."""
    t, backend = resolve(target)
    options = dict(options or {})
    for rule in backend.check(graph, t, options):
        rule.raise_if_violated()
    with art.staged(out_dir, overwrite=overwrite) as tmp:
        info = backend.lower(graph, t, options, tmp)
        # The model travels with the artifact for reports (NeuroBench metrics, baseline, accuracy);
        # simulators and engines never read it (ARCHITECTURE principle 2).
        ir.write(tmp / art.MODEL_FILE, graph)
        art.write_manifest(tmp, target=t.name, backend=t.backend,
                           info={"semantics": graph.semantics.to_dict(), "model": art.MODEL_FILE,
                                 "options": options, **info})
    return art.Artifact(out_dir)


def run(artifact_dir: str | Path, inputs: np.ndarray, *, steps: int | None = None,
        record: list[str] | None = None, engine: str | None = None) -> Result:
    a = art.Artifact(artifact_dir)
    backend = get(a.backend)
    if engine is not None and engine not in backend.engines:
        raise UsageError(f"engine {engine!r} is not offered by backend {a.backend}",
                         hint=f"engines: {', '.join(backend.engines)}")
    return backend.run(a, inputs, steps=steps, record=list(record or []), engine=engine)
