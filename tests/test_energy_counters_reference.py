"""The reference simulator's event counters equal the events its own spikes imply."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy.energy import check_counters, implied_counters
from neurodeploy.ir.graph import Graph
from neurodeploy.sim.reference import simulate

T, B = 16, 3


def _lif(shape, thr=1.0):
    full = lambda v: np.full(shape, v)  # noqa: E731
    return nir.LIF(tau=full(2e-3), r=full(20.0), v_leak=full(0.0), v_threshold=full(thr))


def _graph(nodes, edges, out_shape, in_shape):
    return Graph(nodes, edges, {**out_shape, **in_shape}, out_shape)


def feedforward(zero_frac: float):
    rng = np.random.default_rng(5)
    w1, w2 = rng.normal(size=(12, 6)) * 0.8, rng.normal(size=(4, 12)) * 0.8
    w1[rng.random(w1.shape) < zero_frac] = 0
    w2[rng.random(w2.shape) < zero_frac] = 0
    nodes = {"input": nir.Input(input_type={"input": np.array([6])}), "fc1": nir.Affine(w1, np.zeros(12)),
             "lif1": _lif(12), "fc2": nir.Linear(w2), "lif2": _lif(4),
             "output": nir.Output(output_type={"output": np.array([4])})}
    out = {"input": (6,), "fc1": (12,), "lif1": (12,), "fc2": (4,), "lif2": (4,), "output": (4,)}
    chain = list(nodes)
    return _graph(nodes, list(zip(chain, chain[1:])), out, {"fc1": (6,), "fc2": (12,)}), (6,)


def conv(zeros: bool = False):
    rng = np.random.default_rng(6)
    w = rng.normal(size=(3, 2, 3, 3))
    if zeros:
        w[0, 1] = 0
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 7, 7])}),
             "conv": nir.Conv2d(input_shape=(7, 7), weight=w, stride=2, padding=1, dilation=1, groups=1,
                                bias=np.zeros(3)),
             "lif": _lif((3, 4, 4), 0.5), "flat": nir.Flatten(input_type={"input": np.array([3, 4, 4])}, start_dim=0),
             "fc": nir.Affine(rng.normal(size=(5, 48)), np.zeros(5)), "lif2": _lif((5,), 0.5),
             "output": nir.Output(output_type={"output": np.array([5])})}
    out = {"input": (2, 7, 7), "conv": (3, 4, 4), "lif": (3, 4, 4), "flat": (48,), "fc": (5,), "lif2": (5,),
           "output": (5,)}
    chain = list(nodes)
    return _graph(nodes, list(zip(chain, chain[1:])), out, {"conv": (2, 7, 7), "flat": (3, 4, 4), "fc": (48,)}), (2, 7, 7)


def recurrent():
    rng = np.random.default_rng(7)
    nodes = {"input": nir.Input(input_type={"input": np.array([5])}),
             "fc": nir.Affine(rng.normal(size=(8, 5)) * 2, np.zeros(8)), "lif": _lif(8),
             "w_rec": nir.Linear(rng.normal(size=(8, 8))), "output": nir.Output(output_type={"output": np.array([8])})}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]
    out = {"input": (5,), "fc": (8,), "lif": (8,), "w_rec": (8,), "output": (8,)}
    return _graph(nodes, edges, out, {"fc": (5,)}), (5,)


def _run(graph, in_shape, real: bool):
    rng = np.random.default_rng(1)
    x = rng.random((T, B) + in_shape)
    x = x * 3 if real else (x < 0.4).astype(float)
    r = simulate(graph, x, record=graph.neurons())
    return r, x


@pytest.mark.parametrize("build", [lambda: feedforward(0.0), conv, recurrent], ids=["ff", "conv", "rnn"])
@pytest.mark.parametrize("real", [False, True], ids=["spikes-in", "real-in"])
def test_reference_counters_match_spikes(build, real):
    graph, in_shape = build()
    r, x = _run(graph, in_shape, real)
    implied = implied_counters(graph, r, inputs=x)
    assert implied["synaptic_events"] > 0 and implied["spikes"] > 0
    assert check_counters(r, graph, inputs=x, keys=["synaptic_events", "macs", "neuron_updates", "spikes",
                                                    "dense_synaptic_ops"]) == {}
    assert (r.counters["macs"] > 0) == real


@pytest.mark.parametrize("build", [lambda: feedforward(0.5), lambda: conv(zeros=True)], ids=["ff", "conv"])
def test_zero_weights_are_not_synaptic_events(build):
    graph, in_shape = build()
    r, x = _run(graph, in_shape, real=False)
    assert check_counters(r, graph, inputs=x, keys=["synaptic_events", "spikes", "neuron_updates"]) == {}


def test_dense_ops_count_zero_weights():
    graph, in_shape = feedforward(0.5)
    r, x = _run(graph, in_shape, real=False)
    assert check_counters(r, graph, inputs=x, keys=["dense_synaptic_ops"]) == {}


def test_a_lost_event_is_caught():
    graph, in_shape = feedforward(0.0)
    r, x = _run(graph, in_shape, real=False)
    r.counters["synaptic_events"] -= 1
    bad = check_counters(r, graph, inputs=x)
    assert list(bad) == ["synaptic_events"]
    assert bad["synaptic_events"][0] == bad["synaptic_events"][1] - 1
