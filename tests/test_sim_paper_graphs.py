"""The NIR paper's CNN and RNN graphs load and run; the CNN agrees with the same network rebuilt
from its weights in PyTorch/snnTorch (the independent peer).

cnn_sinabs.nir comes from Sinabs, whose IAF neuron is v += input per time step: NIR's IF
(dv/dt = R*I, r = 1) gives exactly that with dt = 1 (one time unit per step, as in Sinabs and
Spyx). With dt = 1e-4 it would integrate 1e-4 of each input and never fire, so the graph is run
with Semantics(dt=1.0); the reset is the file's v_reset = 0.
"""
from __future__ import annotations

import nir
import numpy as np
import snntorch as snn
import torch
from torch import nn

from neurodeploy import ir
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate


def _peer_cnn(graph):
    """The CNN as torch layers with the graph's weights; IF as snnTorch Leaky(beta=1), same-step zero reset."""
    layers = []
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, nir.Conv2d):
            conv = nn.Conv2d(node.weight.shape[1], node.weight.shape[0], node.weight.shape[2:],
                             stride=tuple(node.stride), padding=tuple(node.padding), dilation=tuple(node.dilation),
                             groups=int(node.groups)).double()
            conv.weight.data, conv.bias.data = torch.tensor(node.weight).double(), torch.tensor(node.bias).double()
            layers.append(conv)
        elif isinstance(node, nir.Affine):
            lin = nn.Linear(node.weight.shape[1], node.weight.shape[0]).double()
            lin.weight.data, lin.bias.data = torch.tensor(node.weight).double(), torch.tensor(node.bias).double()
            layers.append(lin)
        elif isinstance(node, nir.IF):
            assert np.all(node.r == 1) and np.all(node.v_reset == 0)
            layers.append(snn.Leaky(beta=1.0, threshold=float(node.v_threshold.flat[0]), reset_mechanism="zero",
                                    reset_delay=False, init_hidden=True))
            assert np.all(node.v_threshold == node.v_threshold.flat[0])
        elif isinstance(node, nir.SumPool2d):
            assert tuple(node.padding) == (0, 0)
            layers.append(nn.LPPool2d(1, tuple(node.kernel_size), tuple(node.stride)))  # p=1: window sum of x >= 0
        elif isinstance(node, nir.Flatten):
            layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def test_cnn_sinabs_runs_and_matches_peer(realdata):
    graph = ir.load(realdata / "cnn" / "cnn_sinabs.nir", semantics=Semantics(dt=1.0))
    rng = np.random.default_rng(0)
    x = (rng.random((25, 2, 2, 34, 34)) < 0.08).astype(float)  # sparse events, as N-MNIST
    res = simulate(graph, x, record=["output", "1", "10"])
    assert res.spikes["output"].shape == (25, 2, 10)
    assert res.spikes["1"].sum() > 0 and res.spikes["10"].sum() > 0 and res.spikes["output"].sum() > 0

    net = _peer_cnn(graph)
    outs = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = torch.tensor(x[t])
            for layer in net:
                h = layer(h).double()
            outs.append(h)
    np.testing.assert_array_equal(res.spikes["output"], torch.stack(outs).numpy())

    neurons = sum(graph.size(n) for n in graph.neurons())
    assert neurons == 16 * 16 * 16 * 2 + 8 * 8 * 8 + 256 + 10
    assert res.counters["neuron_updates"] == neurons * 25 * 2
    assert 0 < res.counters["synaptic_events"] < res.counters["dense_synaptic_ops"]
    assert res.per_layer["0"]["macs"] == 0 < res.per_layer["5"]["macs"]  # pooled sums are graded


def test_braille_rnn_runs(realdata):
    graph = ir.load(realdata / "rnn" / "braille_noDelay_bias_zero.nir", semantics=Semantics(reset="zero"))
    assert ("lif1.w_rec", "lif1.lif") in graph.delayed
    rng = np.random.default_rng(1)
    x = (rng.random((200, 3, 12)) < 0.1).astype(float)
    res = simulate(graph, x, record=["output", "lif1.lif"])
    assert res.spikes["output"].shape == (200, 3, 7)
    assert res.v["lif1.lif"].shape == res.extra["i"]["lif1.lif"].shape == (200, 3, 38)
    assert res.spikes["lif1.lif"].sum() > 0 and res.spikes["output"].sum() > 0
    assert res.counters["neuron_updates"] == (38 + 7) * 200 * 3
    # recurrent synapses: every lif1 spike drives the non-zero weights of its w_rec column
    fan = np.count_nonzero(graph.nodes["lif1.w_rec"].weight, axis=0)
    spikes_per_neuron = res.spikes["lif1.lif"].reshape(-1, 38).sum(0)
    assert res.per_layer["lif1.w_rec"]["synaptic_events"] == int(spikes_per_neuron @ fan)
