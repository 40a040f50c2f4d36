"""neurodeploy.pynn on the reference: the PyNN API surface and the sPyNNaker dialect, expected
values from closed forms (the impulse response of IF_curr_exp, the pair rule's exponential), the
export's semantics and delays, Neo blocks, weights between runs, and bad input named."""
from __future__ import annotations

import math

import neo
import nir
import numpy as np
import pytest

import neurodeploy.pynn as sim
from neurodeploy import ir
from neurodeploy.errors import InvalidModel, UnsupportedNode, UnsupportedSemantics, UsageError
from pynn_scenarios import CELL, responses, stdp_trajectory


@pytest.fixture(autouse=True)
def fresh():
    yield
    sim.state.end()


def test_impulse_response_is_pynn_closed_form():
    # one spike at 2 ms, delay 1 ms: PyNN adds w to the current at 3 ms; then
    # v(t) - v_rest = w R ts/(ts - tm) (e^{-t/ts} - e^{-t/tm}), t since 3 ms (sampled after each step)
    w, tm, ts, cm = 2.0, 3.0, 0.3, 0.27
    r = responses(sim, weights=(w,), steps=12, times=(2.0,))
    t = np.arange(1, 9)
    expect = -60.0 + w * (tm / cm) * ts / (ts - tm) * (np.exp(-t / ts) - np.exp(-t / tm))
    np.testing.assert_allclose(r["v"][3 + t, 0], expect, rtol=0, atol=1e-9)
    np.testing.assert_allclose(r["v"][:4, 0], -60.0)
    assert not r["spikes"].any()


def test_inhibitory_magnitude_and_sign_agree():
    # sPyNNaker dialect: the positive magnitude on receptor 'inhibitory' hyperpolarises,
    # exactly mirroring the excitatory response
    r = responses(sim, weights=(2.0, -2.0), steps=12, times=(2.0,))
    np.testing.assert_allclose(r["v"][:, 0] + 60.0, -(r["v"][:, 1] + 60.0), atol=1e-12)
    assert r["v"][5, 1] < -60.5


def test_refractory_one_step_after_spike():
    # strong input on 2, 3 ms: the cell spikes for the first (at 4 ms) and is held at 5 ms
    # (tau_refrac = 1 step, sPyNNaker/NEST), then spikes again for the one at 9 ms
    r = responses(sim, weights=(9.0,), steps=14, times=(2.0, 3.0, 9.0))
    assert list(np.nonzero(r["spikes"][:, 0])[0]) == [4, 11]


@pytest.mark.parametrize("pre, post, sign, dendritic", [([3.0], [6.0], 1, 0), ([10.0], [4.0], -1, 0),
                                                        ([3.0], [6.0], 1, 1), ([9.0], [4.0], -1, 1)])
def test_stdp_pair_rule_closed_form(pre, post, sign, dendritic):
    # post spikes at post + 2 (drive delay 1, current acts next step). Axonal delay 1: the rule sees
    # the pre spike at pre + 1 and the post spike when it happens; dendritic: the pre spike at pre,
    # the post spike 1 step late (it travels back along the dendrite)
    a, w_max, w0, tau = 0.05, 0.5, 0.25, 3.0
    r = stdp_trajectory(sim, [pre], [post], steps=20, a_plus=a, a_minus=a, w_max=w_max, w0=w0, tau=tau,
                        dendritic=dendritic)
    t_pre, t_post = pre[0] + 1 - dendritic, post[0] + 2 + dendritic
    assert list(np.nonzero(r["post_spikes"][:, 0])[0]) == [post[0] + 2]
    dw = a * math.exp(-abs(t_post - t_pre) / tau)  # the sPyNNaker dialect: A in weight units
    assert r["w"][-1, 0, 0] == pytest.approx(w0 + sign * dw, abs=1e-12)
    change = int(max(t_pre, t_post))
    np.testing.assert_allclose(r["w"][:change, 0, 0], w0)  # weights read after runs of 1..change ms


def test_weights_between_runs_and_neo_block():
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0, 8.0], [2.0]]), label="src")
    cells = sim.Population(2, sim.IF_curr_exp(**CELL), label="cells")
    sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=9.0, delay=2.0))
    rule = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(3.0, 3.0, 0.1, 0.1),
                             weight_dependence=sim.AdditiveWeightDependence(0.0, 1.0), weight=0.5, delay=1.0)
    plastic = sim.Projection(src, cells, sim.AllToAllConnector(), rule)
    cells.record(["spikes", "v"])
    w_before = plastic.get("weight", format="array")
    sim.run(3.0)
    w_early = plastic.get("weight", format="array")
    sim.run(10.0)
    w_late = plastic.get("weight", format="array")
    np.testing.assert_allclose(w_before, 0.5)
    assert w_early.shape == (2, 2) and not np.allclose(w_early, w_late)
    blk = cells.get_data()
    assert isinstance(blk, neo.Block)
    seg = blk.segments[0]
    assert [st.annotations["source_index"] for st in seg.spiketrains] == [0, 1]
    assert list(seg.spiketrains[0].magnitude) == [4.0, 11.0]  # 1 + 2 + 1, 8 + 2 + 1
    assert seg.filter(name="v")[0].shape == (13, 2)
    assert sim.get_current_time() == 13.0


def test_views_assemblies_and_connectors():
    sim.setup(timestep=1.0, seed=4)
    a = sim.Population(6, sim.IF_curr_exp(**CELL), label="a")
    b = sim.Population(3, sim.IF_curr_exp(**CELL), label="b")
    v = sim.PopulationView(a, range(2, 5))
    assert list(v.mask) == [2, 3, 4] and a[1:3].size == 2 and a[[True, False] * 3].size == 3
    both = a + b
    assert isinstance(both, sim.Assembly) and both.size == 9
    self_free = sim.Projection(both, both, sim.AllToAllConnector(allow_self_connections=False))
    assert len(self_free) == 9 * 8
    fl = sim.Projection(v, b, sim.FromListConnector([(0, 1, 2.0, 3.0), (2, 0, 4.0, 1.0)]))
    assert fl.get(["weight", "delay"]) == [(0, 1, 2.0, 3.0), (2, 0, 4.0, 1.0)]
    fp = sim.Projection(a, b, sim.FixedProbabilityConnector(0.5), sim.StaticSynapse(weight=1.0))
    assert 0 < len(fp) < 18


def test_export_carries_semantics_and_delays(tmp_path):
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0], [2.0]]), label="src")
    cells = sim.Population(2, sim.IF_curr_exp(**CELL), label="cells")
    cells.set(v=-60.0)
    sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=6.0, delay=3.0),
                   receptor_type="inhibitory")
    path = tmp_path / "net.nir"
    sim.export(path)
    g = ir.load(path)
    sem = g.semantics
    assert (sem.dt, sem.refractory, sem.reset) == (1e-3, 1e-3, "v_reset")
    delays = {n: node.delay for n, node in g.nodes.items() if isinstance(node, nir.Delay)}
    np.testing.assert_allclose(delays["src.delay3ms"], 3e-3)
    np.testing.assert_allclose(delays["cells.lag"], 1e-3)
    w = next(node.weight for n, node in g.nodes.items() if isinstance(node, nir.Linear))
    np.testing.assert_allclose(w, -6.0 * np.eye(2))  # the magnitude, made inhibitory
    lif = g.nodes["cells"]
    np.testing.assert_allclose(lif.v_threshold, 3.0)  # relative to v_rest -60 mV
    np.testing.assert_allclose(g.metadata["pynn"]["v_rest"]["cells"], [-60.0, -60.0])


def _net(**cell):
    sim.setup(timestep=1.0)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]), label="src")
    cells = sim.Population(2, sim.IF_curr_exp(**dict(CELL, **cell)), label="cells")
    return src, cells


def _stdp(dep=sim.AdditiveWeightDependence):
    return sim.STDPMechanism(timing_dependence=sim.SpikePairRule(3.0, 3.0, 0.1, 0.1),
                             weight_dependence=dep(0.0, 1.0), weight=0.5, delay=1.0)


@pytest.mark.parametrize("case, error, words", [
    ("cond", UnsupportedNode, ["IF_cond_exp", "condcells"]),
    ("multiplicative", UnsupportedNode, ["MultiplicativeWeightDependence", "plastic"]),
    ("stdp_one_to_one", UnsupportedNode, ["all-to-all", "plastic"]),
    ("negative_exc", InvalidModel, ["excitatory weights", "neg"]),
    ("half_delay", InvalidModel, ["delay", "half"]),
    ("tau_syn", UnsupportedNode, ["tau_syn_E", "cells"]),
    ("v_init", UnsupportedNode, ["initial v", "cells"]),
])
def test_bad_input_named(case, error, words):
    src, cells = _net(**({"tau_syn_I": 1.0} if case == "tau_syn" else {}))
    if case == "cond":
        sim.Population(1, sim.IF_cond_exp(), label="condcells")
    elif case == "multiplicative":
        sim.Projection(src, cells, sim.AllToAllConnector(), _stdp(sim.MultiplicativeWeightDependence), label="plastic")
    elif case == "stdp_one_to_one":
        sim.Projection(src, cells, sim.OneToOneConnector(), _stdp(), label="plastic")
    elif case == "half_delay":
        sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=1.0, delay=1.5), label="half")
    elif case == "v_init":
        cells.set(v=-55.0)
    if case == "negative_exc":
        with pytest.raises(error) as e:
            sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=-1.0), label="neg")
    else:
        with pytest.raises(error) as e:
            sim.run(5.0)
    text = str(e.value)
    assert all(w in text for w in words), text


def test_network_frozen_after_run_and_refractory_uniform():
    src, cells = _net()
    sim.run(2.0)
    with pytest.raises(UsageError, match="cannot change after run"):
        cells.set(tau_m=5.0)
    sim.state.end()
    src, cells = _net()
    sim.Population(1, sim.IF_curr_exp(**dict(CELL, tau_refrac=2.0)), label="other")
    with pytest.raises(UnsupportedSemantics, match="tau_refrac differs"):
        sim.run(2.0)
    with pytest.raises(UsageError, match="unknown target"):
        sim.setup(timestep=1.0, target="loihi")


def test_poisson_source_rate_and_seed():
    def counts(seed):
        sim.setup(timestep=1.0, seed=seed)
        src = sim.Population(50, sim.SpikeSourcePoisson(rate=100.0, start=100.0, duration=800.0), label="poisson")
        src.record("spikes")
        sim.run(1000.0)
        trains = src.get_data().segments[0].spiketrains
        times = np.concatenate([np.asarray(st.magnitude) for st in trains])
        sim.end()
        return times
    a, b = counts(7), counts(7)
    np.testing.assert_array_equal(a, b)
    assert times_ok(a)


def times_ok(times):
    # 50 cells x 100 Hz x 0.8 s = 4000 expected (Poisson sd ~63); none outside [100, 900) ms
    return abs(len(times) - 4000) < 300 and times.min() >= 100.0 and times.max() < 900.0
