"""Semantics NIR leaves open, made explicit (ARCHITECTURE principle 1).

NIR stores no time step, no integrator and only reset-to-value; every tool picks its own. These
options are carried from the CLI through normalization into every backend and every artifact.

Defaults and their meaning:
- ``dt = 1e-4`` s: what snnTorch and Lava assume and what the NIR paper graphs were trained with.
- ``reset = "v_reset"``: after a spike v is set to the node's ``v_reset`` (NIR's own rule; 0 when
  absent). ``"zero"`` sets v to 0, ``"subtract"`` subtracts ``v_threshold``.
- ``integrator = "exact"``: the input is held constant over one step and the linear ODE is solved
  exactly (``v += (1 - exp(-dt/tau)) * (v_leak - v + R*I)``); ``"euler"`` is forward Euler
  (``v += dt/tau * (v_leak - v + R*I)``).
- Spike rule: ``v > v_threshold`` (strict), checked after the update in the same step.
- Recurrent edges (the edge that closes a cycle) deliver the previous step's output (zeros at t=0).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .errors import UsageError

RESETS = ("zero", "subtract", "v_reset")
INTEGRATORS = ("exact", "euler")


@dataclass(frozen=True)
class Semantics:
    dt: float = 1e-4
    reset: str = "v_reset"
    integrator: str = "exact"

    def __post_init__(self):
        if not (isinstance(self.dt, (int, float)) and self.dt > 0 and self.dt < 10):
            raise UsageError(f"dt must be a positive number of seconds below 10, got {self.dt!r}")
        if self.reset not in RESETS:
            raise UsageError(f"reset must be one of {RESETS}, got {self.reset!r}")
        if self.integrator not in INTEGRATORS:
            raise UsageError(f"integrator must be one of {INTEGRATORS}, got {self.integrator!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Semantics":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def with_(self, **changes) -> "Semantics":
        """Copy with the given fields changed; ``None`` values keep the current field."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
