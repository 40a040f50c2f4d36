"""The snnTorch front-end: what the stock exporter gets wrong, ours gets right (behaviour is proven
step by step against snnTorch in test_sim_snntorch_agreement.py)."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from neurodeploy.errors import InvalidModel, UnsupportedNode, UsageError
from neurodeploy.frontends.snntorch import export, semantics_for


def documented_example():
    """snnTorch's NIR tutorial network: scalar beta, init_hidden, a batch-shaped sample."""
    return nn.Sequential(nn.Linear(784, 500), snn.Leaky(beta=0.9, init_hidden=True),
                         nn.Linear(500, 10), snn.Leaky(beta=0.9, init_hidden=True, output=True))


def test_stock_export_fails_on_documented_example():
    from snntorch.export_nir import export_to_nir

    net, sample = documented_example(), torch.zeros(1, 784)
    with pytest.raises(ValueError, match="type mismatch"):
        export_to_nir(net, sample)  # batch dim leaks into the Input type
    with pytest.raises(ValueError, match=r"1.input: \[\]"):
        export_to_nir(net, sample, ignore_dims=[0])  # scalar beta -> 0-d LIF


def test_ours_exports_documented_example(tmp_path):
    net = documented_example()
    g = export(net, torch.zeros(8, 784)).graph
    assert [type(g.nodes[n]).__name__ for n in ("input", "0", "1", "2", "3", "output")] == \
        ["Input", "Affine", "LIF", "Affine", "LIF", "Output"]
    assert g.nodes["input"].output_type["output"].tolist() == [784]  # no batch dimension
    lif = g.nodes["1"]
    for field in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        assert getattr(lif, field).shape == (500,)
    np.testing.assert_allclose(lif.tau, 1e-4 / (1 - 0.9), rtol=1e-6)  # beta is a float32 buffer
    np.testing.assert_allclose(lif.r, lif.tau / 1e-4)
    np.testing.assert_array_equal(g.nodes["0"].bias, net[0].bias.detach().numpy())  # bias kept
    np.testing.assert_array_equal(g.nodes["0"].weight, net[0].weight.detach().numpy())
    # stock nir can read and type-check what we write
    nir.write(tmp_path / "net.nir", g)
    back = nir.read(tmp_path / "net.nir")
    np.testing.assert_array_equal(back.nodes["2"].bias, net[2].bias.detach().numpy())


def test_conv_pool_flatten_and_synaptic_parameters():
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 4 * 4, 3, bias=False),
                        snn.Synaptic(alpha=torch.tensor([0.5, 0.6, 0.7]), beta=0.8, threshold=0.4, init_hidden=True))
    g = export(net, torch.zeros(1, 2, 8, 8), dt=1e-3).graph
    assert g.nodes["0"].output_type["output"].tolist() == [4, 8, 8]
    assert np.all(g.nodes["0"].bias == 0)
    assert g.nodes["1"].output_type["output"].tolist() == [4, 4, 4]
    assert (g.nodes["2"].start_dim, g.nodes["2"].end_dim) == (0, 2)  # torch (1, -1) shifted to batch-free
    assert isinstance(g.nodes["3"], nir.Linear)
    cuba = g.nodes["4"]
    np.testing.assert_allclose(cuba.tau_syn, 1e-3 / (1 - np.array([0.5, 0.6, 0.7])), rtol=1e-6)
    np.testing.assert_allclose(cuba.w_in, cuba.tau_syn / 1e-3)
    np.testing.assert_allclose(cuba.r, cuba.tau_mem / 1e-3)
    np.testing.assert_allclose(cuba.v_threshold, np.full(3, 0.4), rtol=1e-6)


def test_recurrent_export_folds_bias_and_follows_rnn_convention():
    net = nn.Sequential(nn.Linear(5, 6), snn.RLeaky(beta=0.9, linear_features=6, init_hidden=True))
    g = export(net, torch.zeros(1, 5)).graph
    assert {"1.lif", "1.w_rec"} <= set(g.nodes)
    assert ("1.lif", "1.w_rec") in g.edges and ("1.w_rec", "1.lif") in g.edges
    np.testing.assert_allclose(g.nodes["1.w_rec"].weight, net[1].recurrent.weight.detach().numpy())
    np.testing.assert_allclose(g.nodes["0"].bias, (net[0].bias + net[1].recurrent.bias).detach().numpy(), rtol=1e-6)
    with pytest.raises(UnsupportedNode, match="0: the recurrent bias"):
        export(nn.Sequential(snn.RLeaky(beta=0.9, linear_features=6, init_hidden=True)), torch.zeros(1, 6))


def test_semantics_for_each_convention():
    def sem(*layers):
        return semantics_for(nn.Sequential(nn.Linear(3, 3), *layers))
    kw = dict(init_hidden=True)
    assert sem(snn.Leaky(beta=0.5, **kw)).reset_timing == "next_step"
    assert sem(snn.Leaky(beta=0.5, reset_mechanism="zero", **kw)).reset_timing == "next_step"
    assert sem(snn.Synaptic(alpha=0.5, beta=0.5, reset_mechanism="zero", **kw)).reset_timing == "next_step_hold"
    s = sem(snn.Leaky(beta=0.5, reset_mechanism="zero", reset_delay=False, **kw))
    assert (s.reset, s.reset_timing, s.integrator, s.dt) == ("zero", "same_step", "euler", 1e-4)
    with pytest.raises(InvalidModel, match="different reset conventions"):
        sem(snn.Leaky(beta=0.5, **kw), nn.Linear(3, 3), snn.Leaky(beta=0.5, reset_mechanism="zero", **kw))
    # issue 9: snnTorch's double-reset rule is a named option (tested in test_snntorch_conventions.py)
    assert sem(snn.Leaky(beta=0.5, reset_delay=False, **kw)).reset_timing == "same_step_double"


def test_unsupported_layers_are_refused_by_name():
    with pytest.raises(UnsupportedNode, match="1: NIR 1.0.8 has no max pooling"):
        export(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)), torch.zeros(1, 1, 8, 8))
    with pytest.raises(UnsupportedNode, match="0: layer type ReLU"):
        export(nn.Sequential(nn.ReLU()), torch.zeros(1, 3))
    with pytest.raises(UnsupportedNode, match="1: beta = 1 for some"):
        export(nn.Sequential(nn.Linear(2, 2), snn.Leaky(beta=torch.tensor([1.0, 0.5]), init_hidden=True)),
               torch.zeros(1, 2))
    with pytest.raises(UsageError, match="sample"):
        export(nn.Sequential(nn.Linear(2, 2)), torch.zeros(2))


def test_custom_module_children_in_order():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 3)
            self.lif1 = snn.Leaky(beta=1.0, threshold=2.0)

    g = export(Net(), torch.zeros(1, 4)).graph
    assert list(g.nodes) == ["input", "fc1", "lif1", "output"]
    assert isinstance(g.nodes["lif1"], nir.IF)  # beta = 1: no leak
    np.testing.assert_allclose(g.nodes["lif1"].r, 1e4)
