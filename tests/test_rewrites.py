"""Exact convention rewrites (neurodeploy/lowering/rewrites.py): each against snnTorch's own forward
pass, where the compiler applies them, how they are recorded, and what a refusal says."""
from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.cli import main
from neurodeploy.errors import UnsupportedSemantics
from neurodeploy.frontends.snntorch import export
from neurodeploy.ir import meta
from neurodeploy.lowering import Support, check, rewrites
from neurodeploy.sim.reference import simulate
from tests.test_snntorch_conventions import neuron, random_net, snntorch_run, spikes_in


def _graph(net, n_in):
    return ir.normalize(export(net, torch.zeros(1, n_in)).graph)


def test_late_zero_is_a_same_step_zero_with_the_same_spikes():
    rng = np.random.default_rng(0)
    net = random_net("Leaky", "zero", True, rng, n_in=5)
    x = spikes_in(rng, 60, 3, 5)
    spk, mem = snntorch_run(net, torch.tensor(x))
    new, applied = rewrites.rewrite(_graph(net, 5))
    assert [a["rule"] for a in applied] == ["late_zero"] and applied[0]["nodes"] == ["1", "3"]
    assert (new.semantics.reset, new.semantics.reset_timing) == ("zero", "same_step")
    res = simulate(new, x, record=["1", "3"])
    for i in (1, 3):
        np.testing.assert_array_equal(res.spikes[str(i)], spk[i])
        # recorded v: snnTorch's above-threshold v at a spiking step, 0 after the rewrite
        np.testing.assert_allclose(res.v[str(i)], np.where(spk[i] > 0, 0.0, mem[i]), atol=1e-12)


@pytest.mark.parametrize("kind", ["Leaky", "RLeaky"])
def test_late_subtract_is_a_same_step_subtract_plus_a_self_connection(kind):
    rng = np.random.default_rng(1)
    net = random_net(kind, "subtract", True, rng, n_in=4)
    x = spikes_in(rng, 80, 3, 4, p=0.5)
    spk, mem = snntorch_run(net, torch.tensor(x))
    g = _graph(net, 4)
    new, applied = rewrites.rewrite(g)
    assert [a["rule"] for a in applied] == ["late_subtract"]
    assert (new.semantics.reset, new.semantics.reset_timing) == ("subtract", "same_step")
    names = [n for n in new.neurons()]
    res = simulate(new, x, record=names)
    for i, name in zip((1, 3), names):
        np.testing.assert_array_equal(res.spikes[name], spk[i])
        theta = net[i].threshold.numpy()
        np.testing.assert_allclose(res.v[name], mem[i] - theta * spk[i], atol=1e-9)  # lower by v_th
        fb = new.nodes[f"{name}.reset_feedback"]
        beta = net[i].beta.numpy()
        np.testing.assert_allclose(np.diag(fb.weight), -(1 - beta) * theta)  # k_x = 1 for snnTorch
        assert ((name, f"{name}.reset_feedback") in new.edges and (f"{name}.reset_feedback", name) in new.delayed)


def test_integrate_and_fire_needs_no_self_connection_and_cuba_is_not_rewritten():
    net = nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=1.0), nn.Linear(4, 2),
                        snn.Synaptic(alpha=0.5, beta=0.8)).double()
    new, applied = rewrites.rewrite(_graph(net, 3))
    assert applied == [{"rule": "late_subtract", "nodes": ["1"], "effect": rewrites.EFFECT["late_subtract"]}]
    assert len(new.nodes) == 6  # no feedback node for IF
    assert meta.node_semantics(new, "1").reset_timing == "same_step"
    assert meta.node_semantics(new, "3").reset_timing == "next_step"  # CubaLIF keeps its late subtract


def test_loihi_compiles_snntorch_leaky_zero_and_records_the_rewrite(tmp_path, capsys):
    rng = np.random.default_rng(2)
    net = random_net("Leaky", "zero", True, rng, n_in=4, per_neuron=False)
    path = tmp_path / "m.nir"
    ir.write(path, export(net, torch.zeros(1, 4)).graph)
    assert main(["compile", str(path), "--target", "loihi2", "-o", str(tmp_path / "a")]) == 0
    assert "rewrote 1, 3 (late_zero)" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert [r["rule"] for r in manifest["rewrites"]] == ["late_zero"]
    assert manifest["semantics"]["reset_timing"] == "same_step"
    assert ir.load(tmp_path / "a" / manifest["model"]).semantics.reset_timing == "same_step"


def test_a_refusal_names_the_missing_convention_and_the_closest_option_with_its_cost():
    rng = np.random.default_rng(3)
    g = _graph(random_net("Leaky", "subtract", True, rng, n_in=4, per_neuron=False), 4)
    with pytest.raises(UnsupportedSemantics) as e:
        bk.plan(g, "loihi2")
    text = str(e.value)
    assert "not 'subtract'" in text and "no exact rewrite of reset=subtract, reset_timing=next_step" in text
    assert "closest option: --reset zero --reset-timing same_step" in text
    score, spikes, reset, timing = e.value.closest
    assert 0 < score < 1 and spikes > 0 and (reset, timing) == ("zero", "same_step")
    assert f"{100 * score:.2f} %" in text


def test_held_reset_and_double_reset_have_no_rewrite():
    rng = np.random.default_rng(4)
    for kind, reset, delay in (("RLeaky", "zero", True), ("Leaky", "subtract", False)):
        g = _graph(random_net(kind, reset, delay, rng, n_in=3), 3)
        assert rewrites.rewrite(g) == (g, [])


def test_one_convention_per_graph_unless_the_target_declares_per_node():
    rng = np.random.default_rng(5)
    net = nn.Sequential(nn.Linear(3, 4), neuron("Leaky", 4, rng, reset_mechanism="zero"), nn.Linear(4, 2),
                        neuron("Leaky", 2, rng, reset_mechanism="zero", reset_delay=False)).double()
    g = _graph(net, 3)
    assert meta.node_fields(g.nodes["3"]) == {"reset_timing": "same_step"}
    values = {"dt": None, "integrator": None, "reset": None, "reset_timing": None}
    with pytest.raises(UnsupportedSemantics, match="3: toy runs one reset convention per graph; node"):
        check(g, Support("toy", values, (nir.LIF,)))
    check(g, Support("toy", values, (nir.LIF,), per_node=True))
    # the late zero of layer 1 rewritten: both layers then reset the same way, lifted to the graph
    new, _ = rewrites.rewrite(g)
    assert not meta.node_fields(new.nodes["3"]) and new.semantics.reset_timing == "same_step"
    check(new, Support("toy", values, (nir.LIF,)))


def test_spinnaker2_subtracts_theta_over_beta_for_a_late_cuba_subtract(tmp_path):
    """snnTorch Synaptic's default: no graph rewrite, the software kernel's reset mode instead."""
    rng = np.random.default_rng(6)
    net = random_net("Synaptic", "subtract", True, rng, n_in=4, per_neuron=False)
    art = bk.compile(_graph(net, 4), "spinnaker2", tmp_path / "a")
    assert "rewrites" not in art.manifest and art.manifest["semantics"]["reset_timing"] == "next_step"
    script = (tmp_path / "a" / "network_s2.py").read_text()
    assert "kernel subtracts v_reset" in script and '"reset": "reset_by_subtracting_v_reset"' in script
