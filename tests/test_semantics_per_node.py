"""Per-node reset fields and the double-reset option: what a file may store on a node, what is
refused, and what inspect shows."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.errors import InvalidModel, UnsupportedNode, UsageError
from neurodeploy.ir import meta
from neurodeploy.semantics import Semantics


def _graph(node_md: dict | None) -> nir.NIRGraph:
    lif = lambda md: nir.LIF(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2),  # noqa: E731
                             v_reset=np.zeros(2), metadata=md or {})
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "w": nir.Linear(weight=np.eye(2)),
                               "a": lif(node_md), "w2": nir.Linear(weight=np.eye(2)), "b": lif(None),
                               "output": nir.Output(np.array([2]))},
                        edges=[("input", "w"), ("w", "a"), ("a", "w2"), ("w2", "b"), ("b", "output")],
                        metadata={meta.KEY: {"reset": "zero"}}, type_check=False)


def test_double_reset_is_a_subtract_rule():
    assert Semantics(reset="subtract", reset_timing="same_step_double").reset_timing == "same_step_double"
    with pytest.raises(UsageError, match="'same_step_double' is snnTorch's rule for reset by subtraction"):
        Semantics(reset="zero", reset_timing="same_step_double")


def test_a_node_stores_its_own_reset_and_keeps_it_through_the_file(tmp_path):
    path = tmp_path / "m.nir"
    ir.write(path, _graph({meta.KEY: {"reset": "subtract", "reset_timing": "same_step_double"}}))
    g = ir.load(path)
    assert meta.node_semantics(g, "a") == Semantics(reset="subtract", reset_timing="same_step_double")
    assert meta.node_semantics(g, "b") == Semantics(reset="zero")
    rows = [r for r in meta.describe(g).columns[0]._cells]
    assert "reset_timing of a" in rows


@pytest.mark.parametrize("md,error,message", [
    ({"dt": 1e-3}, UnsupportedNode, "node 'a' stores semantics that differ from the graph's: dt 0.001"),
    ({"reset": "zero", "reset_timing": "same_step_double"}, InvalidModel,
     "of node 'a': reset_timing 'same_step_double' is snnTorch's rule"),
    ({"reset_mode": "zero"}, UnsupportedNode, "of node 'a' has unknown field"),
])
def test_bad_node_semantics_are_refused_naming_the_node(md, error, message, tmp_path):
    with pytest.raises(error, match=message):
        ir.write(tmp_path / "m.nir", _graph({meta.KEY: md}))
