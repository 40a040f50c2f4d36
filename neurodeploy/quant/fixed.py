"""Integer arithmetic as fixed-point hardware does it, vectorized over int64 arrays.

Neuromorphic cores differ in exactly these details (truncation toward zero vs floor, wrap vs
saturate), and a simulator that gets one of them wrong drifts from the chip by one LSB per step.
Every function takes and returns integer NumPy arrays (or Python ints) and never rounds silently.
"""
from __future__ import annotations

import numpy as np


def shift_toward_zero(x, s: int):
    """``sign(x) * (|x| >> s)``: a right shift that truncates toward zero (sign-magnitude datapaths)."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * (np.abs(x) >> s)


def shift(x, e):
    """``x * 2**e`` for integer ``e``: left shift for ``e > 0``, arithmetic (floor) right shift
    for ``e < 0`` (two's-complement datapaths). ``e`` may be an array."""
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(e, dtype=np.int64)
    return np.where(e >= 0, np.left_shift(x, np.maximum(e, 0)), np.right_shift(x, np.maximum(-e, 0)))


def saturate(x, bits: int, *, signed: bool = True):
    """Clip to the range of a ``bits``-wide register (symmetric ±(2**(bits-1) - 1) when signed,
    as sign-magnitude state registers are)."""
    x = np.asarray(x, dtype=np.int64)
    if signed:
        lim = (1 << (bits - 1)) - 1
        return np.clip(x, -lim, lim)
    return np.clip(x, 0, (1 << bits) - 1)


def wrap(x, bits: int):
    """Two's-complement wrap-around to ``bits`` bits."""
    x = np.asarray(x, dtype=np.int64)
    half = 1 << (bits - 1)
    return ((x + half) & ((1 << bits) - 1)) - half


def round_half_away(x):
    """Round to nearest, ties away from zero (``np.round`` rounds ties to even, no hardware does)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def split_mantissa_exponent(x, mant_max: int, exp_min: int, exp_max: int):
    """Represent real values ``x`` as ``mant * 2**exp`` with ``|mant| <= mant_max`` and the
    smallest exponent (most precision) in ``[exp_min, exp_max]`` that fits the largest ``|x|``.

    One exponent is shared by all of ``x`` (a synapse group shares its weight exponent).
    Returns ``(mant, exp)`` or ``(None, needed_exp)`` when even ``exp_max`` is not enough.
    """
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.abs(x).max()) if x.size else 0.0
    exp = exp_min
    if peak > 0:
        exp = max(exp_min, int(np.ceil(np.log2(peak / mant_max))))
        while peak / 2.0**exp > mant_max + 0.5:  # guard the float log2 at exact powers of two
            exp += 1
    if exp > exp_max:
        return None, exp
    return np.clip(round_half_away(x / 2.0**exp), -mant_max, mant_max), exp


def relative_error(exact, approx) -> float:
    """``max|exact - approx| / max|exact|`` (0 for an all-zero exact): one number per layer."""
    exact = np.asarray(exact, dtype=np.float64)
    peak = float(np.abs(exact).max()) if exact.size else 0.0
    if peak == 0:
        return 0.0
    return float(np.abs(exact - np.asarray(approx, dtype=np.float64)).max() / peak)
