"""Input arrays for simulators: one layout, (T, batch, *in_shape), checked once at the door.

Users hand in (T, *in_shape) for a single sample or (T, B, *in_shape) for a batch; every
simulator and backend calls `as_batched` so a wrong shape fails with the same clear message.
"""
from __future__ import annotations

import numpy as np

from ..errors import UsageError


def as_batched(x, in_shape, *, where: str = "input", dtype=None) -> np.ndarray:
    """Return `x` as a (T, B, *in_shape) array; a (T, *in_shape) array gets B = 1."""
    in_shape = tuple(int(d) for d in in_shape)
    a = np.asarray(x)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise UsageError(f"input array has dtype {a.dtype}, expected numbers", where=where)
    if a.shape[1:] == in_shape:
        a = a[:, None]
    elif a.shape[2:] != in_shape or a.ndim != len(in_shape) + 2:
        raise UsageError(f"input has shape {a.shape}; expected (T, {_fmt(in_shape)}) or "
                         f"(T, batch, {_fmt(in_shape)})", where=where)
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise UsageError(f"input has shape {a.shape}: no time steps or an empty batch", where=where)
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise UsageError("input contains NaN or infinite values", where=where)
    return a


def _fmt(shape) -> str:
    return ", ".join(str(d) for d in shape)
