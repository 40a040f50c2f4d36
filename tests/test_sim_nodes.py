"""Node semantics of the reference simulator against independent references: torch's conv/pool
(a peer implementation), brute-force synapse counts, a fine-step ODE integration, and hand-worked
values from the NIR equations."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurodeploy.errors import InvalidModel, UnsupportedNode, UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.inputs import as_batched
from neurodeploy.sim.reference import simulate


def chain(nodes: dict, shapes: list, sem=Semantics(), extra_edges=()):
    """A Graph input -> nodes... -> output; shapes[i] is the output shape of the i-th node."""
    names = ["input"] + list(nodes) + ["output"]
    all_nodes = {"input": nir.Input(input_type=np.array(shapes[0])), **nodes,
                 "output": nir.Output(output_type=np.array(shapes[-1]))}
    outs, ins = list(shapes) + [shapes[-1]], [shapes[0]] + list(shapes)
    in_shape = {n: tuple(s) for n, s in zip(names, ins)}
    out_shape = {n: tuple(s) for n, s in zip(names, outs)}
    edges = list(zip(names, names[1:])) + list(extra_edges)
    return Graph(all_nodes, edges, in_shape, out_shape, semantics=sem)


CONVS = [dict(stride=1, padding=0, dilation=1, groups=1), dict(stride=2, padding=1, dilation=1, groups=1),
         dict(stride=1, padding=2, dilation=2, groups=2), dict(stride=1, padding="same", dilation=1, groups=1),
         dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=4)]


@pytest.mark.parametrize("cfg", CONVS)
def test_conv2d_matches_torch_and_counts_exact_synapses(cfg):
    rng = np.random.default_rng(0)
    cin, cout, k = 4, 8, 3
    w = rng.normal(size=(cout, cin // cfg["groups"], k, k))
    w[rng.random(w.shape) < 0.3] = 0  # some absent synapses
    b = rng.normal(size=cout)
    x = (rng.random((5, 2, cin, 9, 8)) < 0.4).astype(float)  # T=5, B=2
    y_ref = F.conv2d(torch.tensor(x.reshape(10, cin, 9, 8)), torch.tensor(w), torch.tensor(b), **cfg).numpy()
    node = nir.Conv2d(input_shape=(9, 8), weight=w, bias=b, **cfg)
    g = chain({"c": node}, [(cin, 9, 8), y_ref.shape[1:]])
    res = simulate(g, x, record=["c"])
    np.testing.assert_allclose(res.extra["outputs"]["c"].reshape(y_ref.shape), y_ref, atol=1e-10)
    # brute force: one input position at a time through the 0/1 weight mask, count touched synapses
    mask = torch.tensor((w != 0).astype(float))
    eye = torch.eye(cin * 72, dtype=torch.float64).reshape(-1, cin, 9, 8)
    fan = F.conv2d(eye, mask, None, **cfg).sum(dim=(1, 2, 3)).numpy()
    nz = (x.reshape(10, -1) != 0).sum(axis=0)
    assert res.per_layer["c"]["synaptic_events"] == int(nz @ fan)
    every = F.conv2d(eye, torch.ones_like(mask), None, **cfg).sum().item()  # zero weights included
    assert res.per_layer["c"]["dense_synaptic_ops"] == int(every) * 10


def test_conv1d_and_pools_match_torch():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2, 3, 12))
    w, b = rng.normal(size=(5, 3, 4)), rng.normal(size=5)
    ref = F.conv1d(torch.tensor(x.reshape(6, 3, 12)), torch.tensor(w), torch.tensor(b), stride=2, padding=1).numpy()
    g = chain({"c": nir.Conv1d(input_shape=12, weight=w, stride=2, padding=1, dilation=1, groups=1, bias=b)},
              [(3, 12), ref.shape[1:]])
    out = simulate(g, x, record=["c"]).extra["outputs"]["c"]
    np.testing.assert_allclose(out.reshape(ref.shape), ref, atol=1e-10)

    x = rng.normal(size=(3, 2, 3, 8, 8))
    xt = torch.tensor(x.reshape(6, 3, 8, 8))
    for node, ref in [(nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([1, 1])),
                       F.avg_pool2d(xt, 2, 2, 1)),
                      (nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([1, 1]), padding=np.array([0, 0])),
                       F.avg_pool2d(xt, 3, 1) * 9)]:
        g = chain({"p": node}, [(3, 8, 8), tuple(ref.shape[1:])])
        out = simulate(g, x, record=["p"]).extra["outputs"]["p"]
        np.testing.assert_allclose(out.reshape(ref.shape), ref.numpy(), atol=1e-10)


def _fine_cuba(x, ts, tm, r, w_in, v_leak, dt, sub=20000):
    """Independent reference: forward Euler with dt/sub on the CubaLI ODEs, input held per step."""
    h, i, v, vs = dt / sub, 0.0, 0.0, []
    for xt in x:
        for _ in range(sub):
            i, v = i + h / ts * (w_in * xt - i), v + h / tm * (v_leak - v + r * i)
        vs.append(v)
    return np.array(vs)


@pytest.mark.parametrize("ts,tm", [(2e-4, 1e-3), (1e-3, 1e-3), (5e-3, 1e-3)])
def test_cuba_exact_integrator_solves_the_ode(ts, tm):
    x = np.array([1.0, 0, 0, 2.0, 0, 0.5, 0, 0])
    node = nir.CubaLI(tau_syn=np.array([ts]), tau_mem=np.array([tm]), r=np.array([3.0]), v_leak=np.array([0.2]),
                      w_in=np.array([1.5]))
    res = simulate(chain({"n": node}, [(1,), (1,)]), x[:, None], record=["n"])
    ref = _fine_cuba(x, ts, tm, 3.0, 1.5, 0.2, 1e-4)
    np.testing.assert_allclose(res.v["n"][:, 0, 0], ref, rtol=2e-4, atol=1e-7)


def test_lif_if_integrators_by_hand():
    x = np.array([[1.0], [0.0], [0.0]])
    lif = nir.LIF(tau=np.array([1e-3]), r=np.array([2.0]), v_leak=np.array([0.5]), v_threshold=np.array([9.0]),
                  v_reset=np.array([0.0]))
    for integ, a in (("exact", np.exp(-0.1)), ("euler", 0.9)):
        v = simulate(chain({"n": lif}, [(1,), (1,)], Semantics(integrator=integ)), x, record=["n"]).v["n"][:, 0, 0]
        v0 = (1 - a) * (0.5 + 2.0)
        np.testing.assert_allclose(v, [v0, a * v0 + (1 - a) * 0.5, a * (a * v0 + (1 - a) * 0.5) + (1 - a) * 0.5])
    ifn = nir.IF(r=np.array([2.0]), v_threshold=np.array([2.5]), v_reset=np.array([-1.0]))
    res = simulate(chain({"n": ifn}, [(1,), (1,)], Semantics(dt=1.0)), np.ones((3, 1)), record=["n"])
    np.testing.assert_allclose(res.v["n"][:, 0, 0], [2.0, -1.0, 1.0])  # v_reset = -1 after 4 > 2.5
    assert res.spikes["n"][:, 0, 0].tolist() == [0, 1, 0]


@pytest.mark.parametrize("mode,timing,expected_v,expected_s", [
    ("subtract", "same_step", [0.6, 0.2, 0.8, 0.4], [0, 1, 0, 1]),
    ("zero", "same_step", [0.6, 0.0, 0.6, 0.0], [0, 1, 0, 1]),
    ("subtract", "next_step", [0.6, 1.2, 0.8, 1.4], [0, 1, 0, 1]),
    ("zero", "next_step", [0.6, 1.2, 0.6, 1.2], [0, 1, 0, 1]),
    ("zero", "next_step_hold", [0.6, 1.2, 0.0, 0.6], [0, 1, 0, 0]),
])
def test_reset_modes_and_timing(mode, timing, expected_v, expected_s):
    """IF with r*dt*x = 0.6 per step and v_th = 1: each convention worked out by hand."""
    ifn = nir.IF(r=np.array([0.6]), v_threshold=np.array([1.0]), v_reset=np.array([0.0]))
    sem = Semantics(dt=1.0, reset=mode, reset_timing=timing)
    res = simulate(chain({"n": ifn}, [(1,), (1,)], sem), np.ones((4, 1)), record=["n"])
    np.testing.assert_allclose(res.v["n"][:, 0, 0], expected_v, atol=1e-12)
    assert res.spikes["n"][:, 0, 0].tolist() == expected_s


def test_recurrent_edge_delivers_previous_step():
    """input -> a (Affine 1) -> n (I, v += x) -> w (Linear 10) -> back to a's sum: zeros at t=0."""
    integ = nir.I(r=np.array([1.0]))
    nodes = {"a": nir.Affine(weight=np.eye(1), bias=np.zeros(1)), "n": integ, "w": nir.Linear(weight=10 * np.eye(1))}
    g = Graph({"input": nir.Input(input_type=np.array([1])), **nodes, "output": nir.Output(output_type=np.array([1]))},
              [("input", "a"), ("a", "n"), ("n", "w"), ("w", "n"), ("n", "output")],
              {k: (1,) for k in ("input", "a", "n", "w", "output")}, {k: (1,) for k in ("input", "a", "n", "w", "output")},
              semantics=Semantics(dt=1.0))
    assert g.delayed == {("w", "n")}
    v = simulate(g, np.array([[1.0], [0.0], [0.0]]), record=["n"]).v["n"][:, 0, 0]
    np.testing.assert_allclose(v, [1.0, 11.0, 121.0])  # v_t = v_{t-1} + x_t + 10*v_{t-1}


def test_delay_threshold_scale_flatten():
    nodes = {"s": nir.Scale(scale=np.array([[2.0, -1.0], [1.0, 3.0]])),
             "f": nir.Flatten(input_type={"input": np.array([2, 2])}, start_dim=0, end_dim=-1),
             "d": nir.Delay(delay=np.array([0.0, 1.0, 2.0, 0.0])),
             "t": nir.Threshold(threshold=np.full(4, 0.5))}
    g = chain(nodes, [(2, 2), (2, 2), (4,), (4,), (4,)], Semantics(dt=1.0))
    x = np.zeros((4, 2, 2))
    x[0] = [[1, 1], [1, 1]]
    res = simulate(g, x, record=["d", "t"])
    d = res.extra["outputs"]["d"][:, 0]
    np.testing.assert_allclose(d[:, 0], [2, 0, 0, 0])
    np.testing.assert_allclose(d[:, 1], [0, -1, 0, 0])
    np.testing.assert_allclose(d[:, 2], [0, 0, 1, 0])
    assert res.spikes["t"][:, 0].tolist() == [[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    with pytest.raises(InvalidModel, match="multiples of dt"):
        simulate(chain({"d": nir.Delay(delay=np.array([0.5]))}, [(1,), (1,)], Semantics(dt=1.0)), np.ones((2, 1)))


def test_counters_by_hand():
    w = np.array([[1.0, 0.0, 2.0], [0.5, 0.0, 0.0]])  # fan-out per input: 2, 0, 1
    lif = nir.LIF(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2), v_threshold=np.full(2, 0.5),
                  v_reset=np.zeros(2))
    g = chain({"a": nir.Affine(weight=w, bias=np.zeros(2)), "n": lif}, [(3,), (2,), (2,)])
    x = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=float)
    res = simulate(g, x, record=["n"])
    assert res.per_layer["a"]["synaptic_events"] == (2 + 0) + (0 + 1) + (2 + 1)
    assert res.per_layer["a"]["dense_synaptic_ops"] == 6 * 3  # all 6 weights, zeros too, 3 steps
    assert res.per_layer["a"]["macs"] == 0  # 0/1 input: events, not MACs
    assert res.counters["neuron_updates"] == 2 * 3
    assert res.counters["spikes"] == int(res.spikes["n"].sum())
    assert res.counters["ticks"] == 3 and res.sim_time_s == pytest.approx(3e-4)
    assert simulate(g, 0.5 * x).per_layer["a"]["macs"] == 6  # real-valued input counts MACs


def test_batch_equals_separate_runs_and_float32():
    rng = np.random.default_rng(2)
    lif = nir.CubaLIF(tau_syn=np.full(4, 2e-4), tau_mem=np.full(4, 1e-3), r=np.full(4, 10.0), v_leak=np.zeros(4),
                      v_threshold=np.full(4, 0.3), v_reset=np.zeros(4), w_in=np.full(4, 2.0))
    g = chain({"a": nir.Affine(weight=rng.normal(size=(4, 3)), bias=np.zeros(4)), "n": lif}, [(3,), (4,), (4,)])
    x = (rng.random((30, 5, 3)) < 0.4).astype(float)
    both = simulate(g, x, record=["n"])
    assert both.spikes["n"].sum() > 0
    for b in range(5):
        one = simulate(g, x[:, b], record=["n"])
        np.testing.assert_array_equal(one.spikes["n"][:, 0], both.spikes["n"][:, b])
        np.testing.assert_allclose(one.extra["i"]["n"][:, 0], both.extra["i"]["n"][:, b])
    f32 = simulate(g, x, record=["n"], dtype=np.float32)
    assert f32.v["n"].dtype == np.float32
    np.testing.assert_allclose(f32.v["n"], both.v["n"], atol=1e-5)


def test_bad_inputs_are_named():
    g = chain({"a": nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2))}, [(3,), (2,)])
    with pytest.raises(UsageError, match=r"input: input has shape \(4, 5\); expected \(T, 3\)"):
        simulate(g, np.zeros((4, 5)))
    with pytest.raises(UsageError, match="NaN"):
        simulate(g, np.full((4, 3), np.nan))
    with pytest.raises(UsageError, match="cannot record node 'nope'"):
        simulate(g, np.zeros((4, 3)), record=["nope"])
    with pytest.raises(UsageError, match="steps"):
        simulate(g, np.zeros((4, 3)), steps=0)
    assert simulate(g, np.zeros((4, 3)), steps=6).spikes["output"].shape == (6, 1, 2)
    assert as_batched(np.zeros((4, 2, 3)), (3,)).shape == (4, 2, 3)
    lif = nir.LIF(tau=np.array([-1.0]), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.ones(1), v_reset=np.zeros(1))
    with pytest.raises(InvalidModel, match="n: tau must be positive"):
        simulate(chain({"n": lif}, [(1,), (1,)]), np.zeros((2, 1)))
    with pytest.raises(UnsupportedNode, match="x: node type"):
        simulate(chain({"x": nir.NIRGraph(nodes={}, edges=[], type_check=False)}, [(1,), (1,)]), np.zeros((2, 1)))
