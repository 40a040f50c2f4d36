"""The op registry: a toy op registered in this file runs through shape inference, the reference
simulator and `inspect` with no other change; every core type has a definition."""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np
import pytest
from rich.console import Console

from neurodeploy import ir, ops
from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir import dialect
from neurodeploy.ir.graph import Graph
from neurodeploy.sim.reference import simulate


@dataclass(eq=False)
class LeakyGate(nir.NIRNode):
    """Toy two-port op: y_t = a * y_{t-1} + drive_t * (gate_t > 0); `gate` names the gate inputs."""

    a: np.ndarray
    gate: tuple[str, ...] = ()
    REFS: ClassVar[tuple[str, ...]] = ("gate",)

    def __post_init__(self):
        self.input_type = {"input": np.array(self.a.shape)}
        self.output_type = {"output": np.array(self.a.shape)}


class LeakyGateState:
    def __init__(self, name, node, in_shapes, out_shape, sem, batch, dtype):
        self.a = np.asarray(node.a, dtype)
        self.v = np.zeros((batch,) + out_shape, dtype)
        self.in_shapes, self.steps = in_shapes, 0

    def step(self, x):
        self.v = self.a * self.v + x["drive"] * (x["gate"] > 0)
        self.steps += 1
        return self.v

    def counters(self):
        return {"neuron_updates": self.steps * self.v.size}


ops.register(ops.OpDef(LeakyGate, ports=("drive", "gate"), port_fields={"gate": "gate"}, is_neuron=True,
                       stateful=True, declared=lambda node, where: tuple(node.a.shape),
                       state=LeakyGateState, summary=lambda node: f"a={node.a.min():g}..{node.a.max():g}"))


def inp(n):
    return nir.Input(input_type={"input": np.array([n])})


def toy_graph(gate_size=3):
    nodes = {"x": inp(2), "g": inp(2), "wd": nir.Linear(weight=np.array([[1.0, 0], [0, 2], [1, 1]])),
             "wg": nir.Linear(weight=np.ones((gate_size, 2))), "cell": LeakyGate(a=np.array([0.5, 0.25, 1.0]), gate=("wg",)),
             "out": nir.Output(output_type={"output": np.array([3])})}
    edges = [("x", "wd"), ("g", "wg"), ("wd", "cell"), ("wg", "cell"), ("cell", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_toy_op_through_shapes_simulate_and_inspect():
    g = ir.normalize(toy_graph())
    assert g.ports == {("wg", "cell"): "gate"} and g.port("wd", "cell") == "drive"
    assert g.inputs_by_port("cell") == {"drive": ["wd"], "gate": ["wg"]}
    assert g.in_shape["cell"] == (3,) and g.out_shape["cell"] == (3,) and g.neurons() == ["cell"]

    rng = np.random.default_rng(1)
    x, gate = rng.normal(size=(12, 2)), rng.normal(size=(12, 2))
    res = simulate(g, {"x": x, "g": gate}, record=["cell"])
    # independent loop: drive and gate summed separately, never mixed
    drive, on = x @ np.array([[1.0, 0], [0, 2], [1, 1]]).T, (gate.sum(axis=1) > 0)[:, None]
    y, want = np.zeros(3), []
    for t in range(12):
        y = np.array([0.5, 0.25, 1.0]) * y + drive[t] * on[t]
        want.append(y)
    np.testing.assert_allclose(res.extra["outputs"]["cell"][:, 0], np.array(want), rtol=1e-12)
    np.testing.assert_allclose(res.v["cell"][:, 0], np.array(want), rtol=1e-12)
    assert res.per_layer["cell"] == {"neuron_updates": 36}

    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(ir.describe(g))
    text = buf.getvalue()
    assert "LeakyGate" in text and "a=0.25..1" in text and "gate" in text


def test_ports_are_checked_one_by_one():
    with pytest.raises(InvalidModel, match="delivers shape \\(4,\\) but this LeakyGate node takes \\(3,\\) "
                                           "on port 'gate'") as e:
        ir.normalize(toy_graph(gate_size=4))
    assert e.value.where == "cell"


def test_graph_ports_validated():
    g = ir.normalize(toy_graph())
    args = (g.nodes, g.edges, g.in_shape, g.out_shape)
    with pytest.raises(InvalidModel, match="port 'nope'"):
        Graph(*args, ports={("wd", "cell"): "nope"})
    with pytest.raises(InvalidModel, match="the node's fields say 'gate'"):
        Graph(*args, ports={("wg", "cell"): "drive"})
    with pytest.raises(InvalidModel, match="not in the graph"):
        Graph(*args, ports={("x", "cell"): "drive"})


def test_register_refuses_incomplete_definitions():
    with pytest.raises(ValueError, match="exactly one"):
        ops.register(ops.OpDef(LeakyGate))
    with pytest.raises(ValueError, match="node field for every non-default port"):
        ops.register(ops.OpDef(LeakyGate, ports=("drive", "gate"), state=LeakyGateState))


def test_unregistered_type_is_named():
    class Unknown(nir.NIRNode):
        pass

    with pytest.raises(UnsupportedNode, match="node type Unknown has no op definition"):
        ops.get(Unknown, "u")


@pytest.mark.parametrize("cls", [getattr(nir, t) for t in (
    "Input", "Output", "Affine", "Linear", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Scale",
    "Threshold", "Delay", "LIF", "IF", "LI", "I", "CubaLI", "CubaLIF")] + list(dialect.REGISTRY.values()))
def test_every_core_type_has_a_definition(cls):
    op = ops.get(cls)
    assert op.cls is cls and op.declared is not None and (op.state is None) != (op.stateless is None)


def test_flags_match_the_old_type_lists():
    """The flags reproduce the type tuples the core used before the registry."""
    assert set(ops.types(spiking=True)) == {nir.LIF, nir.IF, nir.CubaLIF}
    assert set(ops.types(binary=True)) == {nir.LIF, nir.IF, nir.CubaLIF, nir.Threshold}
    assert set(ops.types(pass_through=True)) == {nir.Flatten, nir.Delay, nir.Output}
    assert {t for t in ops.types(is_neuron=True) if t.__module__.startswith("nir")} == \
        {nir.LIF, nir.IF, nir.CubaLIF, nir.LI, nir.CubaLI, nir.I}
    assert set(ops.types(is_neuron=True)) - {nir.LIF, nir.IF, nir.CubaLIF, nir.LI, nir.CubaLI, nir.I} >= \
        {dialect.EGRU, dialect.TwoPointCell}


def test_activity_of_a_graded_neuron_is_its_output_not_its_state():
    """EGRU's activity (NeuroBench activation sparsity) is its graded events y, zero between
    events, not its internal c (recorded as v)."""
    from neurodeploy.energy.neurobench import activation_sparsity, activity
    from test_dialect import build

    g = ir.normalize(build("egru"))
    res = simulate(g, np.random.default_rng(3).normal(size=(30, 3)), record=["egru"])
    y = res.extra["outputs"]["egru"]
    assert activity(g, res, "egru") is y and not np.array_equal(y, res.v["egru"])
    assert 0 < np.mean(y == 0) < 1 and np.mean(res.v["egru"] == 0) < np.mean(y == 0)
    assert activation_sparsity(g, res) == np.mean(y == 0)
