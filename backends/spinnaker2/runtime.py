"""Steps and recorded populations chosen when running, as SpiNNaker software sizes its recording
buffers at run time (issue 9, "Run-time run spec").

What a run may change: the run spec (ticks) and each PE's recording regions, all sized per tick
(memimage.py: SPIKE_RECORD, VOLTAGE_RECORD, and a spike_list PE's input bitfield); the rest of
every image stays as compiled. The SRAM rule is re-checked per PE with the new region sizes against
the budget the compiler recorded (manifest rule ``SRAM per PE (bytes)``); a run that does not fit
fails with that rule, naming the PE's slice. A membrane recording that does not fit where the
spikes do is left out for that population and said so (a warning and ``Result.extra["not_recorded"]``
naming the population and the rule), never dropped silently. (The image's own size is checked: the compiler's
estimate, which sized the slices, is an upper bound of it.) A recorded population records its spikes and, unless
it is a spike source, its membrane (as ``-O record=NODE`` does at compile time); a name that is
neither a population nor an Output node is refused by name.
"""
from __future__ import annotations

import numpy as np

from neurodeploy.errors import ResourceExceeded, TargetError, UsageError

from . import memimage as mi

ROLE = "simulate"
SRAM_RULE = "SRAM per PE (bytes)"


def resolve(spec: dict, record: list[str]) -> dict[str, str]:
    """Requested name (population or Output node) -> population; default: the outputs; ``all``:
    every population."""
    pops = {p["name"] for p in spec["populations"]}
    out = {}
    names = sorted(pops) if list(record) == ["all"] else list(record) or sorted(spec["outputs"])
    for r in names:
        pop = spec["outputs"].get(r, r)
        if pop not in pops:
            raise UsageError(f"cannot record {r!r}: no such population or output",
                             hint=f"known: {', '.join(sorted(pops | set(spec['outputs'])))}")
        out[r] = pop
    return out


def recording(spec: dict, wanted: dict[str, str]) -> tuple[set, set]:
    """(populations recording spikes, populations recording v) for this run."""
    model = {p["name"]: p["model"] for p in spec["populations"]}
    spikes = set(wanted.values())
    return spikes, {p for p in spikes if model[p] != "spike_list"}


def pe_words(spec: dict, pes: dict, ticks: int, spikes: set, voltage: set) -> np.ndarray:
    """Words of every PE image with `ticks` ticks and this recording: the compiled image with its
    per-tick regions resized."""
    pops = spec["populations"]
    out = np.asarray(pes["length"], np.int64).copy()
    for s, (pi, n) in enumerate(zip(np.asarray(pes["pop"]), np.asarray(pes["n"]))):
        p, n = pops[int(pi)], int(n)
        before = sum(mi.record_words(n, spec["n_ticks"], p["record_spikes"], p["record_v"]))
        after = sum(mi.record_words(n, ticks, p["name"] in spikes, p["name"] in voltage))
        if p["model"] == "spike_list":
            before, after = before + mi.bitfield_words(n) * spec["n_ticks"], after + mi.bitfield_words(n) * ticks
        out[s] += after - before
    return out


def fitted(art, spec: dict, pes: dict, ticks: int, spikes: set, voltage: set) -> tuple[set, dict]:
    """The populations whose membrane this run records, and {population: why not} for those left
    out (their PEs overflow with it, not without); `ResourceExceeded` if even the spikes do not fit."""
    budget = _budget(art)
    words = pe_words(spec, pes, ticks, spikes, voltage)
    over = {spec["populations"][int(pes["pop"][s])]["name"] for s in np.flatnonzero(words * mi.WORD_BYTES > budget)}
    dropped = {p: f"its membrane does not fit the rule {SRAM_RULE!r} for {ticks} ticks; spikes recorded"
               for p in sorted(over & voltage)}
    kept = voltage - set(dropped)
    check(art, spec, pes, ticks, spikes, kept)
    return kept, dropped


def _budget(art) -> int:
    rules = [r for r in art.manifest.get("spinnaker2", {}).get("rules", []) if r["name"] == SRAM_RULE]
    if not rules:
        raise TargetError(f"the artifact records no {SRAM_RULE!r} rule", where=str(art.path), hint="recompile")
    return int(rules[0]["available"])


def check(art, spec: dict, pes: dict, ticks: int, spikes: set, voltage: set) -> None:
    """`ResourceExceeded` with the SRAM rule when a PE's resized image does not fit."""
    budget = _budget(art)
    words = pe_words(spec, pes, ticks, spikes, voltage)
    worst = int(np.argmax(words))
    if words[worst] * mi.WORD_BYTES > budget:
        p = spec["populations"][int(pes["pop"][worst])]["name"]
        a, n = int(pes["start"][worst]), int(pes["n"][worst])
        raise ResourceExceeded(SRAM_RULE, int(words[worst]) * mi.WORD_BYTES, budget, where=f"{p}[{a}:{a + n}]",
                               hint=f"{ticks} ticks with these recordings do not fit: record fewer populations "
                                    "or run fewer steps at a time")
