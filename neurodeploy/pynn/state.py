"""The current simulation: timestep, target, the network built so far and the last run.

Every ``run`` re-simulates the whole network from t = 0 to the new end time (a deterministic
network gives the same first part again), so that a target needs no saved state between runs;
hence the network cannot change once a run happened (a clear `UsageError` says so).
"""
from __future__ import annotations

import tempfile

import numpy as np

from ..errors import UsageError
from ..semantics import to_steps

TARGETS = ("reference", "spinnaker2")
DIALECTS = ("spynnaker", "pynn")  # STDP amplitudes: A± in weight units (sPyNNaker) or x w_max (PyNN)
_current = None


class Simulation:
    def __init__(self, timestep: float, target: str, seed, dialect: str = "spynnaker"):
        if dialect not in DIALECTS:
            raise UsageError(f"unknown dialect {dialect!r}", hint=f"dialects: {', '.join(DIALECTS)}")
        if target not in TARGETS:
            raise UsageError(f"unknown target {target!r}", hint=f"targets: {', '.join(TARGETS)}")
        if not timestep > 0:
            raise UsageError(f"timestep must be positive (ms), got {timestep!r}")
        self.dt, self.target, self.seed, self.dialect = float(timestep), target, seed, dialect
        self.populations, self.projections = [], []
        self.rng = np.random.default_rng(seed)
        self.t = 0.0
        self.last = None  # the last run's `runner.Run`
        self._tmp = None

    def workdir(self) -> str:
        """A temporary directory for the target's artifact, removed by `end`."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="neurodeploy-pynn-")
        return self._tmp.name

    def add_population(self, p):
        self.changed(p.label)
        self.populations.append(p)

    def add_projection(self, proj):
        self.changed(proj.label)
        self.projections.append(proj)

    def changed(self, what: str):
        if self.t > 0:
            raise UsageError(f"{what}: the network cannot change after run() (every run re-simulates from "
                             f"t = 0)", where=what, hint="build the whole network and its inputs before run()")

    def run(self, ms: float) -> float:
        from . import runner
        steps = to_steps((self.t + ms) * 1e-3, self.dt * 1e-3, "run time", where="run")  # format: ms -> s
        self.t += ms
        self.last = runner.run(self, steps)
        return self.t

    def current_weights(self, proj) -> np.ndarray:
        """Per-connection weights now: the script's, or the learnt ones after a run (magnitudes)."""
        if self.last is None or proj.label not in self.last.weights:
            return proj.weights.copy()
        w = self.last.weights[proj.label]  # (post, pre) of the whole populations
        return np.abs(w[proj.post.ids[proj.rows[:, 1], 1], proj.pre.ids[proj.rows[:, 0], 1]])


def current() -> Simulation:
    if _current is None:
        raise UsageError("no simulation: call setup() first")
    return _current


def start(timestep, target, seed, dialect="spynnaker") -> Simulation:
    global _current
    _current = Simulation(timestep, target, seed, dialect)
    return _current


def end():
    global _current
    if _current is not None and _current._tmp is not None:
        _current._tmp.cleanup()
    _current = None
