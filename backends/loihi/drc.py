"""Loihi's fixed-point and delay design rules: what a layer needs against the target's widths.

Why a module: the quantizer finds these needs while it maps a layer, and each one is a limit of the
target TOML (backends/loihi/target_schema.toml, ``[limits]``), so each is refused as a named
`ResourceExceeded` (exit 4, needed vs available), never as a malformed model. The rules:

- ``loihi.delay``: a NIR Delay node's steps against ``limits.delay_max``.
- ``loihi.weight_exp``: the weight exponent the largest weight needs at the smallest threshold.
- ``loihi.weight_mant``: mantissa bits of a weight at a fixed exponent (``mapping=paper``).
- ``loihi.state_bits``: bits of the current register when every source fires at once.
- ``loihi.bias_exp`` / ``loihi.bias_mant``: the bias at the top exponent / at a fixed exponent.
- ``loihi.threshold``: threshold mantissa bits (``mapping=paper``; auto picks one that fits).
- ``loihi.decay``: bits a decay constant needs (too slow rounds to none, too fast overflows).
"""
from __future__ import annotations

import math

from neurodeploy.backend import Rule, delay_rules
from neurodeploy.ir.graph import Graph
from neurodeploy.targets import Target

ROLE = "compile"


def bits(x: float) -> int:
    """Bits of an unsigned integer part that holds ``x`` (at least 1; inf for an unbounded need)."""
    if not math.isfinite(x):
        return math.inf
    return max(1, math.ceil(math.log2(x + 1))) if x > 0 else 1


def delays(graph: Graph, target: Target) -> None:
    """Every Delay node fits the delay field; none is modelled by the engines, so any is then refused."""
    for rule in delay_rules(graph, int(target.v("limits.delay_max")), "loihi.delay"):
        rule.raise_if_violated()


def weight_exp(name: str, peak: float, mant_max: int, e_max: int) -> Rule:
    """`peak`: the largest weight in units of the smallest threshold mantissa (vth = 1)."""
    need = math.ceil(math.log2(peak / mant_max)) if peak > 0 else e_max
    return Rule("loihi.weight_exp", need, e_max, where=name,
                hint="weights are too large relative to the threshold; scale both down or raise v_threshold")


def state(name: str, peak: float, state_bits: int) -> Rule:
    """`peak`: the current a step of all sources firing builds at vth = 1 (state LSB)."""
    return Rule("loihi.state_bits", bits(peak) + 1, state_bits, where=name,
                hint="the summed input of all sources overflows the current register; sparsify or scale weights")


def bias_exp(name: str, peak: float, mant_max: int, e_max: int) -> Rule:
    """`peak`: the largest bias at vth = 1 (voltage LSB)."""
    need = max(0, math.ceil(math.log2(peak / mant_max))) if peak > 0 else 0
    return Rule("loihi.bias_exp", need, e_max, where=name,
                hint="the bias is too large relative to the threshold")


def mantissa(rule: str, name: str, peak: float, mant_bits: int, signed: bool, hint: str) -> Rule:
    """A mantissa of `mant_bits` (the sign included when `signed`) holding magnitude `peak`."""
    return Rule(rule, bits(peak) + signed, mant_bits, where=name, hint=hint)


def threshold(name: str, vth: int, vth_bits: int) -> Rule:
    return Rule("loihi.threshold", bits(vth), vth_bits, where=name,
                hint=f"threshold mantissa {vth} is outside 1..{(1 << vth_bits) - 1}; use -O mapping=auto")


def decay(name: str, needed_bits: int, decay_bits: int, hint: str) -> Rule:
    return Rule("loihi.decay", needed_bits, decay_bits, where=name, hint=hint)
