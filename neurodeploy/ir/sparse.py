"""Sparse `Affine`/`Linear` weights: `scipy.sparse` in memory, a CSR group in the `.nir` file.

Why: a liquid state machine of 10^6 neurons with 10 synapses each has a 10^6 x 10^6 weight
matrix that only exists sparse (10^7 entries; dense it would take 4 TB). `nir.Affine` and
`nir.Linear` accept any object with a ``.shape`` as ``weight``, so a `scipy.sparse` matrix rides
in them unchanged; this module gives it one canonical form (so writes are byte-identical), the
file layout (docs/dialect.md, "Sparse weights") and the checks made when reading it back.
Nothing here allocates anything of the matrix's dense size.
"""
from __future__ import annotations

import nir
import numpy as np
import scipy.sparse as sp

from ..errors import InvalidModel
from .shapes import MAX_ELEMENTS

FORMAT = "csr"
TYPES = (nir.Affine, nir.Linear)  # the only nodes whose `weight` may be sparse
_INT32_MAX = np.iinfo(np.int32).max


def is_sparse(v) -> bool:
    return sp.issparse(v)


def canonical(m, where: str) -> sp.csr_array:
    """CSR with duplicates summed, column indices sorted, explicit zeros dropped, and int32
    indices unless the matrix needs int64: one matrix, one stored form."""
    if m.ndim != 2:
        raise InvalidModel(f"sparse weight must be a matrix (out, in), got shape {m.shape}", where=where)
    check_shape(m.shape, where)
    c = sp.csr_array(m, copy=True)
    c.sum_duplicates()  # also sorts the indices
    c.eliminate_zeros()
    if c.dtype.kind not in "biuf":
        raise InvalidModel(f"sparse weight has unsupported type {c.dtype}", where=where)
    if not np.all(np.isfinite(c.data)):
        raise InvalidModel("sparse weight contains NaN or infinity", where=where)
    idx = np.int32 if max(c.shape[1], c.nnz) <= _INT32_MAX else np.int64
    return sp.csr_array((c.data, c.indices.astype(idx), c.indptr.astype(idx)), shape=c.shape)


def check_shape(shape, where: str) -> tuple[int, int]:
    """Each side is a signal (the node's input or output), so each is bounded by MAX_ELEMENTS;
    their product is not: that is what sparse storage is for."""
    rows, cols = (int(s) for s in shape)
    if min(rows, cols) < 1 or max(rows, cols) > MAX_ELEMENTS:
        raise InvalidModel(f"sparse weight shape {(rows, cols)} must have sides between 1 and {MAX_ELEMENTS}",
                           where=where, hint="see docs/ir.md, 'Limits'")
    return rows, cols


def to_fields(m, where: str) -> dict:
    """The datasets of the ``weight`` group (the writer stores a dict as a group)."""
    c = canonical(m, where)
    return {"format": FORMAT, "shape": np.array(c.shape, dtype=np.int64),
            "data": c.data, "indices": c.indices, "indptr": c.indptr}


def from_fields(v: dict, name: str, where: str) -> sp.csr_array:
    """Check a stored CSR group (already bounded per dataset by the reader) and rebuild the matrix.

    Duplicates and unsorted indices, which the writer never produces, are accepted and made
    canonical as scipy would sum them; anything that would make scipy misread or index out of
    bounds is refused naming the node."""
    def bad(what: str) -> InvalidModel:
        return InvalidModel(f"sparse field {name!r}: {what}", where=where, hint="see docs/dialect.md, 'Sparse weights'")

    missing = sorted({"format", "shape", "data", "indices", "indptr"} - set(v))
    if missing:
        raise bad(f"missing {', '.join(missing)}")
    if v["format"] != FORMAT:
        raise bad(f"format must be {FORMAT!r}, got {v['format']!r}"[:200])
    arrays = {k: v[k] for k in ("shape", "data", "indices", "indptr")}
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype.kind not in ("biuf" if k == "data" else "iu"):
            raise bad(f"{k} must be a 1-D {'numeric' if k == 'data' else 'integer'} array")
    if arrays["shape"].size != 2:
        raise bad(f"shape must hold 2 sides, got {arrays['shape'].tolist()}")
    rows, cols = check_shape(arrays["shape"], where)
    data, indices, indptr = arrays["data"], arrays["indices"], arrays["indptr"].astype(np.int64)
    if indptr.size != rows + 1:
        raise bad(f"indptr has {indptr.size} entries, shape {(rows, cols)} needs {rows + 1}")
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise bad("indptr must start at 0 and never decrease")
    if not indptr[-1] == data.size == indices.size:
        raise bad(f"indptr ends at {indptr[-1]} but data has {data.size} and indices {indices.size} entries")
    if indices.size and (indices.min() < 0 or indices.max() >= cols):
        raise bad(f"column indices must lie in [0, {cols}), found {indices.min()}..{indices.max()}")
    if not np.all(np.isfinite(data)):
        raise bad("data contains NaN or infinity")
    return canonical(sp.csr_array((data, indices.astype(np.int64), indptr), shape=(rows, cols)), where)
