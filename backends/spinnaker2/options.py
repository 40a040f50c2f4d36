"""SpiNNaker 2 options (`-O key=value`), parsed and checked in one place. ``steps``, ``seed`` and
``record`` are common to every backend and parsed by the core (`neurodeploy.backend.CommonOptions`;
defaults here: ``defaults.steps`` of the target, record the outputs).

- ``weight_scale=F``: multiply weights, biases and thresholds by F (the NIR paper LIF used 102.02);
  excludes ``weight_scaling``.
- ``weight_scaling=per_neuron|per_layer|none`` (default per_neuron): how weights become integers
  (w_max = ``limits.weight_max_int8`` for int8 words, ``limits.weight_max_4bit`` for the 4-bit word of
  the delay models). ``per_neuron``: each neuron's inputs scaled by w_max/its largest |w| (per output
  channel for conv), its threshold, i_offset and v_reset by the same factor: exact up to rounding and
  finer than ``per_layer``, py-spinnaker2's rule (w_max/max|w| per population). ``none``: the weights
  as they are. See convert.py and `neurodeploy.lowering.scale`.
- ``conn_delay=0..delay_max`` (default 0, like the paper's noDelay graphs): 0 maps to the ``*_no_delay``
  models (int8 weights, spikes land on the next tick); d >= 1 maps to ``lif``/``lif_curr_exp`` with
  the 16-bit synapse word and delay field d (the hardware adds one tick: d + 1 ticks in all).
- ``tick=S`` (default ``timing.default_tick``): sys_tick in seconds, the real time of one step.
- ``clock=HZ`` (default ``timing.clock_low``): PE clock, one of the target's performance levels
  (``timing.clock_low``, ``timing.clock_high``).
- ``max_atoms_per_core=N`` or ``max_atoms_per_core=pop:N,pop2:M``: cap neurons per PE (all or named
  populations), like py-spinnaker2's ``Population.set_max_atoms_per_core``; the partitioner may use
  fewer (SRAM, cycles), never more, so a cap over the model's ``limits.max_atoms_*`` or the synapse
  word's ``limits.targets_per_pe`` is refused by its design rule (drc.py).
- ``atoms_per_core=N`` or ``atoms_per_core=pop:N,pop2:M``: exactly N neurons per PE (the last slice
  holds the rest), as py-spinnaker2 slices: the partitioner does not shrink these populations, so the
  design rules (SRAM, tick deadline, row length, ...) check the slicing as given. Excludes
  ``max_atoms_per_core``.
- ``activity=F`` (default ``defaults.activity``, 0.1): fraction of source neurons assumed to spike per tick when budgeting
  cycles per tick at compile time (the simulator reports real overruns).
- ``boards=N``: at most N boards (board targets); by default as many as the network needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from neurodeploy.errors import UsageError

ROLE = "compile"
SCALINGS = ("per_neuron", "per_layer", "none")
KNOWN = ("weight_scale", "weight_scaling", "conn_delay", "tick", "clock", "max_atoms_per_core", "atoms_per_core",
         "activity", "boards")


@dataclass(frozen=True)
class Options:
    tick: float
    clock: float
    activity: float
    weight_scale: float | None = None
    weight_scaling: str = "per_neuron"
    conn_delay: int = 0
    max_atoms: dict = field(default_factory=dict)   # population -> cap; "*" for all
    boards: int | None = None
    atoms: dict = field(default_factory=dict)       # population -> fixed atoms per PE; "*" for all

    def atoms_cap(self, pop: str) -> int | None:
        return self.max_atoms.get(pop, self.max_atoms.get("*"))

    def atoms_fixed(self, pop: str) -> int | None:
        return self.atoms.get(pop, self.atoms.get("*"))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _num(key, v, kind=float, lo=None, hi=None, positive=False):
    try:
        x = kind(float(v)) if kind is int and isinstance(v, str) else kind(v)
    except (TypeError, ValueError):
        raise UsageError(f"option {key}={v!r} is not a {kind.__name__}") from None
    if kind is int and float(v) != x:
        raise UsageError(f"option {key}={v!r} is not an integer")
    if (lo is not None and x < lo) or (hi is not None and x > hi) or (positive and not x > 0):
        rng = "> 0" if positive else f"[{lo}, {hi}]"
        raise UsageError(f"option {key}={v!r} is out of range {rng}")
    return x


def _atoms(v, key: str = "max_atoms_per_core") -> dict:
    if isinstance(v, dict):
        return {str(k): _num(key, n, int, 1) for k, n in v.items()}
    s = str(v)
    if ":" not in s:
        return {"*": _num(key, s, int, 1)}
    out = {}
    for part in s.split(","):
        pop, sep, n = part.rpartition(":")
        if not sep or not pop:
            raise UsageError(f"{key} part {part!r} is not POP:N")
        out[pop.strip()] = _num(key, n, int, 1)
    return out


def parse(raw: dict, target) -> Options:
    """The backend's own options (raw strings) with defaults from `target`."""
    unknown = sorted(set(raw) - set(KNOWN))
    if unknown:
        raise UsageError(f"unknown spinnaker2 option(s): {', '.join(unknown)}",
                         hint=f"known: {', '.join(sorted(KNOWN + ('steps', 'seed', 'record')))}")
    clocks = (float(target.v("timing.clock_low")), float(target.v("timing.clock_high")))
    kw = {"tick": float(target.v("timing.default_tick")), "clock": clocks[0],
          "activity": float(target.v("defaults.activity"))}
    if raw.get("weight_scale") is not None:
        if "weight_scaling" in raw:
            raise UsageError("weight_scale and weight_scaling exclude each other", hint="give one of them")
        kw["weight_scale"] = _num("weight_scale", raw["weight_scale"], float, positive=True)
    if "weight_scaling" in raw:
        if raw["weight_scaling"] not in SCALINGS:
            raise UsageError(f"weight_scaling={raw['weight_scaling']!r}", hint=f"use one of {', '.join(SCALINGS)}")
        kw["weight_scaling"] = raw["weight_scaling"]
    if "conn_delay" in raw:
        kw["conn_delay"] = _num("conn_delay", raw["conn_delay"], int, 0)
    if "tick" in raw:
        kw["tick"] = _num("tick", raw["tick"], float, positive=True)
    if "clock" in raw:
        kw["clock"] = _num("clock", raw["clock"], float)
        if kw["clock"] not in clocks:
            raise UsageError(f"clock={raw['clock']} is not a performance level of {target.name}",
                             hint=f"use {' or '.join(f'{c:g}' for c in clocks)}")
    if "max_atoms_per_core" in raw:
        kw["max_atoms"] = _atoms(raw["max_atoms_per_core"])
    if "atoms_per_core" in raw:
        if "max_atoms_per_core" in raw:
            raise UsageError("atoms_per_core and max_atoms_per_core exclude each other", hint="give one of them")
        kw["atoms"] = _atoms(raw["atoms_per_core"], "atoms_per_core")
    if "activity" in raw:
        kw["activity"] = _num("activity", raw["activity"], float, 0, 1)
    if "boards" in raw:
        kw["boards"] = _num("boards", raw["boards"], int, 1)
    return Options(**kw)
