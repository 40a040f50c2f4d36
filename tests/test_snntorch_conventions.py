"""snnTorch's reset conventions against snnTorch's own forward pass: every (neuron type x reset x
reset_delay) combination, a readout with reset_mechanism="none", and models that mix conventions.

The ground truth is snnTorch 1.0 itself, stepped layer by layer with explicit states (float64);
`random_net` and `snntorch_run` are shared with the rewrite proof (tests/test_rewrites_proof.py).
"""
from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from neurodeploy import ir
from neurodeploy.errors import UnsupportedNode
from neurodeploy.frontends.snntorch import export
from neurodeploy.ir import meta
from neurodeploy.sim.reference import simulate

KINDS = ("Leaky", "Synaptic", "RLeaky", "RSynaptic")
CONVENTIONS = list(itertools.product(KINDS, ("subtract", "zero"), (True, False)))


def neuron(kind: str, n: int, rng, *, per_neuron: bool = True, **kw):
    """A snnTorch neuron layer of `kind` with per-neuron beta (and alpha) and thresholds."""
    beta = torch.tensor(rng.uniform(0.5, 0.95, n)) if per_neuron else float(rng.uniform(0.5, 0.95))
    kw = dict(beta=beta, threshold=torch.tensor(rng.uniform(0.5, 1.5, n)), **kw)
    if kind in ("Synaptic", "RSynaptic"):
        kw["alpha"] = torch.tensor(rng.uniform(0.3, 0.9, n)) if per_neuron else float(rng.uniform(0.3, 0.9))
    if kind in ("RLeaky", "RSynaptic"):
        kw["linear_features"] = n
    layer = getattr(snn, kind)(**kw)
    if kind in ("RLeaky", "RSynaptic"):
        with torch.no_grad():
            layer.recurrent.weight.copy_(torch.tensor(rng.normal(0, 0.6, (n, n))))
            layer.recurrent.bias.zero_()  # a recurrent bias folds into the Linear before (checked elsewhere)
    return layer


def random_net(kind: str, reset: str, delay: bool, rng, *, n_in: int | None = None,
               per_neuron: bool = True, bias: bool = True) -> nn.Sequential:
    """Linear -> neuron -> Linear -> neuron, random sizes and weights strong enough to spike often
    (so that v stays above threshold after a reset now and then); per-neuron or per-layer decays."""
    n_in = n_in or int(rng.integers(3, 7))
    h, o = int(rng.integers(4, 9)), int(rng.integers(2, 5))
    lin = lambda a, b: nn.Linear(a, b, bias=bias)  # noqa: E731
    kw = dict(reset_mechanism=reset, reset_delay=delay, per_neuron=per_neuron)
    net = nn.Sequential(lin(n_in, h), neuron(kind, h, rng, **kw), lin(h, o), neuron(kind, o, rng, **kw)).double()
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.copy_(torch.tensor(rng.normal(0.4, 1.0, layer.weight.shape)))
            if bias:
                layer.bias.copy_(torch.tensor(rng.normal(0.1, 0.2, layer.bias.shape)))
    return net


def snntorch_run(net: nn.Sequential, x: torch.Tensor) -> tuple[dict, dict]:
    """snnTorch's forward pass over x (T, B, n), explicit states; spikes and membranes per neuron
    layer index, arrays (T, B, n)."""
    state: dict[int, tuple] = {}
    spk = {i: [] for i, l in enumerate(net) if isinstance(l, snn.SpikingNeuron)}
    mem = {i: [] for i in spk}
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = x[t]
            for i, layer in enumerate(net):
                if i not in spk:
                    h = layer(h)
                    continue
                z = torch.zeros_like(h)
                if isinstance(layer, snn.Leaky):
                    s, m = layer(h, state.get(i, (z,))[0])
                    state[i] = (m,)
                elif isinstance(layer, snn.Synaptic):
                    s, syn, m = layer(h, *state.get(i, (z, z)))
                    state[i] = (syn, m)
                elif isinstance(layer, snn.RLeaky):
                    s, m = layer(h, *state.get(i, (z, z)))
                    state[i] = (s.to(x.dtype), m)
                else:
                    s, syn, m = layer(h, *state.get(i, (z, z, z)))
                    state[i] = (s.to(x.dtype), syn, m)
                spk[i].append(s.numpy().copy())
                mem[i].append(m.numpy().copy())
                h = s.to(x.dtype)
    return ({i: np.stack(v) for i, v in spk.items()}, {i: np.stack(v) for i, v in mem.items()})


def node_of(net: nn.Sequential, i: int) -> str:
    return f"{i}.lif" if isinstance(net[i], (snn.RLeaky, snn.RSynaptic)) else str(i)


def spikes_in(rng, T: int, B: int, n: int, p: float = 0.4) -> np.ndarray:
    return (rng.random((T, B, n)) < p).astype(np.float64)


@pytest.mark.parametrize("kind,reset,delay", CONVENTIONS)
def test_every_convention_reproduces_snntorch(kind, reset, delay):
    """Spike for spike and membrane for membrane, 5 random networks per convention, including
    RSynaptic with reset_delay=False (snnTorch 1.0 then resets one step late, as with True)."""
    rng = np.random.default_rng(zlib.crc32(repr((kind, reset, delay)).encode()))
    above_after_reset = 0
    for _ in range(5):
        net = random_net(kind, reset, delay, rng)
        x = spikes_in(rng, 40, 3, net[0].in_features)
        spk, mem = snntorch_run(net, torch.tensor(x))
        g = ir.normalize(export(net, torch.zeros(1, net[0].in_features)).graph)
        names = [node_of(net, i) for i in spk]
        res = simulate(g, x, record=names)
        for i, name in zip(spk, names):
            np.testing.assert_array_equal(res.spikes[name], spk[i], err_msg=f"{kind} {reset} {delay} layer {i}")
            np.testing.assert_allclose(res.v[name], mem[i], rtol=1e-9, atol=1e-9)
            theta = net[i].threshold.numpy()
            above_after_reset += int(((mem[i] > theta) & (spk[i] > 0)).sum())
    if reset == "subtract":  # the double-reset rule (and the late reset) were exercised
        assert above_after_reset > 0


def test_double_reset_differs_from_a_plain_same_step_subtract():
    """The named option matters: the plain same-step subtract misses snnTorch's spikes."""
    rng = np.random.default_rng(3)
    net = random_net("RLeaky", "subtract", False, rng)
    x = spikes_in(rng, 60, 4, net[0].in_features, p=0.6)
    spk, _ = snntorch_run(net, torch.tensor(x))
    g = ir.normalize(export(net, torch.zeros(1, net[0].in_features)).graph)
    assert g.semantics.reset_timing == "same_step_double"
    plain = ir.normalize(export(net, torch.zeros(1, net[0].in_features)).graph,
                         g.semantics.with_(reset_timing="same_step"))
    r = simulate(plain, x, record=["3.lif"])
    assert not np.array_equal(r.spikes["3.lif"], spk[3])


def test_tutorial_readout_is_a_leaky_integrator_read_as_membrane():
    """snnTorch tutorial shape: Linear -> Leaky -> Linear -> Leaky(reset_mechanism="none")."""
    rng = np.random.default_rng(5)
    net = nn.Sequential(nn.Linear(6, 10), snn.Leaky(beta=0.9), nn.Linear(10, 3),
                        snn.Leaky(beta=0.8, reset_mechanism="none")).double()
    x = spikes_in(rng, 50, 2, 6)
    spk, mem = snntorch_run(net, torch.tensor(x))
    exp = export(net, torch.zeros(1, 6))
    assert type(exp.graph.nodes["3"]).__name__ == "LI"
    g = ir.normalize(exp.graph)
    res = simulate(g, x)  # default record: the Output node, fed by the LI's membrane
    np.testing.assert_allclose(res.extra["outputs"]["output"] if "output" in res.extra.get("outputs", {})
                               else res.spikes["output"], mem[3], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(simulate(g, x, record=["1"]).spikes["1"], spk[1])


def test_none_reset_feeding_a_later_layer_is_refused():
    net = nn.Sequential(nn.Linear(3, 4), snn.Leaky(beta=0.9, reset_mechanism="none"), nn.Linear(4, 2),
                        snn.Leaky(beta=0.9))
    with pytest.raises(UnsupportedNode, match="1: reset_mechanism='none' feeds its spikes"):
        export(net, torch.zeros(1, 3))


def test_mixed_conventions_are_stored_per_node_and_survive_the_file(tmp_path):
    """Hidden RLeaky reset to zero (held), output Leaky subtract, late: one graph, two conventions."""
    rng = np.random.default_rng(11)
    net = nn.Sequential(nn.Linear(5, 7), neuron("RLeaky", 7, rng, reset_mechanism="zero"), nn.Linear(7, 3),
                        neuron("Leaky", 3, rng, reset_mechanism="subtract")).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(rng.normal(0.4, 1.0, (7, 5))))
        net[2].weight.copy_(torch.tensor(rng.normal(0.4, 1.0, (3, 7))))
    x = spikes_in(rng, 50, 3, 5)
    spk, _ = snntorch_run(net, torch.tensor(x))
    exp = export(net, torch.zeros(1, 5))
    assert (exp.semantics.reset, exp.semantics.reset_timing) == ("zero", "next_step_hold")
    path = tmp_path / "mixed.nir"
    ir.write(path, exp.graph)
    g = ir.load(path)
    assert meta.node_fields(g.nodes["3"]) == {"reset": "subtract", "reset_timing": "next_step"}
    assert meta.node_semantics(g, "1.lif") == g.semantics
    res = simulate(g, x, record=["1.lif", "3"])
    np.testing.assert_array_equal(res.spikes["1.lif"], spk[1])
    np.testing.assert_array_equal(res.spikes["3"], spk[3])


def test_the_readout_membrane_is_an_output_on_every_target():
    """The LI readout runs natively where the backend has a model for it (crossbar) and on the
    host otherwise (host_neurons), its membrane the pipeline's output."""
    from neurodeploy import backend as bk
    from neurodeploy.host.placement import HOST, partition

    net = nn.Sequential(nn.Linear(6, 10), snn.Leaky(beta=0.9, reset_mechanism="zero", reset_delay=False),
                        nn.Linear(10, 3), snn.Leaky(beta=0.8, reset_mechanism="none")).double()
    g = ir.normalize(export(net, torch.zeros(1, 6)).graph)
    for name in bk.installed():
        split = partition(g, bk.get(name), name)
        has_li = "LI" not in getattr(bk.get(name), "host_neurons", ())
        assert (split.placement["3"].where == HOST) != has_li, name
        assert split.placement["1"].where != HOST, name  # the spiking layer stays on the chip


@pytest.mark.parametrize("target", ["loihi2", "spinnaker2", "fpga-zcu102", "crossbar-rram"])
def test_tutorial_readout_runs_on_every_target_as_a_membrane(target, tmp_path):
    """Linear -> Leaky -> Linear -> Leaky(reset_mechanism="none"): compiled with the CLI's split (the
    readout on the host where the target has no LI), run; the output is snnTorch's readout membrane.
    Decay and weights are binary fractions, so that every target holds them exactly."""
    from neurodeploy import backend as bk
    from neurodeploy.cli import main

    rng = np.random.default_rng(8)
    net = nn.Sequential(nn.Linear(6, 10), snn.Leaky(beta=0.875, reset_mechanism="zero", reset_delay=False),
                        nn.Linear(10, 3), snn.Leaky(beta=0.8, reset_mechanism="none")).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(rng.choice([0.0, 0.375, 1.25], (10, 6))))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor(rng.choice([-0.5, 0.25, 0.75], (3, 10))))
        net[2].bias.zero_()
    x = spikes_in(rng, 30, 1, 6)
    _, mem = snntorch_run(net, torch.tensor(x))
    ir.write(tmp_path / "m.nir", export(net, torch.zeros(1, 6)).graph)
    np.save(tmp_path / "x.npy", x[:, 0].astype(np.float32))
    assert main(["compile", str(tmp_path / "m.nir"), "--target", target, "-o", str(tmp_path / "a")]) == 0
    assert main(["run", str(tmp_path / "a"), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "r.npz")]) == 0
    r = np.load(tmp_path / "r.npz")
    out = r[next(k for k in r.files if k.startswith("output."))]  # the Output node: the readout membrane
    assert np.abs(mem[3]).max() > 0 and out.size == mem[3].size
    if target in EXACT_READOUT:
        np.testing.assert_allclose(out.reshape(mem[3].shape), mem[3], rtol=1e-4, atol=1e-4)


# Where the hidden spikes are those of snnTorch on this network. Not the crossbar (analog devices). The
# FPGA is exact since its v format holds the value before the reset (tests/test_fpga_backend.py,
# test_v_format_holds_the_value_before_the_reset).
EXACT_READOUT = ("loihi2", "spinnaker2", "fpga-zcu102")
