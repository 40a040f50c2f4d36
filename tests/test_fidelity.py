"""neurodeploy.fidelity: the measures on hand-worked arrays, the timeline lags, and `validate` on
SpiNNaker 2 and Loihi 2 artifacts (a mapping error must show against the quantized reference)."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from contract.conftest import chain
from neurodeploy import backend as bk
from neurodeploy import fidelity as fd
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

T, B = 40, 3


def test_measures_on_hand_worked_arrays():
    # (T=3, B=2, N=2): one entry of 12 differs, at step 2, sample 1, neuron 0
    ref = np.array([[[1, 0], [0, 1]], [[1, 0], [1, 1]], [[0, 1], [0, 0]]])
    tgt = ref.copy()
    tgt[2, 1, 0] = 1
    assert fd.spike_agreement(tgt, ref) == pytest.approx(11 / 12)
    assert fd.first_divergence(tgt, ref) == 2
    assert fd.first_divergence(ref, ref) is None
    # counts: ref sample 0 (2, 1), sample 1 (1, 2); target sample 1 (2, 2) -> a tie, argmax 0
    assert fd.decision_agreement(tgt, ref) == (0.5, 2)
    assert fd.accuracy(ref, [0, 1]) == 1.0 and fd.accuracy(tgt, [0, 1]) == 0.5
    # Pearson over counts (2,1,1,2) vs (2,1,2,2): by hand r = 0.5773...
    assert fd.correlation(tgt.sum(0), ref.sum(0)) == pytest.approx(1 / np.sqrt(3))
    assert fd.correlation(np.zeros(4), np.arange(4)) is None


def test_a_tie_in_the_reference_is_not_a_decision():
    ref = np.array([[[1, 1], [1, 0]]])  # sample 0 ties
    assert fd.decision_agreement(np.array([[[0, 1], [1, 0]]]), ref) == (1.0, 1)


def _delay_graph() -> Graph:
    """in -> Delay(3 steps) -> w -> n -> out, and in -> w2 -> n2: Delay steps 3 and 0."""
    lif = lambda: nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))  # noqa: E731
    nodes = {"in": nir.Input(input_type={"input": np.array([2])}), "d": nir.Delay(delay=np.full(2, 0.3)),
             "w": nir.Linear(weight=np.eye(2)), "n": lif(), "w2": nir.Linear(weight=np.eye(2)), "n2": lif(),
             "out": nir.Output(output_type={"output": np.array([2])})}
    edges = [("in", "d"), ("d", "w"), ("w", "n"), ("n", "out"), ("in", "w2"), ("w2", "n2")]
    shapes = dict.fromkeys(nodes, (2,))
    return Graph(nodes, edges, shapes, dict(shapes), semantics=Semantics(dt=0.1))


def test_delay_steps_and_lags():
    g = _delay_graph()
    d = fd.delay_steps(g)
    assert (d["n"], d["n2"], d["out"]) == (3, 0, 3)
    assert fd.lags(g, chain((2, 2)), ["n", "n2"]) == {"n": 3, "n2": 0}


@pytest.fixture(scope="module")
def x():
    return (np.random.default_rng(0).random((T, B, 12)) < 0.3).astype(np.float32)


@pytest.mark.parametrize("target", ["spinnaker2", "loihi2"])
def test_validate_is_exact_against_the_targets_own_parameters(target, x, tmp_path):
    art = bk.compile(chain((12, 20, 8)), target, tmp_path / "a", options={"steps": str(T), "record": "all"})
    rep = fd.validate(art.path, x, labels=[0, 1, 2])
    assert [l.name for l in rep.against_float.layers] == ["n0", "n1"]
    for layer in rep.against_quantized.layers:
        assert layer.agreement == 1.0 and layer.first_divergence is None and layer.spikes_target > 0
    assert rep.against_quantized.decision_agreement == 1.0
    # against the float reference only weight rounding remains: close, counted the same way
    for layer in rep.against_float.layers:
        assert layer.agreement > 0.98 and layer.count_correlation > 0.99
    assert rep.against_float.accuracy_reference is not None


def test_loihi_layers_are_aligned_by_their_synapse_delays(x, tmp_path):
    """Loihi delays each synapse layer a step; validate compares from each layer's lag on. The raw
    chip trace shifted by hand (independent of validate) agrees, unshifted it does not."""
    g = chain((12, 20, 8))
    art = bk.compile(g, "loihi2", tmp_path / "a", options={"steps": str(T + 2), "record": "all"})
    rep = fd.validate(art.path, x)
    assert rep.lag == {"n0": 1, "n1": 2}
    raw = bk.run(art.path, np.concatenate([x, np.zeros((2, B, 12), x.dtype)]), record=["n0", "n1"]).spikes
    ref = simulate(g, x, record=["n0", "n1"]).spikes
    for n, lag in rep.lag.items():
        shifted = fd.spike_agreement(raw[n][lag:lag + T], ref[n])
        assert shifted == pytest.approx(next(l.agreement for l in rep.against_float.layers if l.name == n))
        assert fd.spike_agreement(raw[n][:T], ref[n]) < shifted - 0.005


def test_a_mapping_error_shows_against_the_quantized_reference(x, tmp_path, monkeypatch):
    """A backend whose engine loses one neuron's synapses (a mapping bug) must fail the quantized
    comparison, from the layer of that neuron on."""
    art = bk.compile(chain((12, 20, 8)), "spinnaker2", tmp_path / "a", options={"steps": str(T), "record": "all"})
    backend = bk.get("spinnaker2")
    real = backend.quantized_graph

    def claimed(a):  # the model the engine claims to realise differs by one neuron's row from what it runs
        q = real(a)
        w = np.array(q.nodes["w1"].weight, dtype=np.float64)
        w[np.argmax(w.sum(1))] = 0
        q.nodes["w1"].weight = w
        return q

    monkeypatch.setattr(backend, "quantized_graph", claimed)
    rep = fd.validate(art.path, x)
    n0, n1 = rep.against_quantized.layers
    assert n0.agreement == 1.0 and n1.agreement < 1.0 and n1.first_divergence is not None


def test_a_membrane_readout_is_compared_by_its_membrane():
    """Non-spiking layers: correlation of time-mean membranes, largest difference, first step that
    differs; the decision is the argmax of the time-summed membrane."""
    ref = np.zeros((4, 2, 3))
    ref[:, 0, 2], ref[:, 1, 0] = 1.0, 2.0  # decisions: sample 0 -> 2, sample 1 -> 0
    tgt = ref.copy()
    tgt[3, 1, 1] = 9.0  # sample 1's sum now favours neuron 1
    layer = fd.compare_layer("li", False, tgt, ref)
    assert layer.agreement is None and layer.first_divergence == 3 and layer.max_v_difference == 9.0
    assert fd.decisions(ref)[0].tolist() == [2, 0] and fd.decisions(tgt)[0].tolist() == [2, 1]
    assert fd.decision_agreement(tgt, ref) == (0.5, 2)


def test_the_lava_engine_is_aligned_the_same_way(x, tmp_path):
    """Lava runs the artifact on the chip's timeline too: validate aligns it by the same lags, and it
    is spike-exact against the quantized reference."""
    from test_loihi_support import require_lava

    require_lava()
    art = bk.compile(chain((12, 20, 8)), "loihi2", tmp_path / "a", options={"steps": str(T), "record": "all"})
    rep = fd.validate(art.path, x, engine="lava")
    assert rep.engine == "lava" and rep.lag == {"n0": 1, "n1": 2}
    assert [l.agreement for l in rep.against_quantized.layers] == [1.0, 1.0]
