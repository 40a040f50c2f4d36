"""normalize(): flattening, shape inference checked against PyTorch, repairs, validation errors."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from neurodeploy import ir
from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir import dialect
from neurodeploy.semantics import Semantics


def lif(n=None, **kw):
    shape = () if n is None else (n,)
    p = dict(tau=np.full(shape, 0.01), r=np.ones(shape), v_leak=np.zeros(shape),
             v_threshold=np.ones(shape), v_reset=np.zeros(shape))
    p.update(kw)
    return nir.LIF(**p)


def affine(n_out, n_in, seed=0):
    w = np.random.default_rng(seed).normal(size=(n_out, n_in)).astype(np.float32)
    return nir.Affine(weight=w, bias=np.zeros(n_out, np.float32))


def graph(nodes, edges):
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def rnn_subgraph(h=5):
    return graph({"input": nir.Input(input_type={"input": np.array([h])}), "lif": lif(h),
                  "w_rec": affine(h, h, 1), "output": nir.Output(output_type={"output": np.array([h])})},
                 [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])


def test_nested_rnn_subgraph_flattens_and_keeps_recurrence():
    g = graph({"in": nir.Input(input_type={"input": np.array([3])}), "fc": affine(5, 3),
               "rnn": rnn_subgraph(), "out": nir.Output(output_type={"output": np.array([5])})},
              [("in", "fc"), ("fc", "rnn"), ("rnn", "out")])
    n = ir.normalize(g)
    assert set(n.nodes) == {"in", "fc", "rnn.lif", "rnn.w_rec", "out"}  # inner ports removed
    assert sorted(n.edges) == sorted([("in", "fc"), ("fc", "rnn.lif"), ("rnn.lif", "rnn.w_rec"),
                                      ("rnn.w_rec", "rnn.lif"), ("rnn.lif", "out")])
    assert n.delayed == {("rnn.w_rec", "rnn.lif")}
    assert n.order.index("fc") < n.order.index("rnn.lif") < n.order.index("rnn.w_rec")
    assert n.out_shape["rnn.lif"] == (5,)


def test_multi_input_subgraph_unsupported():
    sub = rnn_subgraph()
    sub.nodes["input2"] = nir.Input(input_type={"input": np.array([5])})
    sub.edges.append(("input2", "lif"))
    g = graph({"in": nir.Input(input_type={"input": np.array([5])}), "rnn": sub}, [("in", "rnn")])
    with pytest.raises(UnsupportedNode, match="2 Input nodes") as e:
        ir.normalize(g)
    assert e.value.where == "rnn"


def test_name_collision_after_flattening():
    g = graph({"in": nir.Input(input_type={"input": np.array([5])}), "rnn": rnn_subgraph(), "rnn.lif": lif(5)},
              [("in", "rnn"), ("rnn", "rnn.lif")])
    with pytest.raises(InvalidModel, match="two nodes are named 'rnn.lif'"):
        ir.normalize(g)


@pytest.mark.parametrize("cin, cout, k, stride, padding, dilation, groups, n", [
    (2, 4, 3, 1, 0, 1, 1, 20), (2, 4, 3, 2, 1, 1, 1, 21), (4, 8, 5, 3, 2, 2, 2, 40),
    (3, 6, 3, 1, "same", 2, 3, 17), (2, 2, 4, 1, "valid", 1, 1, 9),
])
def test_conv1d_shapes_match_pytorch(cin, cout, k, stride, padding, dilation, groups, n):
    w = np.zeros((cout, cin // groups, k), np.float32)
    conv = nir.Conv1d(input_shape=None, weight=w, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=np.zeros(cout, np.float32))
    g = ir.normalize(graph({"in": nir.Input(input_type={"input": np.array([cin, n])}), "c": conv},
                           [("in", "c")]))
    ref = torch.nn.Conv1d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert g.out_shape["c"] == tuple(ref(torch.zeros(1, cin, n)).shape[1:])
    assert g.nodes["c"].input_shape == n  # filled in, reported as a repair
    assert any(r.startswith("c: inferred input_shape") for r in g.metadata["repairs"])
    assert "output_c" in g.nodes  # the leaf got an Output, as NIR's own inference does


@pytest.mark.parametrize("stride, padding, dilation, hw", [
    ((1, 1), (0, 0), (1, 1), (12, 9)), ((2, 1), (1, 2), (1, 2), (15, 16)), ((1, 1), "same", (2, 1), (8, 8)),
])
def test_conv2d_pool_flatten_chain_matches_pytorch(stride, padding, dilation, hw):
    w = np.zeros((6, 2, 3, 3), np.float32)
    conv = nir.Conv2d(input_shape=None, weight=w, stride=stride, padding=padding, dilation=dilation,
                      groups=1, bias=np.zeros(6, np.float32))
    pool = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    spool = nir.SumPool2d(kernel_size=np.array(3), stride=np.array(1), padding=np.array(1))
    flat = nir.Flatten(input_type=None, start_dim=1, end_dim=2)
    g = ir.normalize(graph({"in": nir.Input(input_type={"input": np.array([2, *hw])}), "c": conv,
                            "p": pool, "s": spool, "f": flat, "n": lif()},
                           [("in", "c"), ("c", "p"), ("p", "s"), ("s", "f"), ("f", "n")]))
    x = torch.zeros(2, *hw)  # unbatched: NIR shapes have no batch dim
    x = torch.nn.Conv2d(2, 6, 3, stride=stride, padding=padding, dilation=dilation)(x)
    assert g.out_shape["c"] == tuple(x.shape)
    x = torch.nn.AvgPool2d(2, 2)(x)
    assert g.out_shape["p"] == tuple(x.shape)
    x = torch.nn.AvgPool2d(3, 1, 1)(x)  # same window arithmetic as a sum pool
    assert g.out_shape["s"] == tuple(x.shape)
    x = torch.flatten(x, 1, 2)
    assert g.out_shape["f"] == tuple(x.shape) and g.out_shape["n"] == tuple(x.shape)
    assert g.nodes["n"].tau.shape == tuple(x.shape)  # scalar LIF broadcast to the conv output


def test_scalar_lif_after_affine_is_broadcast():
    """NIR issue #176: 0-d neuron parameters after an Affine."""
    g = ir.normalize(graph({"in": nir.Input(input_type={"input": np.array([4])}), "fc": affine(6, 4),
                            "lif": lif(), "out": nir.Output(output_type={"output": np.array([6])})},
                           [("in", "fc"), ("fc", "lif"), ("lif", "out")]))
    node = g.nodes["lif"]
    for p in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        assert getattr(node, p).shape == (6,)
    assert g.neurons() == ["lif"] and g.size("lif") == 6


def test_normalize_does_not_mutate_its_input():
    scalar = lif()
    g = graph({"in": nir.Input(input_type={"input": np.array([4])}), "fc": affine(6, 4), "lif": scalar},
              [("in", "fc"), ("fc", "lif")])
    ir.normalize(g)
    assert scalar.tau.shape == () and set(g.nodes) == {"in", "fc", "lif"}


def test_summed_inputs_must_agree():
    nodes = {"in": nir.Input(input_type={"input": np.array([4])}), "a": affine(6, 4), "b": affine(5, 4),
             "lif": lif()}
    with pytest.raises(InvalidModel, match="shape mismatch") as e:
        ir.normalize(graph(nodes, [("in", "a"), ("in", "b"), ("a", "lif"), ("b", "lif")]))
    assert e.value.where == "lif"
    nodes["b"] = affine(6, 4)
    g = ir.normalize(graph(nodes, [("in", "a"), ("in", "b"), ("a", "lif"), ("b", "lif")]))
    assert g.in_shape["lif"] == (6,)


def test_recurrent_shape_mismatch_named():
    g = graph({"in": nir.Input(input_type={"input": np.array([5])}), "lif": lif(5), "w": affine(4, 5)},
              [("in", "lif"), ("lif", "w"), ("w", "lif")])
    with pytest.raises(InvalidModel, match="'w' delivers shape \\(4,\\)") as e:
        ir.normalize(g)
    assert e.value.where == "lif"


def test_root_without_input_gets_one():
    g = ir.normalize(graph({"fc": affine(3, 2), "lif": lif(3)}, [("fc", "lif")]))
    assert g.inputs == ["input_fc"] and ("input_fc", "fc") in g.edges
    assert g.outputs == ["output_lif"]


def test_unresolvable_shape():
    with pytest.raises(InvalidModel, match="no input edge"):
        ir.normalize(graph({"lif": lif(), "out": nir.Output(output_type={"output": np.array([1])})},
                           [("lif", "out")]))


def test_nan_parameter_in_memory():
    with pytest.raises(InvalidModel, match="NaN") as e:
        ir.normalize(graph({"in": nir.Input(input_type={"input": np.array([2])}),
                            "lif": lif(2, tau=np.array([0.01, np.nan]))}, [("in", "lif")]))
    assert e.value.where == "lif"


def test_semantics_argument_is_attached():
    g = ir.normalize(rnn_subgraph(), Semantics(dt=1e-3, reset="subtract"))
    assert g.semantics.dt == 1e-3 and g.semantics.reset == "subtract"
    assert ir.normalize(rnn_subgraph()).semantics == Semantics()


def test_dialect_refs_prefixed_when_flattened():
    inner = graph({"input": nir.Input(input_type={"input": np.array([4])}), "ctx": affine(4, 4, 2),
                   "drv": affine(4, 4, 3),
                   "cell": dialect.TwoPointCell(k1=np.full(4, 0.5), k2=np.ones(4), apical=("ctx",)),
                   "stdp": dialect.STDP(weight="drv", tau_plus=3e-3, tau_minus=3e-3, a_plus=0.1,
                                        a_minus=0.1, w_min=0.0, w_max=1.0),
                   "output": nir.Output(output_type={"output": np.array([4])})},
                  [("input", "ctx"), ("input", "drv"), ("ctx", "cell"), ("drv", "cell"), ("cell", "output")])
    g = ir.normalize(graph({"in": nir.Input(input_type={"input": np.array([4])}), "mcc": inner},
                           [("in", "mcc")]))
    assert g.nodes["mcc.cell"].apical == ("mcc.ctx",)
    assert g.nodes["mcc.stdp"].weight == "mcc.drv"
    assert g.in_shape["mcc.stdp"] == (4,) and g.out_shape["mcc.stdp"] == (4,)
    assert inner.nodes["cell"].apical == ("ctx",)  # the input graph keeps its own names


def test_two_point_apical_must_be_a_predecessor():
    g = graph({"in": nir.Input(input_type={"input": np.array([4])}), "drv": affine(4, 4),
               "cell": dialect.TwoPointCell(k1=np.full(4, 0.5), k2=np.ones(4), apical=("nowhere",))},
              [("in", "drv"), ("drv", "cell")])
    with pytest.raises(InvalidModel, match="not predecessors") as e:
        ir.normalize(g)
    assert e.value.where == "cell"


def test_dotted_edges_into_subgraph_match_the_flat_real_file(realdata):
    """The braille net with its recurrent layer as subgraph 'lif1', addressed as 'lif1.lif'."""
    flat = ir.read(realdata / "rnn" / "braille_noDelay_bias_zero.nir")
    sub = graph({"lif": flat.nodes["lif1.lif"], "w_rec": flat.nodes["lif1.w_rec"]},
                [("lif", "w_rec"), ("w_rec", "lif")])
    nodes = {k: v for k, v in flat.nodes.items() if not k.startswith("lif1.")}
    nested = graph({**nodes, "lif1": sub}, [e for e in flat.edges if not (e[0].startswith("lif1.")
                                                                        and e[1].startswith("lif1."))])
    a, b = ir.normalize(nested), ir.normalize(flat)
    assert set(a.nodes) == set(b.nodes) and sorted(a.edges) == sorted(b.edges)
    assert a.delayed == b.delayed == {("lif1.w_rec", "lif1.lif")}
    assert a.order == b.order and a.out_shape == b.out_shape


def test_in_memory_dangling_and_duplicate_edges():
    nodes = {"in": nir.Input(input_type={"input": np.array([2])}), "lif": lif(2)}
    with pytest.raises(InvalidModel, match="names no node 'ghost'"):
        ir.normalize(graph(nodes, [("in", "lif"), ("lif", "ghost")]))
    with pytest.raises(InvalidModel, match="duplicate edge") as e:
        ir.normalize(graph(nodes, [("in", "lif"), ("in", "lif")]))
    assert e.value.where == "lif"
