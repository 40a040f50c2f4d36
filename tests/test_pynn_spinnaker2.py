"""neurodeploy.pynn on SpiNNaker 2 (backends/spinnaker2/plasticity.py + plastic_kernel.py): STDP
on the PEs against the reference, the weight words of the CAM's 0-60 nA weights, the cycle model
with plasticity work, and bad input named."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import neurodeploy.pynn as sim
from neurodeploy import backend, ir, targets
from neurodeploy.energy import estimate
from neurodeploy.errors import ResourceExceeded, UnsupportedNode
from neurodeploy.pynn import build
from pynn_scenarios import CELL, stdp_trajectory

CAM = Path(__file__).resolve().parents[1] / "examples" / "hippocampal_cam"
S2 = {"timestep": 1.0, "target": "spinnaker2"}


@pytest.fixture(autouse=True)
def fresh():
    yield
    sim.state.end()


class _On:
    """neurodeploy.pynn with setup() sent to one target."""

    def __init__(self, **setup):
        self.kw = setup

    def __getattr__(self, name):
        return getattr(sim, name)

    def setup(self, **kw):
        return sim.setup(**{**kw, **self.kw})


@pytest.mark.parametrize("dendritic", [0, 1])
def test_stdp_words_follow_the_reference(dendritic):
    kw = dict(pre_times=[[2, 9, 15, 21], [5, 12, 18]], post_times=[[4, 10, 20], [7, 13, 22]], dendritic=dendritic)
    ref = stdp_trajectory(sim, **kw)
    chip = stdp_trajectory(_On(target="spinnaker2"), **kw)
    np.testing.assert_array_equal(chip["post_spikes"], ref["post_spikes"])
    lsb = 2.0 ** np.ceil(np.log2(0.5 / targets.load("spinnaker2").v("limits.weight_max_plastic")))
    assert np.allclose(chip["w"] / lsb, np.rint(chip["w"] / lsb))  # every word on its grid
    assert np.ptp(ref["w"]) > 100 * lsb
    # each pre or post spike rounds once (<= LSB/2); 7 spikes reach each synapse here
    assert np.abs(chip["w"] - ref["w"]).max() <= 7 * lsb / 2


def _cam_graph():
    sys.path.insert(0, str(CAM))
    import cam
    p = cam.basic()
    sim.setup(timestep=1.0)
    inp = sim.Population(15, sim.SpikeSourceArray(spike_times=cam.stimulus(5, 10, p["ops"])), label="Input")
    out = sim.Population(15, sim.IF_curr_exp(**cam.OUTPUT), label="Output")
    mem = cam.Memory(5, 10, sim)
    mem.connect_in(inp)
    mem.connect_out(out)
    return ir.normalize(*build.for_reference(sim.export_graph())), p


def test_cam_weight_words_hold_0_to_60_nA_exactly(tmp_path):
    g, _ = _cam_graph()
    backend.compile(g, "spinnaker2", tmp_path / "a", options={"steps": 98})
    spec = json.loads((tmp_path / "a" / "plastic.json").read_text())
    z = np.load(tmp_path / "a" / "plastic.npz")
    by = {(pr["pre"], pr["post"], pr["sign"]): pr for pr in spec["projections"]}
    veto = by[("CA3cueCueRecallLayer", "CA3cueContRecallLayer", -1)]  # 6 nA x cont = 60 nA
    assert veto["lsb"] == 4.0 and z[veto["name"] + "/w"].max() == 15
    exc = by[("CA3cueCueRecallLayer", "CA3cueContRecallLayer", 1)]
    assert exc["lsb"] == 0.5 and z[exc["name"] + "/w"].max() == 12
    plastic = [pr for pr in spec["projections"] if pr["rule"]]
    assert len(plastic) == 2 and all(pr["rule"]["hi"] * pr["lsb"] == 6.0 for pr in plastic)
    for pr in spec["projections"]:  # every static weight is held exactly: no saturation, no rounding
        w = np.abs(np.asarray(g.nodes[pr["name"]].weight))
        np.testing.assert_array_equal(z[pr["name"] + "/w"] * pr["lsb"], w if not pr["rule"] else 0 * w)
    assert {pr["delay"] for pr in spec["projections"]} == {1, 2, 3}


def test_plasticity_cycles_counted_and_priced(tmp_path):
    g, p = _cam_graph()
    backend.compile(g, "spinnaker2", tmp_path / "a", options={"steps": 98})
    x = np.zeros((98, 1, 15))
    for i, times in enumerate(__import__("cam").stimulus(5, 10, p["ops"])):
        x[np.asarray(times, int), 0, i] = 1
    res = backend.run(tmp_path / "a", {"Input": x}, steps=98, record=["CA3cueCueRecallLayer"])
    t = targets.load("spinnaker2")
    c = res.counters
    # the two plastic projections (pre sizes 5 and 10): one trace update per pre neuron and tick,
    # one synapse update per weight changed
    expect = 98 * (5 + 10) * t.v("cost.stdp_trace_update") + c["weight_updates"] * t.v("cost.stdp_synapse_update")
    assert c["weight_updates"] > 0 and c["s2_core_cycles"] == expect
    assert res.extra["worst_cycles_per_tick"] < res.extra["cycle_budget"] and res.extra["overruns"] == 0
    rep = estimate(res, "spinnaker2")
    assert rep.by_event["s2_core_cycles"].energy.point > 0 and rep.by_event["s2_core_cycles"].count == expect
    with pytest.raises(ResourceExceeded, match="tick deadline"):
        backend.compile(g, "spinnaker2", tmp_path / "b", options={"steps": 98, "tick": 1e-6})


def test_bad_input_named_on_spinnaker2():
    sim.setup(**S2)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]), label="src")
    cells = sim.Population(2, sim.IF_curr_exp(**CELL), label="cells")
    sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=6.0, delay=9.0), label="far")
    with pytest.raises(ResourceExceeded, match="delay range") as e:
        sim.run(5.0)
    assert "far" in str(e.value)
    sim.state.end()
    sim.setup(**S2)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[1.0]), label="src")
    cells = sim.Population(2, sim.IF_curr_exp(**CELL), label="cells")
    rule = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(3.0, 3.0, 0.1, 0.1),
                             weight_dependence=sim.AdditiveWeightDependence(0.0, 1.0), weight=0.5, delay=1.0)
    sim.Projection(src, cells, sim.AllToAllConnector(), rule, receptor_type="inhibitory", label="inhplastic")
    with pytest.raises(UnsupportedNode, match="inhibitory") as e:
        sim.run(5.0)
    assert "inhplastic" in str(e.value)


def test_quantized_graph_on_the_reference_spikes_like_the_chip(tmp_path):
    from neurodeploy.artifact import Artifact
    from neurodeploy.sim.reference import simulate

    g, p = _cam_graph()
    backend.compile(g, "spinnaker2", tmp_path / "a", options={"steps": 98})
    x = np.zeros((98, 1, 15))
    for i, times in enumerate(__import__("cam").stimulus(5, 10, p["ops"])):
        x[np.asarray(times, int), 0, i] = 1
    layers = ["CA3cueCueRecallLayer", "CA3contCueRecallLayer", "CA3mergeContLayer", "Output"]
    chip = backend.run(tmp_path / "a", {"Input": x}, steps=98, record=layers)
    q = backend.get("spinnaker2").quantized_graph(Artifact(tmp_path / "a"))
    ref = simulate(q, {"Input": x}, steps=98, record=layers)
    for n in layers:
        assert chip.spikes[n].any()
        np.testing.assert_array_equal(chip.spikes[n], ref.spikes[n], err_msg=n)


def test_exported_file_compiles_with_no_flags_and_runs_the_same(tmp_path):
    import subprocess

    g, p = _cam_graph()
    sim.export(tmp_path / "cam.nir")  # semantics in the file: refractory 1 ms, dt 1 ms
    proc = subprocess.run([sys.executable, "-m", "neurodeploy", "compile", str(tmp_path / "cam.nir"),
                           "--target", "spinnaker2", "-o", str(tmp_path / "a")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    backend.compile(g, "spinnaker2", tmp_path / "b", options={"steps": 98})  # what target="spinnaker2" runs
    x = np.zeros((98, 1, 15))
    for i, times in enumerate(__import__("cam").stimulus(5, 10, p["ops"])):
        x[np.asarray(times, int), 0, i] = 1
    layers = ["CA3contContRecallLayer", "Output"]
    a = backend.run(tmp_path / "a", {"Input": x}, steps=98, record=layers)
    b = backend.run(tmp_path / "b", {"Input": x}, steps=98, record=layers)
    for n in layers:
        assert a.spikes[n].any()
        np.testing.assert_array_equal(a.spikes[n], b.spikes[n], err_msg=n)



def test_atoms_per_core_above_the_model_limit_is_refused(tmp_path):
    """-O max_atoms_per_core was clamped silently on the PyNN path; the lif_curr_exp limit of
    targets/spinnaker2.toml must fire as a rule, and a cap below it must slice as asked."""
    limit = int(targets.load("spinnaker2").v("limits.max_atoms_lif_curr_exp"))
    sim.setup(timestep=1.0)
    src = sim.Population(limit + 20, sim.SpikeSourceArray(spike_times=[1.0]), label="src")
    cells = sim.Population(limit + 20, sim.IF_curr_exp(**CELL), label="cells")
    sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=6.0, delay=1.0), label="p")
    g = ir.normalize(*build.for_reference(sim.export_graph()))
    for opt in ("max_atoms_per_core", "atoms_per_core"):
        with pytest.raises(ResourceExceeded, match=r"neurons per PE \(lif_curr_exp\)") as e:
            backend.compile(g, "spinnaker2", tmp_path / opt, options={"steps": 5, opt: f"cells:{limit + 1}"})
        assert "cells" in str(e.value) and not (tmp_path / opt).exists()
    backend.compile(g, "spinnaker2", tmp_path / "b", options={"steps": 5, "max_atoms_per_core": 100})
    pops = {p["name"]: p for p in json.loads((tmp_path / "b" / "plastic.json").read_text())["populations"]}
    assert [hi - lo for lo, hi in pops["cells"]["slices"]] == [100, 100, limit + 20 - 200]
