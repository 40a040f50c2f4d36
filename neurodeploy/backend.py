"""The `Backend` and `Engine` protocols and the registry that finds backends in `neurodeploy.backends.*`.

A backend package (``backends/<name>/__init__.py``) exposes ``BACKEND``, an instance of a
`Backend` subclass; a target TOML names it (``[target] backend = "<name>"``). The flow is the same
for every target (see `compile`):

    plan(graph, target, options) -> Plan      design rules + every mapping decision, computed once
    rules checked (first violated one raised as ResourceExceeded, nothing written)
    write(plan, staging dir) -> info          data files; info goes under manifest[<backend name>]
    manifest with checksums -> atomic move into place

`run` sees only the artifact (ARCHITECTURE principle 2) and goes through one of the backend's
`Engine`s (``sim`` is the default; ``lava``, ``rtl``, ``hil`` ...). An engine in another process uses
`neurodeploy.runner` (job file, timeout, `LinkError`).

Options are ``-O key=value`` strings. The common ones are parsed here, once, for every backend
(`CommonOptions`): ``steps=N`` (the run length the run spec is sized for), ``seed=N`` (every random
draw a backend makes), ``record=outputs|all|node,node``. The rest go to the backend as
`Options.backend` (raw strings), which it parses and documents itself.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import nir
import numpy as np

from . import artifact as art
from . import ir
from . import targets as tg
from .errors import ResourceExceeded, TargetError, UsageError
from .ir.graph import Graph
from .result import Result

MAX_STEPS = 10**9


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


def delay_rules(graph: Graph, available: int, rule: str) -> list[Rule]:
    """One rule per NIR Delay node: its longest delay in whole steps of dt against a target's delay
    field (issue #10: a Delay node over the field is a design rule, exit 4, not a malformed model)."""
    from .semantics import to_steps

    return [Rule(rule, to_steps(float(np.max(node.delay)), graph.semantics.dt, "delay", where=name), available,
                 where=name, hint="split the delay over relay layers")
            for name, node in graph.nodes.items() if isinstance(node, nir.Delay) and np.size(node.delay)]


@dataclass(frozen=True)
class CommonOptions:
    """The options every backend takes; None means "the backend's default"."""

    steps: int | None = None
    seed: int = 0
    record: str | tuple[str, ...] = "outputs"  # "outputs", "all" or node names

    def to_dict(self) -> dict:
        rec = self.record if isinstance(self.record, str) else list(self.record)
        return {"steps": self.steps, "seed": self.seed, "record": rec}


@dataclass(frozen=True)
class Options:
    common: CommonOptions = field(default_factory=CommonOptions)
    backend: dict[str, str] = field(default_factory=dict)  # backend-specific, raw strings


COMMON_KEYS = ("steps", "seed", "record")


def _int(key: str, value, lo: int, hi: int) -> int:
    s = str(value).strip()
    try:
        x = int(s) if s.lstrip("+-").isdigit() else int(float(s)) if float(s).is_integer() else None
    except (ValueError, OverflowError):
        x = None
    if x is None:
        raise UsageError(f"option {key}={value!r} is not an integer")
    if not lo <= x <= hi:
        raise UsageError(f"option {key}={value!r} is out of range [{lo}, {hi}]")
    return x


def parse_options(raw: dict | Options | None) -> Options:
    """Split ``-O`` options into the common ones (checked here) and the backend's own."""
    if isinstance(raw, Options):
        return raw
    raw = {str(k): v for k, v in (raw or {}).items()}
    kw: dict[str, Any] = {}
    if "steps" in raw:
        kw["steps"] = _int("steps", raw["steps"], 1, MAX_STEPS)
    if "seed" in raw:
        kw["seed"] = _int("seed", raw["seed"], 0, 2**63 - 1)
    if "record" in raw:
        rec = str(raw["record"]).strip()
        names = tuple(n.strip() for n in rec.split(",") if n.strip())
        if not names:
            raise UsageError("option record= names no node", hint="use outputs, all or NODE,NODE")
        kw["record"] = rec if rec in ("outputs", "all") else names
    return Options(CommonOptions(**kw), {k: str(v) for k, v in raw.items() if k not in COMMON_KEYS})


@dataclass
class Plan:
    """Everything a backend decided for one (graph, target, options): the design rules and the
    mapping (`decisions`, backend-specific). Computed once by `Backend.plan`; `Backend.write`
    only serialises it."""

    graph: Graph
    target: tg.Target
    options: Options
    rules: list[Rule]
    decisions: Any = None

    def violated(self) -> list[Rule]:
        return [r for r in self.rules if not r.ok]


class Engine(Protocol):
    """Runs an artifact: a simulator in this process, or an external one (Lava, Verilog, a board).

    `options` names the extra keyword arguments `run` accepts (e.g. a board's ``port``)."""

    name: str
    options: tuple[str, ...]

    def run(self, artifact: art.Artifact, inputs: np.ndarray, *, steps: int | None,
            record: list[str], **options) -> Result: ...


# Engines every backend offers, besides its own: name -> "module:attribute" (imported on use).
SHARED_ENGINES = {"hil": "neurodeploy.hil.engine:ENGINE"}


class Backend:
    name: str = ""
    engines: dict[str, Engine] = {}  # the first one is the default

    def plan(self, graph: Graph, target: tg.Target, options: Options) -> Plan:
        """Design rules and mapping decisions, before anything is written. Unsupported nodes or
        semantics raise (`UnsupportedNode`, `UnsupportedSemantics`); limits are `Rule`s."""
        raise NotImplementedError

    def write(self, plan: Plan, out: Path) -> dict:
        """Write the artifact's data files into `out`; returns this backend's manifest info
        (JSON-able, deterministic), stored under ``manifest[<backend name>]``."""
        raise NotImplementedError

    def report(self, artifact: art.Artifact):
        """A rich renderable with per-unit utilization (the `--report` table)."""
        raise NotImplementedError

    def quantized_graph(self, artifact: art.Artifact) -> Graph:
        """The float model this artifact realises: the compiled graph with the target's own
        quantized parameters (weights, thresholds, decays as the chip holds them), read back from
        the artifact. The reference simulator run on it isolates mapping error from quantization
        error (`neurodeploy validate`, and the contract suite requires spike-for-spike equality)."""
        raise NotImplementedError

    def engine(self, name: str | None) -> Engine:
        if name is None:
            return next(iter(self.engines.values()))
        if name in self.engines:
            return self.engines[name]
        if name in SHARED_ENGINES:
            module, attr = SHARED_ENGINES[name].split(":")
            return getattr(importlib.import_module(module), attr)
        raise UsageError(f"engine {name!r} is not offered by backend {self.name}",
                         hint=f"engines: {', '.join([*self.engines, *SHARED_ENGINES])}")


def installed() -> list[str]:
    import neurodeploy.backends as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg)


def get(name: str) -> Backend:
    if name not in installed():
        raise TargetError(f"backend {name!r} is not installed",
                          hint=f"installed backends: {', '.join(installed()) or 'none'}")
    try:
        return importlib.import_module(f"neurodeploy.backends.{name}").BACKEND
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == "neurodeploy":
            raise
        package = (e.name or "?").split(".")[0]
        raise TargetError(f"backend {name!r} needs the Python package {package!r}, which is not installed",
                          hint=f"pip install {package}") from None


def resolve(target: str | tg.Target) -> tuple[tg.Target, Backend]:
    """The target description and its installed backend, or a clear error saying what is known."""
    t = target if isinstance(target, tg.Target) else tg.load(target)
    known = installed()
    if t.backend not in known:
        raise TargetError(f"target {t.name} needs backend {t.backend!r}, which is not installed",
                          hint=f"known targets: {', '.join(tg.available())}; installed backends: "
                               f"{', '.join(known) or 'none'}")
    return t, get(t.backend)


def plan(graph: Graph, target: str | tg.Target, options: dict | Options | None = None) -> Plan:
    """The backend's plan for `graph` on `target` (rules not yet enforced): `--report` before compile."""
    from .lowering import rewrites

    t, backend = resolve(target)
    return rewrites.planned(backend, graph, t, parse_options(options))


def compile(graph: Graph, target: str | tg.Target, out_dir: str | Path, *, options: dict | None = None,
            overwrite: bool = False, calibration: dict | None = None) -> art.Artifact:
    """Compile `graph` for `target` into the artifact directory `out_dir` (pure: same input,
    byte-identical artifact). Raises `ResourceExceeded` with the first violated rule.
    `calibration`: the precision search that chose the options (`neurodeploy.calibrate`), recorded."""
    from .lowering import rewrites

    t, backend = resolve(target)
    opts = parse_options(options)
    p = rewrites.planned(backend, graph, t, opts)  # exact convention rewrites where the target needs them
    graph = p.graph
    for rule in p.rules:
        rule.raise_if_violated()
    with art.staged(out_dir, overwrite=overwrite) as tmp:
        info = backend.write(p, tmp)
        # The model travels with the artifact for reports (NeuroBench metrics, baseline, accuracy);
        # simulators and engines never read it (ARCHITECTURE principle 2).
        ir.write(tmp / art.MODEL_FILE, graph)
        art.write_manifest(tmp, target=t.name, backend=t.backend,
                           info={"semantics": graph.semantics.to_dict(), "model": art.MODEL_FILE,
                                 **({rewrites.KEY: graph.metadata[rewrites.KEY]} if graph.metadata.get(rewrites.KEY) else {}),
                                 "options": {**opts.backend, **{k: v for k, v in (options or {}).items()
                                                                if k in COMMON_KEYS}},
                                 **({"calibration": calibration} if calibration else {}),
                                 "common_options": opts.common.to_dict(), backend.name: info})
    return art.Artifact(out_dir)


def run(artifact_dir: str | Path, inputs: np.ndarray, *, steps: int | None = None,
        record: list[str] | None = None, engine: str | None = None,
        engine_options: dict | None = None) -> Result:
    """Run the artifact on `engine` (the backend's default when None). `engine_options` go to
    engines that take them (e.g. ``{"port": "/dev/ttyUSB0"}`` for ``hil``)."""
    with art.reading(artifact_dir):  # no compile swaps the directory while it runs
        a = art.Artifact(artifact_dir)
        return _run(a, inputs, steps, record, engine, engine_options)


def _run(a: art.Artifact, inputs, steps, record, engine, engine_options) -> Result:
    eng = get(a.backend).engine(engine)
    extra = dict(engine_options or {})
    unknown = sorted(set(extra) - set(getattr(eng, "options", ())))
    if unknown:
        raise UsageError(f"engine {eng.name!r} takes no option {', '.join(unknown)}",
                         hint=f"it takes: {', '.join(getattr(eng, 'options', ())) or 'none'}")
    return eng.run(a, inputs, steps=steps, record=list(record or []), **extra)
