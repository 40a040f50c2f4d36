"""The reference simulator's two convolution paths (im2col GEMM and event-driven scatter) give the
same sums as torch's convolution (the independent peer), and the simulator's results and counters
do not depend on which path its cost model picks.

Weights are multiples of 1/8 and inputs small integers, so every partial sum is exact in float32
and float64 and the paths must agree bit for bit whatever their summation order; random float
weights agree to rounding.
"""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurodeploy.semantics import Semantics
from neurodeploy.sim import reference, scatter
from neurodeploy.sim.ops import Im2col, _padding, _pairs
from neurodeploy.sim.reference import simulate
from test_sim_nodes import chain

CONFIGS = [  # (nd, cin, cout, spatial, kernel, stride, padding, dilation, groups)
    (2, 4, 8, (9, 8), 3, 1, 0, 1, 1),
    (2, 2, 16, (12, 12), 5, 2, 1, 1, 1),  # the paper CNN's first layer, smaller
    (2, 4, 8, (9, 9), 3, 1, 2, 2, 2),
    (2, 3, 6, (7, 10), 3, 1, "same", 1, 3),
    (2, 4, 8, (10, 9), (3, 2), (2, 1), (1, 0), (1, 2), 4),
    (1, 3, 5, (13,), 4, 2, 1, 1, 1),
    (1, 4, 4, (11,), 3, 1, "same", 2, 4),  # depthwise
]


def _case(cfg, rng, dtype, batch, graded):
    nd, cin, cout, spatial, kernel, stride, padding, dilation, groups = cfg
    k = _pairs(kernel, nd)
    w = (rng.integers(-16, 17, size=(cout, cin // groups) + k) / 8).astype(dtype)
    w[rng.random(w.shape) < 0.2] = 0
    x = (rng.random((batch, cin) + spatial) < 0.1).astype(dtype)
    if graded:
        x *= rng.integers(1, 5, size=x.shape)
    conv = F.conv1d if nd == 1 else F.conv2d
    ref = conv(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64), None,
               stride=stride, padding=padding, dilation=dilation, groups=groups).numpy()
    st, dil = _pairs(stride, nd), _pairs(dilation, nd)
    geometry = (st, dil, _padding(padding, k, dil, nd))
    return w, x, ref, geometry


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scatter_and_im2col_equal_torch_exactly(cfg, dtype):
    rng = np.random.default_rng(7)
    for batch, graded in ((1, False), (3, False), (3, True)):  # graded: pooled sums feed convs
        w, x, ref, (stride, dilation, pads) = _case(cfg, rng, dtype, batch, graded)
        groups = cfg[-1]
        dense = Im2col(w, groups, x.shape[1:], ref.shape[1:], stride, dilation, pads)(x)
        sc = scatter.scatter(w, groups, x.shape[2:], ref.shape[2:], stride, dilation, pads)
        events = np.flatnonzero(x.reshape(-1))
        sparse = sc(x, events).reshape(ref.shape)
        assert dense.dtype == sparse.dtype == dtype
        np.testing.assert_array_equal(dense, ref)
        np.testing.assert_array_equal(sparse, ref)


def test_scatter_matches_torch_with_random_float_weights():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(6, 2, 3, 3))
    x = (rng.random((2, 4, 11, 11)) < 0.05) * rng.normal(size=(2, 4, 11, 11))
    ref = F.conv2d(torch.tensor(x), torch.tensor(w), None, stride=2, padding=1, groups=2).numpy()
    sc = scatter.scatter(w, 2, (11, 11), ref.shape[2:], (2, 2), (1, 1), [(1, 1), (1, 1)])
    np.testing.assert_allclose(sc(x, np.flatnonzero(x)).reshape(ref.shape), ref, rtol=1e-12, atol=1e-12)


def test_cost_model_scatters_sparse_input_and_multiplies_dense_input():
    """A grouped 16 -> 16 channel 3x3 conv on a 16x16 map (timed: 1 % input at batch 8 scatters
    about 10x faster than im2col, half-dense input at batch 64 is far slower to scatter)."""
    w = np.ones((16, 4, 3, 3))
    sc = scatter.scatter(w, 4, (16, 16), (16, 16), (1, 1), (1, 1), [(1, 1), (1, 1)])
    gemm = Im2col(w, 4, (16, 16, 16), (16, 16, 16), (1, 1), (1, 1), [(1, 1), (1, 1)])
    rng = np.random.default_rng(0)
    sparse = (rng.random((8, 16, 16, 16)) < 0.01).astype(float)
    dense = (rng.random((64, 16, 16, 16)) < 0.5).astype(float)
    np.testing.assert_array_equal(sc.events(sparse, gemm.cost(8)), np.flatnonzero(sparse))
    assert sc.events(dense, gemm.cost(64)) is None
    assert scatter.scatter(np.ones((64, 64, 3, 3)), 1, (64, 64), (64, 64), (1, 1), (1, 1),
                           [(1, 1), (1, 1)]) is None  # 151M synapses: no table, always dense


def _net(rng, groups=2):
    """input -> conv (exact weights) -> IF -> sum pool -> conv -> IF -> output, graded pool output."""
    w1 = rng.integers(-8, 9, size=(8, 4 // groups, 3, 3)) / 8
    w2 = rng.integers(-8, 9, size=(4, 8, 3, 3)) / 8
    nodes = {
        "c1": nir.Conv2d(input_shape=(12, 12), weight=w1, bias=np.full(8, 0.125), stride=1, padding=1,
                         dilation=1, groups=groups),
        "n1": nir.IF(r=np.ones((8, 12, 12)), v_threshold=np.ones((8, 12, 12)), v_reset=np.zeros((8, 12, 12))),
        "p": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "c2": nir.Conv2d(input_shape=(6, 6), weight=w2, bias=np.zeros(4), stride=1, padding=1, dilation=1,
                         groups=1),
        "n2": nir.IF(r=np.ones((4, 6, 6)), v_threshold=np.full((4, 6, 6), 2.0), v_reset=np.zeros((4, 6, 6))),
    }
    shapes = [(4, 12, 12), (8, 12, 12), (8, 12, 12), (8, 6, 6), (4, 6, 6), (4, 6, 6)]
    return chain(nodes, shapes, Semantics(dt=1.0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_results_and_counters_do_not_depend_on_the_conv_path(monkeypatch, dtype):
    """Run once with the cost model, once forced to scatter everywhere, once forced dense: the
    spikes, membranes and every counter are identical (the steps run in-loop, not batched)."""
    rng = np.random.default_rng(5)
    g = _net(rng)
    x = (rng.random((300, 3, 4, 12, 12)) < 0.05).astype(float)  # 300 > 255: the byte counters flush
    monkeypatch.setattr(reference, "BATCHED_MAX", 0)
    record = ["n1", "p", "n2"]
    runs = [simulate(g, x, record=record, dtype=dtype)]
    monkeypatch.setattr(scatter, "SYNAPSE_COST", 0)
    monkeypatch.setattr(scatter, "CALL_COST", -10**12)
    runs.append(simulate(g, x, record=record, dtype=dtype))
    monkeypatch.setattr(scatter, "MAX_SYNAPSES", 0)  # no synapse table: dense only
    runs.append(simulate(g, x, record=record, dtype=dtype))
    base = runs[0]
    assert base.spikes["n1"].sum() > 0 and base.spikes["n2"].sum() > 0
    for other in runs[1:]:
        for n in ("n1", "n2"):
            np.testing.assert_array_equal(other.spikes[n], base.spikes[n])
            np.testing.assert_array_equal(other.v[n], base.v[n])
        np.testing.assert_array_equal(other.extra["outputs"]["p"], base.extra["outputs"]["p"])
        assert other.counters == base.counters and other.per_layer == base.per_layer
    # synaptic events by brute force: the non-zero inputs of c2 (graded pool sums) x their fan-out
    mask = torch.tensor((g.nodes["c2"].weight != 0).astype(float))
    eye = torch.eye(8 * 36, dtype=torch.float64).reshape(-1, 8, 6, 6)
    fan = F.conv2d(eye, mask, None, padding=1).sum(dim=(1, 2, 3)).numpy()
    nz = (base.extra["outputs"]["p"].reshape(-1, 8 * 36) != 0).sum(axis=0)
    assert base.per_layer["c2"]["synaptic_events"] == int(nz @ fan) == base.per_layer["c2"]["macs"]


def test_nonzero_count_flushes_small_blocks(monkeypatch):
    """Byte blocks of 2 steps (forced) over 7 steps and a batch of 3 count like brute force."""
    monkeypatch.setattr(reference._NonzeroCount, "BLOCK_BYTES", 2 * 3 * 5)
    monkeypatch.setattr(reference, "BATCHED_MAX", 0)  # the layer runs in the step loop
    w = np.arange(10.0).reshape(2, 5) - 4
    g = chain({"a": nir.Linear(weight=w)}, [(5,), (2,)])
    rng = np.random.default_rng(1)
    x = (rng.random((7, 3, 5)) < 0.5) * rng.integers(1, 3, size=(7, 3, 5))
    res = simulate(g, x.astype(float), steps=7)
    fan = np.count_nonzero(w, axis=0)
    assert res.per_layer["a"]["synaptic_events"] == int((x != 0).reshape(-1, 5).sum(0) @ fan)
