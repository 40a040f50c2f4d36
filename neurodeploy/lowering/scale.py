"""Per-row scaling and rounding of weights, with the error it makes.

A chip holds integer weights ``q = round(w * s)`` where the scale ``s`` is shared by all weights
into one neuron (a row of the (post, pre) matrix) or by a whole layer; the neuron's threshold,
offset and reset then carry the same ``s``, so only the rounding changes the model. The scale
choices (`row_scales`):

- ``per_neuron``: ``s_i = w_max / max_j |w_ij|`` (each neuron uses its full weight range; a row with
  no weight takes the layer's scale);
- ``per_layer``: one ``s = w_max / max |w|`` for every row;
- ``none``: ``s = 1``; or a fixed number for every row.

Chips with a shared mantissa/exponent per group (Loihi) pick ``s = 2**-exp`` per group with
`neurodeploy.quant.fixed.split_mantissa_exponent` and use `scale_rows` / `with_data` here.
`round_scaled` rounds to nearest (ties to even, as ``np.rint``) or truncates toward zero, reports
the largest magnitude before clipping (the weight-range design rule) and the error statistics.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import UsageError

MODES = ("per_neuron", "per_layer", "none")
ROUNDINGS = ("nearest", "trunc")


def row_scales(peak: np.ndarray, w_max: float, mode: str = "per_neuron", fixed: float | None = None) -> np.ndarray:
    """One scale per row from each row's largest |w| (`peak`)."""
    if mode not in MODES:
        raise UsageError(f"scaling mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    n = peak.size
    if fixed is not None or mode == "none":
        return np.full(n, 1.0 if fixed is None else float(fixed))
    top = float(peak.max(initial=0))
    layer = w_max / top if top > 0 else 1.0
    if mode == "per_layer":
        return np.full(n, layer)
    return np.where(peak > 0, w_max / np.where(peak > 0, peak, 1.0), layer)


def row_peaks(m) -> np.ndarray:
    """Largest |w| of each row of a dense or sparse (post, pre) matrix."""
    if sp.issparse(m):
        return abs(m).max(axis=1).toarray().ravel()
    return np.abs(np.asarray(m)).max(axis=1, initial=0)


def error_stats(exact: np.ndarray, approx: np.ndarray, scale: np.ndarray, zeroed: int) -> dict:
    """rel_rms_error (||approx - exact|| / ||exact||), max_abs_error, scale_min/max, zeroed weights."""
    err = np.asarray(approx, np.float64) - exact
    norm = float(np.sqrt(np.sum(exact * exact))) or 1.0
    return {"rel_rms_error": float(np.sqrt(np.sum(err * err)) / norm),
            "max_abs_error": float(np.abs(err).max(initial=0)), "scale_min": float(np.min(scale, initial=np.inf)),
            "scale_max": float(np.max(scale, initial=0)), "zeroed": int(zeroed)}


@dataclass
class Rounded:
    q: np.ndarray        # integers (float64 array of whole numbers), clipped to +-w_max
    peak: float          # largest |round(w*s)| before clipping
    stats: dict


def round_scaled(w: np.ndarray, s, w_max: float, rounding: str = "nearest", scales=None) -> Rounded:
    """``clip(round(w*s), -w_max, w_max)`` elementwise (`s` broadcasts against `w`); `scales` are the
    distinct scales for the statistics (default: `s` itself)."""
    if rounding not in ROUNDINGS:
        raise UsageError(f"rounding {rounding!r}", hint=f"use one of {', '.join(ROUNDINGS)}")
    x = w * s
    q = np.rint(x) if rounding == "nearest" else np.trunc(x)
    peak = float(np.abs(q).max(initial=0))
    q = np.clip(q, -w_max, w_max)
    zeroed = int(np.count_nonzero(w) - np.count_nonzero(q))
    return Rounded(q, peak, error_stats(w, q / s, np.ravel(s if scales is None else scales), zeroed))


def scale_rows(m: sp.csr_matrix, f: np.ndarray) -> sp.csr_matrix:
    """Row i times f[i], keeping m's exact sparsity pattern (so .data stays aligned)."""
    return sp.csr_matrix((m.data * np.repeat(f, np.diff(m.indptr)), m.indices, m.indptr), shape=m.shape)


def with_data(m: sp.csr_matrix, data: np.ndarray, dtype=np.int64) -> sp.csr_matrix:
    """Same sparsity pattern, new (integer) values; explicit zeros dropped."""
    q = sp.csr_matrix((data.astype(dtype), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    q.eliminate_zeros()
    return q


def quantize_rows(m: sp.csr_matrix, scale: np.ndarray, w_max: float, rounding: str = "nearest",
                  dtype=np.int16) -> tuple[sp.csr_matrix, Rounded]:
    """Rows of CSR `m` scaled by `scale` (one per row) and rounded: (integer CSR with zeros dropped,
    the `Rounded` record of its values)."""
    r = round_scaled(m.data, np.repeat(scale, np.diff(m.indptr)), w_max, rounding, scales=scale)
    return with_data(m, r.q, dtype), r
