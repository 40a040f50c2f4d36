"""Our NeuroBench metrics against NeuroBench's own implementation (neurobench 2.3.0) on snnTorch
models: the same network as a NIR graph, its activity from NeuroBench's hooks or from our
reference simulator (checked to produce the very same spikes)."""
from __future__ import annotations

import nir
import numpy as np
import pytest

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")
from neurobench.metrics.static import ConnectionSparsity, Footprint  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations  # noqa: E402
from neurobench.models import SNNTorchModel  # noqa: E402

from neurodeploy.energy import neurobench_metrics  # noqa: E402
from neurodeploy.ir.graph import Graph  # noqa: E402
from neurodeploy.result import Result  # noqa: E402
from neurodeploy.semantics import Semantics  # noqa: E402

DT = 1e-4
T, B = 12, 3


def _prune(layer, frac, gen):
    with torch.no_grad():
        layer.weight[torch.rand(layer.weight.shape, generator=gen) < frac] = 0.0


def _lif(beta, thr, shape):
    """snnTorch Leaky(beta, threshold) as NIR LIF: forward Euler with tau = dt/(1-beta), R = tau/dt."""
    tau = DT / (1 - beta)
    full = lambda v: np.full(shape, v, dtype=np.float32)  # noqa: E731
    return nir.LIF(tau=full(tau), r=full(tau / DT), v_leak=full(0.0), v_threshold=full(thr), v_reset=full(0.0))


def _numpy(t):
    return t.detach().numpy().astype(np.float32)


def _nb(net, data):
    """Run NeuroBench's own metrics; return them and the spikes its hooks saw, (T, B, ...) each."""
    model = SNNTorchModel(net)
    model.register_hooks()
    preds = model(data)
    labels = torch.zeros(data.shape[0])
    ops = SynapticOperations()(model, preds, (data, labels))
    out = {"ops": ops, "act": ActivationSparsity()(model, preds, (data, labels)),
           "conn": ConnectionSparsity()(model), "foot": Footprint()(model)}
    spikes = [torch.stack(h.activation_outputs).detach().numpy() for h in model.activation_hooks]
    return out, spikes


@pytest.fixture(scope="module")
def conv_case():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    conv, fc = torch.nn.Conv2d(1, 4, 3, stride=2, padding=1), torch.nn.Linear(64, 10)
    _prune(conv, 0.3, gen)
    _prune(fc, 0.4, gen)
    with torch.no_grad():
        conv.weight.mul_(2.0)
        fc.weight.mul_(3.0)
    net = torch.nn.Sequential(
        conv, snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True, reset_mechanism="zero"),
        torch.nn.Flatten(), fc,
        snn.Leaky(beta=0.9, threshold=0.5, init_hidden=True, reset_mechanism="zero", output=True))
    data = torch.rand((B, T, 1, 8, 8), generator=gen) * (torch.rand((B, T, 1, 8, 8), generator=gen) < 0.5)
    data[:, 0] = 0.0  # an all-zero step: NeuroBench calls it an AC step
    nb, spikes = _nb(net, data)

    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 8, 8])}),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=_numpy(conv.weight), stride=2, padding=1, dilation=1,
                           groups=1, bias=_numpy(conv.bias)),
        "lif1": _lif(0.8, 0.5, (4, 4, 4)),
        "flat": nir.Flatten(input_type={"input": np.array([4, 4, 4])}, start_dim=0),
        "fc": nir.Affine(weight=_numpy(fc.weight), bias=_numpy(fc.bias)),
        "lif2": _lif(0.9, 0.5, (10,)),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    chain = list(nodes)
    out_shape = {"input": (1, 8, 8), "conv": (4, 4, 4), "lif1": (4, 4, 4), "flat": (64,), "fc": (10,),
                 "lif2": (10,), "output": (10,)}
    in_shape = {"input": (1, 8, 8), "conv": (1, 8, 8), "lif1": (4, 4, 4), "flat": (4, 4, 4), "fc": (64,),
                "lif2": (10,), "output": (10,)}
    graph = Graph(nodes, list(zip(chain, chain[1:])), in_shape, out_shape,
                  semantics=Semantics(dt=DT, reset="zero", integrator="euler"))
    x = data.numpy().transpose(1, 0, 2, 3, 4)
    return net, graph, x, nb, spikes


def test_static_metrics_equal_neurobench(conv_case):
    net, graph, x, nb, _ = conv_case
    ours = neurobench_metrics(graph, Result())
    assert round(ours["ConnectionSparsity"], 4) == nb["conn"]
    assert ours["ConnectionSparsity"] > 0.2
    # NeuroBench's footprint of the synaptic layers (weights + biases, float32) is ours exactly
    synapses_only = SNNTorchModel(torch.nn.Sequential(net[0], net[3]))
    assert ours["footprint_synapses"] == Footprint()(synapses_only)
    # the whole model differs only by how neuron parameters are stored: snnTorch keeps a few
    # scalars per layer, the NIR graph one value per neuron for each of tau, r, v_leak, v_th, v_reset
    assert ours["footprint_neurons"] == 5 * (64 + 10) * 4
    assert nb["foot"] > ours["footprint_synapses"]


def test_synaptic_ops_from_neurobench_spikes(conv_case):
    _, graph, x, nb, (s1, s2) = conv_case
    result = Result(spikes={"lif1": s1, "lif2": s2})
    ours = neurobench_metrics(graph, result, inputs=x)
    ops = ours["SynapticOperations"]
    assert ops["Dense"] == nb["ops"]["Dense"]
    assert ops["Effective_MACs"] == nb["ops"]["Effective_MACs"]
    assert ops["Effective_ACs"] == nb["ops"]["Effective_ACs"]
    assert ops["Effective_MACs"] > 0 and ops["Effective_ACs"] > 0
    assert ours["ActivationSparsity"] == pytest.approx(nb["act"], rel=1e-12)


def test_reference_simulator_sees_the_same_spikes(conv_case):
    from neurodeploy.sim.reference import simulate

    _, graph, x, nb, (s1, s2) = conv_case
    result = simulate(graph, x, record=["lif1", "lif2"], dtype=np.float32)
    np.testing.assert_array_equal(result.spikes["lif1"], s1)
    np.testing.assert_array_equal(result.spikes["lif2"], s2)
    assert s1.any() and s2.any()
    ours = neurobench_metrics(graph, result, inputs=x)
    assert ours["SynapticOperations"]["Effective_ACs"] == nb["ops"]["Effective_ACs"]
    assert ours["SynapticOperations"]["Effective_MACs"] == nb["ops"]["Effective_MACs"]
    assert ours["ActivationSparsity"] == pytest.approx(nb["act"], rel=1e-12)


def test_recurrent_layer_counts_previous_step_spikes():
    """RLeaky's recurrent Linear sees last step's spikes: our delayed edge must count the same."""
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    fc = torch.nn.Linear(6, 8)
    with torch.no_grad():
        fc.weight.mul_(4.0)
    # subtract reset: with "zero", snnTorch 1.0 RLeaky calls its recurrent Linear twice per step
    # and NeuroBench would count every recurrent synapse twice
    rl = snn.RLeaky(beta=0.9, linear_features=8, init_hidden=True, output=True, reset_mechanism="subtract")
    _prune(rl.recurrent, 0.5, gen)
    net = torch.nn.Sequential(fc, rl)
    data = (torch.rand((2, 10, 6), generator=gen) < 0.4).float()
    nb, (s,) = _nb(net, data)
    w = _numpy(rl.recurrent.weight)
    nodes = {"input": nir.Input(input_type={"input": np.array([6])}),
             "fc": nir.Affine(weight=_numpy(fc.weight), bias=_numpy(fc.bias)),
             "lif": _lif(0.9, 1.0, (8,)),
             "w_rec": nir.Affine(weight=w, bias=_numpy(rl.recurrent.bias)),
             "output": nir.Output(output_type={"output": np.array([8])})}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]
    shapes = {"input": (6,), "fc": (8,), "lif": (8,), "w_rec": (8,), "output": (8,)}
    graph = Graph(nodes, edges, {**shapes, "fc": (6,)}, shapes)
    assert ("w_rec", "lif") in graph.delayed
    ours = neurobench_metrics(graph, Result(spikes={"lif": s}), inputs=data.numpy().transpose(1, 0, 2))
    assert s[:-1].any() and s[-1].any()  # last-step spikes: NeuroBench never delivers them
    assert ours["SynapticOperations"]["Dense"] == nb["ops"]["Dense"]
    assert ours["SynapticOperations"]["Effective_ACs"] == nb["ops"]["Effective_ACs"]
    assert ours["SynapticOperations"]["Effective_MACs"] == nb["ops"]["Effective_MACs"] == 0
    assert round(ours["ConnectionSparsity"], 4) == nb["conn"]
    assert ours["ActivationSparsity"] == pytest.approx(nb["act"], rel=1e-12)
