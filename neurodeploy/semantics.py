"""Semantics NIR leaves open, made explicit (ARCHITECTURE principle 1).

NIR stores no time step, no integrator and only reset-to-value; every tool picks its own. These
options travel from the model file (a front-end stores them, `neurodeploy.ir.meta`) or the CLI
through normalization into every backend and every artifact.

Fields, defaults and meaning:
- ``dt = 1e-4`` s: what snnTorch and Lava assume and what the NIR paper graphs were trained with.
- ``reset = "v_reset"``: after a spike v is set to the node's ``v_reset`` (NIR's own rule; 0 when
  absent). ``"zero"`` sets v to 0, ``"subtract"`` subtracts ``v_threshold``.
- ``integrator = "exact"``: the input is held constant over one step and the linear ODE is solved
  exactly (``v += (1 - exp(-dt/tau)) * (v_leak - v + R*I)``); ``"euler"`` is forward Euler
  (``v += dt/tau * (v_leak - v + R*I)``). For CubaLIF/CubaLI, ``exact`` solves the coupled
  current and voltage ODEs exactly over the step; ``euler`` updates the synaptic current first and
  lets the membrane use the *updated* current (snnTorch ``Synaptic``'s order). IF and I integrate
  ``v += dt*R*I`` under both (exact for a held input). Full equations: `neurodeploy.sim.neurons`.
- Spike rule: ``v > v_threshold`` (strict), checked after the update in the same step.
- ``reset_timing = "same_step"``: the reset of a spike at step t is applied at once, so the recorded
  v of a spiking step is the value after reset (NIR's equations, Norse, snnTorch with
  ``reset_delay=False``, the NIR paper's exact LIF). snnTorch's default ``reset_delay=True`` keeps
  the above-threshold v for one step and resets during step t+1; it does so in two ways, hence two
  more values: ``"next_step"``: subtract: v[t+1] = update(v[t]) - v_th; zero/v_reset: v[t] is
  replaced by the reset value before the update (leak and input still act) -- snnTorch ``Leaky``;
  ``"next_step_hold"``: subtract as ``next_step``; zero/v_reset: the updated v[t+1] itself is
  replaced by the reset value (the input of step t+1 is lost) -- snnTorch ``RLeaky``, ``Synaptic``,
  ``RSynaptic``. The spike of step t+1 is then checked on that v[t+1].
  ``"same_step_double"`` (reset ``subtract`` only): snnTorch's rule with ``reset_delay=False``
  ("avoid double reset" in its Leaky/Synaptic/RLeaky): v is reduced by v_th in the spiking step,
  but when the v so stored is still above v_th, the next step's spike test uses v' - v_th
  (the stored v' itself is not reduced twice). docs/semantics.md derives it from snnTorch's code.
- ``refractory = 0.0`` s: after a spike at step t the membrane stays at its reset value during
  steps t+1 .. t+n, n = refractory/dt: it is not updated and cannot spike; synaptic currents
  (CubaLIF) keep evolving (NEST/PyNN ``tau_refrac``). 0: none. ``next_step_hold`` with reset to
  zero spikes as ``same_step`` with n = 1 does (only the recorded v of a spiking step differs).
- ``synaptic_delay = 0.0`` s: time from a spike to its effect through every weighted connection
  (the synapse chain between two neuron layers): k = synaptic_delay/dt steps. 0 is NIR's
  convention: same step, only a cycle-closing edge waits one step. PyNN projections default to
  one step (dt). A cycle-closing edge waits max(1, k) steps.
- Recurrent edges (the edge that closes a cycle) deliver the previous step's output (zeros at t=0).

Times (``refractory``, ``synaptic_delay``, and a front-end's per-connection delays) are seconds and
must be whole multiples of dt (`to_steps`), within 1e-6 of a step: a delay of 1.5 steps has no
discrete-time meaning, and rounding it silently would change spike times.

Not here, on purpose: time constants per synapse type (PyNN ``IF_curr_exp``'s ``tau_syn_E`` and
``tau_syn_I``). They differ per population and per neuron and describe state dynamics, not a
tool's convention, and NIR keeps time constants in nodes (``CubaLIF.tau_syn``). A neuron with two
synapse types is a node with two input ports (``exc``/``inh``, each with its ``tau_syn``), as
``TwoPointCell`` has ``basal``/``apical`` (docs/dialect.md, "Ports").

Per node: ``reset`` and ``reset_timing`` (`NODE_FIELDS`) may differ from node to node (a model
that mixes conventions, `neurodeploy.ir.meta.node_semantics`); dt, the integrator and the times are
the graph's.

Backends refuse a field they do not model (`neurodeploy.lowering.support`); where an exact rewrite
exists the compiler applies it instead (`neurodeploy.lowering.rewrites`); `non_default` lists
what a graph asks beyond the defaults.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from .errors import InvalidModel, UsageError

RESETS = ("zero", "subtract", "v_reset")
INTEGRATORS = ("exact", "euler")
RESET_TIMINGS = ("same_step", "next_step", "next_step_hold", "same_step_double")
CHOICES = {"reset": RESETS, "integrator": INTEGRATORS, "reset_timing": RESET_TIMINGS}
TIMES = ("refractory", "synaptic_delay")  # seconds, whole multiples of dt
NODE_FIELDS = ("reset", "reset_timing")  # may differ per neuron node
# Added after the first four: left out of `to_dict` at their defaults, so manifests and files of
# models that do not use them are byte-identical to those written before the fields existed.
LATER = frozenset(TIMES)
STEP_TOLERANCE = 1e-6  # in steps


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def to_steps(seconds: float, dt: float, what: str, *, where: str | None = None) -> int:
    """`seconds` as a whole number of steps of `dt`, or `InvalidModel` saying by how much it is not."""
    if not (_number(seconds) and seconds >= 0):
        raise InvalidModel(f"{what} must be a non-negative number of seconds, got {seconds!r}", where=where)
    n = seconds / dt
    if abs(n - round(n)) > STEP_TOLERANCE:
        lo, hi = math.floor(n) * dt, math.ceil(n) * dt
        raise InvalidModel(f"{what} {seconds:g} s is not a whole number of steps of dt {dt:g} s "
                           f"({n:.6g} steps)", where=where,
                           hint=f"use {lo:g} s or {hi:g} s, or a dt that divides {seconds:g} s")
    return round(n)


@dataclass(frozen=True)
class Semantics:
    dt: float = 1e-4
    reset: str = "v_reset"
    integrator: str = "exact"
    reset_timing: str = "same_step"
    refractory: float = 0.0
    synaptic_delay: float = 0.0

    def __post_init__(self):
        if not (_number(self.dt) and 0 < self.dt < 10):
            raise UsageError(f"dt must be a positive number of seconds below 10, got {self.dt!r}")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise UsageError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.reset_timing == "same_step_double" and self.reset != "subtract":
            raise UsageError(f"reset_timing 'same_step_double' is snnTorch's rule for reset by subtraction, "
                             f"not for reset {self.reset!r}", hint="use reset_timing same_step")
        for name in TIMES:
            try:
                to_steps(getattr(self, name), self.dt, name)
            except InvalidModel as e:
                raise UsageError(str(e)) from None

    @property
    def refractory_steps(self) -> int:
        return to_steps(self.refractory, self.dt, "refractory")

    @property
    def delay_steps(self) -> int:
        return to_steps(self.synaptic_delay, self.dt, "synaptic_delay")

    def non_default(self) -> dict:
        """Fields that differ from `Semantics()`: what a target must model to run the graph."""
        default = Semantics()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}

    def to_dict(self) -> dict:
        """Every field but those in `LATER` still at their defaults (see there)."""
        changed = self.non_default()
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in LATER or f.name in changed}

    @classmethod
    def from_dict(cls, d: dict) -> "Semantics":
        """Missing fields take their defaults (manifests written before a field existed)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def with_(self, **changes) -> "Semantics":
        """Copy with the given fields changed; ``None`` values keep the current field."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
