"""Random snnTorch networks, exported with our front-end and simulated here, agree step by step with
snnTorch's own forward pass (the independent peer).

The peer runs in float64 (its spike functions return float32 0/1, which the harness casts back;
0/1 is exact in both), so spikes must match exactly and membranes to 1e-9: the only difference
left is the order of floating-point additions. One float32 run shows the float32 agreement (1e-5).
"""
from __future__ import annotations

import numpy as np
import pytest
import snntorch as snn
import torch
from snntorch import utils
from torch import nn

from neurodeploy import ir
from neurodeploy.frontends.snntorch import export, semantics_for
from neurodeploy.sim.reference import simulate

T = 40


class _Float64Recurrent(nn.Module):
    """Harness only: RLeaky/RSynaptic feed their float32 spikes to the recurrent layer."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, spk):
        return self.inner(spk.to(torch.float64))


def _beta(rng, n, per_neuron):
    return torch.tensor(rng.uniform(0.5, 0.95, n)) if per_neuron else float(rng.uniform(0.5, 0.95))


def _net(kind, reset, rng, per_neuron):
    kw = dict(init_hidden=True, reset_mechanism=reset)
    th = float(rng.uniform(0.3, 1.0))
    if kind == "leaky":
        return nn.Sequential(nn.Linear(12, 24), snn.Leaky(beta=_beta(rng, 24, per_neuron), threshold=th, **kw),
                             nn.Linear(24, 6), snn.Leaky(beta=_beta(rng, 6, per_neuron), **kw)), 1
    if kind == "synaptic":
        return nn.Sequential(nn.Linear(12, 24), snn.Synaptic(alpha=_beta(rng, 24, per_neuron),
                                                             beta=_beta(rng, 24, per_neuron), threshold=th, **kw),
                             nn.Linear(24, 6), snn.Synaptic(alpha=0.6, beta=0.8, **kw)), 1
    if kind == "rleaky":
        return nn.Sequential(nn.Linear(12, 24), snn.RLeaky(beta=_beta(rng, 24, per_neuron), linear_features=24,
                                                           threshold=th, **kw),
                             nn.Linear(24, 6), snn.RLeaky(beta=0.8, all_to_all=False, V=0.5, **kw)), 1
    if kind == "rsynaptic":
        return nn.Sequential(nn.Linear(12, 24), snn.RSynaptic(alpha=0.7, beta=_beta(rng, 24, per_neuron),
                                                              linear_features=24, threshold=th, **kw),
                             nn.Linear(24, 6), snn.RSynaptic(alpha=0.5, beta=0.9, linear_features=6, **kw)), 1
    if kind == "conv":
        return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.AvgPool2d(2),
                             snn.Leaky(beta=_beta(rng, (4, 1, 1), per_neuron), threshold=th, **kw),
                             nn.Conv2d(4, 4, 3, stride=2, groups=2), snn.Leaky(beta=0.7, threshold=0.3, **kw),
                             nn.Flatten(), nn.Linear(16, 5), snn.Leaky(beta=0.9, threshold=0.3, **kw)), 4
    raise AssertionError(kind)


def _excite(net):
    """Scale the default (small) initial weights so that every layer spikes."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight *= 3


def _peer(net, x, probe):
    """snnTorch forward over time: output spikes and the probed layer's membrane, (T, B, ...)."""
    utils.reset(net)
    outs, mems = [], []
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = x[t]
            for layer in net:
                h = layer(h).to(x.dtype)
            outs.append(h.clone())
            mems.append(net[probe].mem.clone())
    return torch.stack(outs).numpy(), torch.stack(mems).numpy()


def _input(kind, rng):
    shape = (T, 3, 2, 10, 10) if kind == "conv" else (T, 3, 12)
    return torch.tensor((rng.random(shape) < 0.3) * rng.uniform(0.5, 2.0, shape))


CASES = [(k, r, s) for k in ("leaky", "synaptic", "rleaky", "rsynaptic", "conv")
         for r in ("subtract", "zero") for s in (0, 1)]


@pytest.mark.parametrize("kind,reset,seed", CASES)
def test_agrees_with_snntorch_float64(kind, reset, seed):
    rng = np.random.default_rng(seed + 10 * CASES.index((kind, reset, seed)))
    torch.manual_seed(seed)
    net, probe = _net(kind, reset, rng, per_neuron=bool(seed))
    _excite(net)
    x = _input(kind, rng)
    graph = ir.normalize(export(net, x[0].float()).graph, semantics_for(net))
    net.double()
    for layer in net:
        if isinstance(layer, (snn.RLeaky, snn.RSynaptic)):
            layer.recurrent = _Float64Recurrent(layer.recurrent)
    spk, mem = _peer(net, x, probe)
    node = next(n for n in graph.order if n.split(".")[0] == str(probe) and n in graph.neurons())
    res = simulate(graph, x.numpy(), record=["output", node])
    assert spk.sum() > 0, "the random net should spike at all"
    np.testing.assert_array_equal(res.spikes["output"], spk)
    np.testing.assert_allclose(res.v[node], mem, rtol=0, atol=1e-9)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_reset_delay_false_zero_and_float32(reset):
    """reset_delay=False (same-step reset, zero only) and a float32 run of both tools."""
    rng = np.random.default_rng(7)
    delay = reset == "subtract"  # snnTorch's subtract with reset_delay=False is refused (see front-end)
    net = nn.Sequential(nn.Linear(12, 24), snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True,
                                                     reset_mechanism=reset, reset_delay=delay),
                        nn.Linear(24, 6), snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True,
                                                    reset_mechanism=reset, reset_delay=delay))
    _excite(net)
    x = _input("leaky", rng).float()
    sem = semantics_for(net)
    assert sem.reset_timing == ("next_step" if delay else "same_step")
    spk, mem = _peer(net, x, 3)
    res = simulate(ir.normalize(export(net, x[0]).graph, sem), x.numpy(), record=["output", "3"], dtype=np.float32)
    assert spk.sum() > 0
    np.testing.assert_array_equal(res.spikes["output"], spk)
    np.testing.assert_allclose(res.v["3"], mem, rtol=0, atol=1e-5)


def test_wrong_semantics_disagree():
    """The semantics matter: the same export run under the exact integrator does not match snnTorch."""
    rng = np.random.default_rng(3)
    net, probe = _net("leaky", "subtract", rng, per_neuron=False)
    _excite(net)
    x = _input("leaky", rng)
    graph = ir.normalize(export(net, x[0].float()).graph, semantics_for(net).with_(integrator="exact"))
    net.double()
    spk, mem = _peer(net, x, probe)
    res = simulate(graph, x.numpy(), record=[str(probe)])
    assert np.abs(res.v[str(probe)] - mem).max() > 1e-3
