"""IR drop on a 1T1R tile: the wires' resistance lowers the voltage each cell sees.

Geometry: row i is driven at its left end (column 0) through one wire segment per cell pitch
(resistance r_row); column j is sensed at its bottom end (below row R-1) by a virtual-ground ADC
through one segment per pitch (r_col). A cell conducts only when its row is selected (input != 0,
the access transistor on). Conductances G (R, C) in siemens, inputs x (R,) in units of the read
voltage.

`exact` solves the resistive network's nodal equations (2 R C unknowns) with scipy.sparse: the
reference the approximation is validated against (tests/test_crossbar_irdrop.py states the error on
64x64 to 256x256 tiles).

`Fast` is what runs use. Cell currents to first order, I_ij = G_ij (x_i - dV_row - dV_col):
- row drop: dV_row(i,j) = r_row x_i sum_n G_in (min(j,n)+1), linear in x;
- column drop: dV_col(i,j) = r_col sum_m x_m G_mj (R - max(i,m)) reaches cell (i,j) only if row i
  is selected; the pair (i, m) with i != m is taken at the tile's fraction f of selected rows
  (mean field), the i = m term exactly.
So the column's first-order loss is delta = x @ K1 + f (x @ K2) (two more matrix products),
and the currents are resummed as I0^2 / (I0 + delta) (the drop lowers the currents that cause it).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

ROLE = "simulate"

_CHUNK = 16  # format: rows per cache-sized chunk of the kernels' elementwise pass (not hardware)
_PAD = 16  # format: padding of the transposed cumulative sums' rows (not hardware)


def exact(G: np.ndarray, x: np.ndarray, r_row: float, r_col: float) -> np.ndarray:
    """Column currents (C,) per unit read voltage from the full nodal solution."""
    R, C = G.shape
    g_r, g_c = 1 / r_row, 1 / r_col
    row = np.arange(R * C).reshape(R, C)          # row-wire node (i, j)
    col = R * C + row                              # column-wire node (i, j)
    cell = np.where(np.asarray(x)[:, None] != 0, G, 0)
    i, j, v = [], [], []

    def link(a, b, g):
        a, b, g = a.ravel(), b.ravel(), np.broadcast_to(g, a.shape).ravel()
        i.extend([a, b, a, b])
        j.extend([a, b, b, a])
        v.extend([g, g, -g, -g])

    link(row[:, :-1], row[:, 1:], g_r)
    link(col[:-1, :], col[1:, :], g_c)
    link(row, col, cell)
    diag = np.zeros(2 * R * C)
    diag[row[:, 0]] += g_r                          # driver segment
    diag[col[-1, :]] += g_c                         # segment into the virtual ground
    A = sp.csr_matrix((np.concatenate(v), (np.concatenate(i), np.concatenate(j))), shape=(2 * R * C,) * 2)
    A = A + sp.diags(diag)
    b = np.zeros(2 * R * C)
    b[row[:, 0]] = g_r * np.asarray(x, np.float64)
    volts = spla.spsolve(A.tocsc(), b)
    return volts[col[-1, :]] * g_c


def ideal(G: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Column currents with perfect wires (per unit read voltage)."""
    return np.asarray(x, np.float64) @ G


class Fast:
    """The approximation's two kernels for one tile (or a stack of row-aligned tiles whose column
    blocks start at `col_starts`)."""

    def __init__(self, G: np.ndarray, r_row: float, r_col: float, col_starts=(0,), out=None):
        """`out`: two (R, C) arrays to write K1 and K2 into (a caller's [G | K1 | K2] block).
        Every sum is the same, in the same order, as the plain NumPy form (np.cumsum over columns
        and rows); only the memory layout and the loop order differ (bit-identical kernels)."""
        G = np.asarray(G)
        R, C = G.shape
        K1, K2 = out if out is not None else (np.empty_like(G), np.empty_like(G))
        k = np.arange(1, C + 1, dtype=G.dtype)
        # Row-wise cumulative sums P = sum_{n<=j} G_in (n+1) and Q = sum_{n<=j} G_in, column by column
        # on the transpose (vectorised across rows; np.cumsum(axis=1) adds one element at a time).
        # The padding keeps the transposed rows off a power-of-two stride (cache set conflicts).
        W = np.empty((C, 2, R + _PAD), G.dtype)
        W[:, :, R:] = 0
        np.multiply(G.T, k[:, None], out=W[:, 0, :R])
        W[:, 1, :R] = G.T
        for j in range(1, C):
            np.add(W[j - 1], W[j], out=W[j])
        P, Q = W[:, 0], W[:, 1]
        bounds = list(col_starts) + [C]
        t = np.empty((max(b - a for a, b in zip(bounds[:-1], bounds[1:])), R + _PAD), G.dtype)
        # The row drop sees only its own tile's cells. Last tile first: S overwrites P, and the tile
        # after it has already read its edge column.
        for a, b in reversed(list(zip(bounds[:-1], bounds[1:]))):
            Pa = P[a - 1] if a else 0
            Qa = Q[a - 1] if a else 0
            s, tt = P[a:b], t[:b - a]
            np.subtract(s, Pa, out=s)                           # s = (P - Pa) - a (Q - Qa):
            np.subtract(Q[a:b], Qa, out=tt)                     #     sum_{a<=n<=j} G_in (n-a+1)
            tt *= a
            s -= tt
            np.subtract(Q[b - 1], Q[a:b], out=tt)               # s += k (Q_last - Q)
            tt *= k[:b - a, None]
            s += tt
        S = P                                                   # S transposed, (C, R + pad)
        w = (R - np.arange(R, dtype=G.dtype))[:, None]          # segments from row m to the ADC
        Gw = G * w
        K2[R - 1] = Gw[R - 1]                                   # sum_{i>=m} (R-i) G_ij, into K2
        for i in range(R - 2, -1, -1):
            np.add(K2[i + 1], Gw[i], out=K2[i])
        K2 -= Gw                                                # sum_{i>m} (R-i) G_ij
        del Gw, W
        # The rest row chunk by row chunk (cache-sized): upto = sum_{i<=m} G_ij carried across chunks.
        upto, diag, tmp = np.empty((_CHUNK, C), G.dtype), np.empty((_CHUNK, C), G.dtype), np.empty((_CHUNK, C), G.dtype)
        prev = None
        for i0 in range(0, R, _CHUNK):
            i1 = min(i0 + _CHUNK, R)
            g, wc, k1, k2 = G[i0:i1], w[i0:i1], K1[i0:i1], K2[i0:i1]
            up, dg, tt = upto[:i1 - i0], diag[:i1 - i0], tmp[:i1 - i0]
            for r in range(i1 - i0):
                if prev is None:
                    up[r] = g[r]
                else:
                    np.add(prev, g[r], out=up[r])
                prev = up[r]
            prev = prev.copy()                                  # the buffer is reused by the next chunk
            np.multiply(g, g, out=dg)
            dg *= wc
            np.multiply(r_row, g, out=tt)                       # K1 = r_row G S + r_col diag
            np.multiply(S[:, i0:i1].T, tt, out=k1)
            np.multiply(r_col, dg, out=tt)
            k1 += tt
            np.multiply(wc, up, out=tt)                         # K2 = r_col (G (w upto + after) - diag)
            tt += k2
            tt *= g
            tt -= dg
            np.multiply(tt, r_col, out=k2)
        self.K1, self.K2 = K1, K2
        self.rows = R

    def currents(self, x: np.ndarray, G: np.ndarray) -> np.ndarray:
        """Column currents (..., C) per unit read voltage for inputs x (..., R)."""
        i0 = x @ G
        f = np.count_nonzero(x, axis=-1)[..., None] / self.rows
        delta = x @ self.K1 + f * (x @ self.K2)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(i0 > 0, i0 * i0 / (i0 + delta), 0)

