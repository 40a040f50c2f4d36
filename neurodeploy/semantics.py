"""Semantics NIR leaves open, made explicit (ARCHITECTURE principle 1).

NIR stores no time step, no integrator and only reset-to-value; every tool picks its own. These
options are carried from the CLI through normalization into every backend and every artifact.

Defaults and their meaning:
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
- Recurrent edges (the edge that closes a cycle) deliver the previous step's output (zeros at t=0).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .errors import UsageError

RESETS = ("zero", "subtract", "v_reset")
INTEGRATORS = ("exact", "euler")
RESET_TIMINGS = ("same_step", "next_step", "next_step_hold")


@dataclass(frozen=True)
class Semantics:
    dt: float = 1e-4
    reset: str = "v_reset"
    integrator: str = "exact"
    reset_timing: str = "same_step"

    def __post_init__(self):
        if not (isinstance(self.dt, (int, float)) and self.dt > 0 and self.dt < 10):
            raise UsageError(f"dt must be a positive number of seconds below 10, got {self.dt!r}")
        if self.reset not in RESETS:
            raise UsageError(f"reset must be one of {RESETS}, got {self.reset!r}")
        if self.integrator not in INTEGRATORS:
            raise UsageError(f"integrator must be one of {INTEGRATORS}, got {self.integrator!r}")
        if self.reset_timing not in RESET_TIMINGS:
            raise UsageError(f"reset_timing must be one of {RESET_TIMINGS}, got {self.reset_timing!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Semantics":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def with_(self, **changes) -> "Semantics":
        """Copy with the given fields changed; ``None`` values keep the current field."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
