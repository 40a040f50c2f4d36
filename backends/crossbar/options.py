"""Compile options of the crossbar backend (``-O key=value``), parsed and checked once.

- ``weight_scaling=per_neuron|per_layer`` (per_neuron): the digital gain after the ADC is per
  column, so each neuron may use the full conductance range;
- ``levels=N`` (the device's): use N of the device's levels (N <= the target's);
- ``max_weight_error=X`` (none): refuse a layer whose relative RMS weight error exceeds X;
- ``reservoir=LAYER,LAYER`` (none): neuron layers whose weights are fixed random reservoirs, drawn
  from the devices' programmed-state distribution (the graph gives connectivity, signs and mean
  magnitude; the draw is seeded by the common option ``seed`` and recorded in the artifact);
- ``effects=...`` (none): the device effects a run simulates by default (simulator.py lists them);
- ``verify=N`` (0): write-verify iterations when programming is simulated.
"""
from __future__ import annotations

from dataclasses import dataclass

from neurodeploy.errors import UsageError

ROLE = "compile"

KEYS = ("weight_scaling", "levels", "max_weight_error", "reservoir", "effects", "verify")


@dataclass(frozen=True)
class CrossbarOptions:
    weight_scaling: str = "per_neuron"
    levels: int | None = None
    max_weight_error: float | None = None
    reservoir: tuple[str, ...] = ()
    effects: str = "none"
    verify: int = 0


def parse(raw: dict[str, str]) -> CrossbarOptions:
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise UsageError(f"unknown crossbar option(s) {', '.join(unknown)}", hint=f"known: {', '.join(KEYS)}")
    kw = {}
    if "weight_scaling" in raw:
        if raw["weight_scaling"] not in ("per_neuron", "per_layer"):
            raise UsageError(f"option weight_scaling={raw['weight_scaling']!r} is not per_neuron or per_layer")
        kw["weight_scaling"] = raw["weight_scaling"]
    for key in ("levels", "verify"):
        if key in raw:
            if not raw[key].isdigit():
                raise UsageError(f"option {key}={raw[key]!r} must be a non-negative integer")
            kw[key] = int(raw[key])
    if "max_weight_error" in raw:
        try:
            kw["max_weight_error"] = float(raw["max_weight_error"])
        except ValueError:
            raise UsageError(f"option max_weight_error={raw['max_weight_error']!r} is not a number") from None
        if not kw["max_weight_error"] >= 0:
            raise UsageError("option max_weight_error must be >= 0")
    if "reservoir" in raw:
        kw["reservoir"] = tuple(n.strip() for n in raw["reservoir"].split(",") if n.strip())
    if "effects" in raw:
        kw["effects"] = raw["effects"]
    return CrossbarOptions(**kw)
