"""Synapse-chain folding against PyTorch's own convolution and pooling (an independent implementation)."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir.graph import Graph
from neurodeploy.lowering import Folder, conv2d_matrix, pool2d_matrix

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 1, 1, 2)])
def test_conv2d_matrix_is_torch_conv2d(stride, padding, dilation, groups):
    w = RNG.normal(size=(4, 4 // groups, 3, 3))
    w[0, 0, 1, 1] = 0.0
    x = RNG.normal(size=(4, 9, 8))
    want = F.conv2d(torch.tensor(x[None]), torch.tensor(w), stride=stride, padding=padding, dilation=dilation,
                    groups=groups)[0].numpy()
    m = conv2d_matrix(w, x.shape, stride, padding, dilation, groups)
    assert np.allclose(m @ x.ravel(), want.ravel(), atol=1e-12)
    assert 0.0 not in m.data


@pytest.mark.parametrize("kind", ["sum", "avg"])
def test_pool_matrix_is_torch_pooling(kind):
    x = RNG.normal(size=(3, 8, 6))
    want = F.avg_pool2d(torch.tensor(x[None]), 2, stride=2, padding=0)[0].numpy()
    m = pool2d_matrix(x.shape, 2, 2, 0, 1.0 if kind == "sum" else 0.25)
    assert np.allclose(m @ x.ravel(), (want * (4 if kind == "sum" else 1)).ravel(), atol=1e-12)


def lif(n):
    return nir.LIF(tau=np.full(n, 1e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))


def chain_graph():
    """in (2,8,8) -> SumPool2d -> Conv2d -> Flatten -> Affine -> Scale -> lif, plus in -> Conv1d-free
    skip: a second chain (AvgPool2d -> Flatten -> Linear) into the same neuron."""
    conv_w, conv_b = RNG.normal(size=(3, 2, 3, 3)), RNG.normal(size=3)
    aff_w, aff_b = RNG.normal(size=(5, 3 * 2 * 2)), RNG.normal(size=5)
    lin_w, scale = RNG.normal(size=(5, 2 * 4 * 4)), RNG.normal(size=5)
    nodes = {"in": nir.Input(input_type={"input": np.array([2, 8, 8])}),
             "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "conv": nir.Conv2d(input_shape=None, weight=conv_w, stride=1, padding=0, dilation=1, groups=1,
                                bias=conv_b),
             "flat": nir.Flatten(input_type=None, start_dim=0), "aff": nir.Affine(weight=aff_w, bias=aff_b),
             "scale": nir.Scale(scale=scale),
             "avg": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "flat2": nir.Flatten(input_type=None, start_dim=0), "lin": nir.Linear(weight=lin_w),
             "lif": lif(5), "out": nir.Output(output_type={"output": np.array([5])})}
    edges = [("in", "pool"), ("pool", "conv"), ("conv", "flat"), ("flat", "aff"), ("aff", "scale"), ("scale", "lif"),
             ("in", "avg"), ("avg", "flat2"), ("flat2", "lin"), ("lin", "lif"), ("lif", "out")]
    ins = {"in": (2, 8, 8), "pool": (2, 8, 8), "conv": (2, 4, 4), "flat": (3, 2, 2), "aff": (12,), "scale": (5,),
           "avg": (2, 8, 8), "flat2": (2, 4, 4), "lin": (32,), "lif": (5,), "out": (5,)}
    outs = dict(ins, **{"in": (2, 8, 8), "pool": (2, 4, 4), "conv": (3, 2, 2), "flat": (12,), "aff": (5,),
                       "scale": (5,), "avg": (2, 4, 4), "flat2": (32,), "lin": (5,)})
    torch_fn = lambda x: (torch.tensor(scale) * (torch.tensor(aff_w) @ F.conv2d(F.avg_pool2d(x[None], 2) * 4,  # noqa
                                                                                  torch.tensor(conv_w),
                                                                                  torch.tensor(conv_b))[0].reshape(-1)
                                                 + torch.tensor(aff_b))
                          + torch.tensor(lin_w) @ F.avg_pool2d(x[None], 2)[0].reshape(-1))
    return Graph(nodes, edges, ins, outs), torch_fn


def test_two_chains_fold_to_the_torch_composition():
    g, fn = chain_graph()
    f = Folder(g)
    paths = f.paths("lif")
    assert [(p.source, p.ops) for p in paths] == [("in", ("pool", "conv", "flat", "aff", "scale")),
                                                  ("in", ("avg", "flat2", "lin"))]
    d = f.drive("lif")
    for _ in range(3):
        x = RNG.normal(size=(2, 8, 8))
        assert np.allclose(d.matrices["in"] @ x.ravel() + d.bias, fn(torch.tensor(x)).numpy(), atol=1e-10)
    # each chain alone: its matrix plus its own bias
    x = RNG.normal(size=(2, 8, 8))
    chain1 = f.matrix(paths[0].ops) @ x.ravel() + f.bias("scale")
    assert np.allclose(chain1 + f.matrix(paths[1].ops) @ x.ravel(), fn(torch.tensor(x)).numpy(), atol=1e-10)


def test_a_bias_feeding_two_paths_is_counted_once():
    """in -> aff(bias 1) -> (s1, s2) -> lif: the bias arrives twice (through s1 and s2), once per path,
    and the two inputs in1, in2 -> aff share aff's bias once."""
    nodes = {"in1": nir.Input(input_type={"input": np.array([1])}), "in2": nir.Input(input_type={"input": np.array([1])}),
             "aff": nir.Affine(weight=np.array([[2.0]]), bias=np.array([1.0])),
             "s1": nir.Scale(scale=np.array([3.0])), "s2": nir.Scale(scale=np.array([5.0])), "lif": lif(1)}
    edges = [("in1", "aff"), ("in2", "aff"), ("aff", "s1"), ("aff", "s2"), ("s1", "lif"), ("s2", "lif")]
    shapes = {k: (1,) for k in nodes}
    d = Folder(Graph(nodes, edges, shapes, shapes)).drive("lif")
    # lif input = 3*(2*(x1+x2) + 1) + 5*(2*(x1+x2) + 1) = 16*(x1+x2) + 8
    assert d.matrices["in1"].toarray().tolist() == [[16.0]] and d.matrices["in2"].toarray().tolist() == [[16.0]]
    assert d.bias.tolist() == [8.0]


def test_conv1d_is_torch_conv1d():
    w, b = RNG.normal(size=(3, 2, 3)), RNG.normal(size=3)
    nodes = {"in": nir.Input(input_type={"input": np.array([2, 10])}),
             "c": nir.Conv1d(input_shape=None, weight=w, stride=2, padding=1, dilation=1, groups=1, bias=b),
             "lif": lif(15)}
    g = Graph(nodes, [("in", "c"), ("c", "lif")], {"in": (2, 10), "c": (2, 10), "lif": (3, 5)},
              {"in": (2, 10), "c": (3, 5), "lif": (3, 5)})
    d = Folder(g).drive("lif")
    x = RNG.normal(size=(2, 10))
    want = F.conv1d(torch.tensor(x[None]), torch.tensor(w), torch.tensor(b), stride=2, padding=1)[0].numpy()
    assert np.allclose(d.matrices["in"] @ x.ravel() + d.bias, want.ravel(), atol=1e-12)


def test_a_loop_of_linear_nodes_and_a_foreign_node_are_refused():
    shapes = {k: (1,) for k in ("in", "a", "b", "lif", "li")}
    one = lambda: nir.Linear(weight=np.array([[1.0]]))  # noqa: E731
    loop = Graph({"in": nir.Input(input_type={"input": np.array([1])}), "a": one(), "b": one(), "lif": lif(1)},
                 [("in", "a"), ("a", "b"), ("b", "a"), ("b", "lif")], shapes, shapes)
    with pytest.raises(InvalidModel, match="cycle"):
        Folder(loop).drive("lif")
    delay = Graph({"in": nir.Input(input_type={"input": np.array([1])}), "d": nir.Delay(delay=np.array([1.0])),
                   "lif": lif(1)}, [("in", "d"), ("d", "lif")], {"in": (1,), "d": (1,), "lif": (1,)},
                  {"in": (1,), "d": (1,), "lif": (1,)})
    with pytest.raises(UnsupportedNode) as e:
        Folder(delay).drive("lif")
    assert e.value.where == "d"
