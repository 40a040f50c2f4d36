"""How the reference drives a learning rule (neurodeploy/sim/plastic.py): which signals are pre and
post, when new weights act, per-sample weights, the recorded trajectory, ambiguous graphs refused.
The rule itself is replaced by a toy here (the real STDP is checked against Brian2 elsewhere)."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir import dialect
from neurodeploy.ops import extensions
from neurodeploy.sim.reference import simulate
from test_dialect import port

W0 = np.array([[0.6, 0.0, 0.3], [0.2, 0.5, 0.0]])


class Hebb:
    """Toy rule: W += 0.25 * outer(post, pre), per sample."""

    def __init__(self, name, node, w0, sem, batch, dtype):
        self.w = np.repeat(np.asarray(w0, dtype)[None], batch, axis=0)
        self.calls = 0

    def step(self, pre, post):
        self.w = self.w + 0.25 * post[:, :, None] * pre[:, None, :]
        self.calls += 1
        return self.w

    def counters(self):
        return {"weight_updates": self.calls}


@pytest.fixture
def toy_rule(monkeypatch):
    real = extensions.dynamics
    monkeypatch.setattr(extensions, "dynamics", lambda t, name=None: Hebb if t == "STDP" else real(t, name))


def stdp_node(weight="w"):
    return dialect.STDP(weight=weight, tau_plus=1e-3, tau_minus=1e-3, a_plus=0.1, a_minus=0.1, w_min=0.0, w_max=1.0)


def if_node(n=2):
    # dt = 1e-4 s and r = 1e4: v += x each step; spike when v > 1, reset to 0
    return nir.IF(r=np.full(n, 1e4), v_threshold=np.ones(n), v_reset=np.zeros(n))


def graph(extra_nodes=None, extra_edges=()):
    nodes = {"in": port("in", 3), "w": nir.Linear(weight=W0.copy()), "post": if_node(), "stdp": stdp_node(),
             "out": port("out", 2), **(extra_nodes or {})}
    edges = [("in", "w"), ("w", "post"), ("post", "out"), *extra_edges]
    return ir.normalize(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))


def test_pre_post_and_timing_per_sample(toy_rule):
    rng = np.random.default_rng(2)
    x = (rng.random((15, 2, 3)) < 0.6).astype(float)
    res = simulate(graph(), x, record=["post", "stdp"])
    for b in range(2):  # an independent loop per sample
        w, v, spikes, traj = W0.copy(), np.zeros(2), [], []
        for t in range(15):
            v = v + w @ x[t, b]  # this step uses the weights learnt up to the previous step
            s = (v > 1).astype(float)
            v[s > 0] = 0
            w = w + 0.25 * np.outer(s, x[t, b])
            spikes.append(s)
            traj.append(w)
        np.testing.assert_array_equal(res.spikes["post"][:, b], np.array(spikes))
        np.testing.assert_allclose(res.extra["weights"]["stdp"][:, b], np.array(traj), rtol=1e-12)
    assert res.extra["weights"]["stdp"].shape == (15, 2, 2, 3)
    assert res.per_layer["stdp"] == {"weight_updates": 15}
    # a plastic layer counts every synapse of an active input (its weights are all stored)
    assert res.per_layer["w"]["synaptic_events"] == int(np.count_nonzero(x)) * 2


def test_weights_recorded_only_when_asked(toy_rule):
    res = simulate(graph(), np.ones((3, 3)))
    assert res.extra["weights"] == {}


def test_real_rule_runs_and_keeps_bounds():
    x = (np.random.default_rng(4).random((30, 3)) < 0.5).astype(float)
    res = simulate(graph(), x, record=["stdp"])
    w = res.extra["weights"]["stdp"]
    assert w.min() >= 0.0 and w.max() <= 1.0 and not np.allclose(w[-1, 0], W0)


@pytest.mark.parametrize("extra_nodes, extra_edges, words", [
    ({"post2": if_node()}, [("w", "post2")], "ambiguous"),  # feeds two neurons
    ({"li": nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2))}, [], None),
])
def test_ambiguous_post_is_refused(toy_rule, extra_nodes, extra_edges, words):
    nodes = {"in": port("in", 3), "w": nir.Linear(weight=W0.copy()), "stdp": stdp_node(), "out": port("out", 2)}
    if words is None:  # the weight node feeds a non-spiking neuron
        nodes.update(extra_nodes)
        edges = [("in", "w"), ("w", "li"), ("li", "out")]
    else:
        nodes.update(post=if_node(), **extra_nodes)
        edges = [("in", "w"), ("w", "post"), ("post", "out"), *extra_edges]
    g = ir.normalize(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    with pytest.raises(InvalidModel, match="post-synaptic spikes of 'w' are ambiguous") as e:
        simulate(g, np.ones((2, 3)))
    assert e.value.where == "stdp"


def test_second_rule_and_sparse_weight_refused(toy_rule):
    with pytest.raises(InvalidModel, match="one rule per weight node"):
        simulate(graph({"stdp2": stdp_node()}), np.ones((2, 3)))
    import scipy.sparse as sp

    g = graph()
    g.nodes["w"] = nir.Linear(weight=sp.csr_array(W0))
    with pytest.raises(UnsupportedNode, match="sparse weight"):
        simulate(g, np.ones((2, 3)))
