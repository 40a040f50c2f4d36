"""IR drop: the exact nodal solver against independent circuits, and the fast approximation's error
against the exact solver on 64x64 to 256x256 tiles.

Stated error of the fast approximation (PCM target wires, 0.35 Ohm per segment, conductances
uniform in 0..25 uS, 10/50/100 % of rows active): the largest column-current error is below
0.2 % of the largest column current at 64x64, 0.5 % at 128x128 and 1 % at 256x256, where IR drop
itself removes up to 22 %; ignoring IR drop is at least 10x worse on every tile. Runs share one set
of kernels across device draws, linearised at the expected conductances: on drawn PCM devices
(every random effect, one hour after programming) that stays below 0.2 %, 0.5 % and 1.5 %, still
at least 5x better than ignoring IR drop.
"""
from __future__ import annotations

import numpy as np
import pytest

from neurodeploy import targets as tg
from neurodeploy.backends.crossbar import device as dv
from neurodeploy.backends.crossbar import irdrop
from neurodeploy.backends.crossbar.mapping import device_params

R_WIRE, G_MAX = 0.35, 25e-6


def mna(G, x, r_row, r_col):
    """An independent dense modified-nodal-analysis solve, one KCL equation per node, written
    element by element (the production solver assembles sparse blocks instead)."""
    R, C = G.shape
    idx = {}
    for i in range(R):
        for j in range(C):
            idx["r", i, j] = len(idx)
            idx["c", i, j] = len(idx)
    A = np.zeros((len(idx), len(idx)))
    b = np.zeros(len(idx))

    def res(a, bnode, g):
        A[a, a] += g
        if bnode is None:
            return
        A[bnode, bnode] += g
        A[a, bnode] -= g
        A[bnode, a] -= g

    for i in range(R):
        res(idx["r", i, 0], None, 1 / r_row)
        b[idx["r", i, 0]] += x[i] / r_row
        for j in range(C):
            if j + 1 < C:
                res(idx["r", i, j], idx["r", i, j + 1], 1 / r_row)
            if x[i] != 0:
                res(idx["r", i, j], idx["c", i, j], G[i, j])
            res(idx["c", i, j], idx["c", i + 1, j] if i + 1 < R else None, 1 / r_col)
    v = np.linalg.solve(A, b)
    return np.array([v[idx["c", R - 1, j]] / r_col for j in range(C)])


def test_one_cell_is_three_resistors_in_series():
    g = 10e-6
    got = irdrop.exact(np.array([[g]]), np.array([1.0]), 100.0, 50.0)
    assert got[0] == pytest.approx(1 / (100.0 + 1 / g + 50.0), rel=1e-12)


def test_exact_solver_equals_an_independent_nodal_analysis():
    rng = np.random.default_rng(0)
    G = rng.uniform(0, 1e-3, (5, 4))  # large conductances: strong drop, a demanding comparison
    x = np.array([1.0, 0.0, 0.7, 1.0, 0.3])
    assert np.allclose(irdrop.exact(G, x, 2.0, 3.0), mna(G, x, 2.0, 3.0), rtol=1e-9, atol=0)


def test_thin_wires_give_the_ideal_product():
    rng = np.random.default_rng(1)
    G, x = rng.uniform(0, G_MAX, (16, 16)), (rng.random(16) < 0.5).astype(float)
    assert np.allclose(irdrop.exact(G, x, 1e-9, 1e-9), irdrop.ideal(G, x), rtol=1e-6)


def errors(G, x, *models) -> list[float]:
    """Largest column-current error of each irdrop.Fast model, then of ignoring IR drop, against the
    exact solution, relative to its largest column current."""
    exact = irdrop.exact(G, x, R_WIRE, R_WIRE)
    scale = np.abs(exact).max()
    return [np.abs(m.currents(x, G) - exact).max() / scale for m in models] + \
        [np.abs(irdrop.ideal(G, x) - exact).max() / scale]


@pytest.mark.parametrize("n,bound", [(64, 0.002), (128, 0.005), (256, 0.01)])
def test_fast_approximation_error_on_tiles(n, bound):
    rng = np.random.default_rng(n)
    G = rng.uniform(0, G_MAX, (n, n))
    fast = irdrop.Fast(G, R_WIRE, R_WIRE)
    for p in (0.1, 0.5, 1.0):
        err_fast, err_none = errors(G, (rng.random(n) < p).astype(float), fast)
        assert err_fast < bound, (n, p, err_fast)
        assert err_none > 10 * err_fast, (n, p, err_none, err_fast)


def test_fast_approximation_sees_tile_boundaries():
    """Two tiles side by side have separate row drivers: the stacked kernels equal each tile's own."""
    rng = np.random.default_rng(5)
    G = rng.uniform(0, G_MAX, (32, 64))
    x = (rng.random(32) < 0.5).astype(float)
    both = irdrop.Fast(G, R_WIRE, R_WIRE, col_starts=(0, 32)).currents(x, G)
    left = irdrop.Fast(G[:, :32], R_WIRE, R_WIRE).currents(x, G[:, :32])
    right = irdrop.Fast(G[:, 32:], R_WIRE, R_WIRE).currents(x, G[:, 32:])
    assert np.allclose(both, np.r_[left, right], rtol=1e-12)


def plain_kernels(G, r_row, r_col, col_starts):
    """The kernels in plain NumPy (np.cumsum over columns and rows), operation for operation as
    irdrop.py's docstring states them: the fast layout must give the same bits."""
    R, C = G.shape
    k = np.arange(1, C + 1, dtype=G.dtype)
    P, Q = np.cumsum(G * k, axis=1), np.cumsum(G, axis=1)
    S = np.empty_like(G)
    for a, b in zip(col_starts, list(col_starts[1:]) + [C]):
        Pa = P[:, a - 1:a] if a else 0
        Qa = Q[:, a - 1:a] if a else 0
        S[:, a:b] = ((P[:, a:b] - Pa) - (Q[:, a:b] - Qa) * a) + (Q[:, b - 1:b] - Q[:, a:b]) * k[:b - a]
    w = (R - np.arange(R, dtype=G.dtype))[:, None]
    Gw = G * w
    upto, after = np.cumsum(G, axis=0), np.cumsum(Gw[::-1], axis=0)[::-1] - Gw
    diag = (G * G) * w
    return S * (r_row * G) + r_col * diag, ((((w * upto) + after) * G) - diag) * r_col


@pytest.mark.parametrize("shape,starts,dtype", [((40, 70), (0, 32, 64), np.float32), ((33, 16), (0,), np.float64),
                                                 ((1, 5), (0,), np.float32)])
def test_fast_kernels_are_bit_identical_to_the_plain_form(shape, starts, dtype):
    G = np.random.default_rng(3).uniform(0, G_MAX, shape).astype(dtype)
    fast = irdrop.Fast(G, R_WIRE, R_WIRE, col_starts=starts)
    K1, K2 = plain_kernels(G, R_WIRE, R_WIRE, starts)
    assert np.array_equal(fast.K1, K1) and np.array_equal(fast.K2, K2)


@pytest.mark.parametrize("n,bound", [(64, 0.003), (128, 0.005), (256, 0.015)])
def test_kernels_shared_by_draws_error_on_drawn_devices(n, bound):
    """Runs linearise the kernels once, at the devices' expected conductances (device.expected), and
    apply them to every draw (simulator.Targets.kernels). Against the exact nodal solution of the
    drawn devices (PCM, every random effect, one hour after programming; 3 draws x 3 activities),
    their error stays within `bound` (measured here: 0.23 %, 0.34 %, 1.21 % at 64, 128, 256; kernels
    built from each draw itself: 0.05 %, 0.22 %, 0.56 %; the largest of 20 / 6 / 3 matrices x 3
    draws x 3 activities: 0.23 %, 0.37 %, 1.21 %, medians 0.06 %, 0.19 %, 0.58 %). Ignoring IR drop
    is worse by 5x or more in the median case and by 2x or more in every case (the worst of those
    180 / 54 / 27 cases: 2.5x, 7.7x, 9.3x; a 64-row tile with 6 rows active drops only 0.6 %)."""
    d = dv.Device.from_dict(device_params(tg.load("crossbar-pcm"))["device"])
    eff = ("programming", "faults", "drift", "read_noise")
    rng = np.random.default_rng(100 + n)
    G = rng.uniform(0, d.g_max, (n, n))
    shared = irdrop.Fast(dv.expected(G, d, eff, 3600.0), R_WIRE, R_WIRE)
    gain = []
    for draw in range(3):
        Gd, _ = dv.draw(G, d, eff, 3600.0, rng)
        own = irdrop.Fast(Gd, R_WIRE, R_WIRE)
        for p in (0.1, 0.5, 1.0):
            err_shared, err_own, err_none = errors(Gd, (rng.random(n) < p).astype(float), shared, own)
            assert err_shared < bound, (n, p, err_shared, err_own)
            assert err_none > 2 * err_shared, (n, p, err_none, err_shared)
            gain.append(err_none / err_shared)
    assert np.median(gain) > 5, gain
