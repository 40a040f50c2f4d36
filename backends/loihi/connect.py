"""Fold the linear nodes between two spike sources into one synapse matrix per (source, target).

On Loihi a synapse goes from a spiking unit (a graph input or a neuron) straight to a neuron: there
is no place to run a weight layer on another weight layer's output. Chains such as
SumPool2d -> Conv2d or Flatten -> Affine are linear, so their composition is exact and becomes one
sparse matrix; biases on the way are pushed through the rest of the chain to the neuron.
"""
from __future__ import annotations

import nir
import numpy as np
import scipy.sparse as sp

from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir.graph import Graph, is_neuron

LINEAR_TYPES = (nir.Affine, nir.Linear, nir.Scale, nir.Flatten, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)


def is_source(node) -> bool:
    return isinstance(node, nir.Input) or is_neuron(node)


def drives(graph: Graph, target: str) -> tuple[dict[str, sp.csr_matrix], np.ndarray]:
    """The input of neuron `target` as ``sum_src M[src] @ out(src) + bias`` (flat C-order vectors)."""
    return _affine_of(graph, target, set(), into=True)


def _affine_of(graph: Graph, name: str, visiting: set, *, into: bool = False):
    """Output of `name` (or, with ``into``, the summed input of `name`) as an affine map of sources."""
    node = graph.nodes[name]
    if not into and is_source(node):
        n = graph.size(name)
        return {name: sp.identity(n, format="csr")}, np.zeros(n)
    if name in visiting:
        raise InvalidModel("a cycle runs through weight layers only, with no neuron on it", where=name,
                           hint="every recurrent loop needs a spiking neuron to carry the one-step delay")
    visiting = visiting | {name}
    n_in = int(np.prod(graph.in_shape[name], dtype=np.int64)) if name in graph.in_shape else graph.size(name)
    mats: dict[str, sp.csr_matrix] = {}
    bias = np.zeros(n_in)
    preds = graph.predecessors(name)
    if not preds:
        raise InvalidModel("node has no input edge", where=name)
    for p in preds:
        pm, pb = _affine_of(graph, p, visiting)
        for src, m in pm.items():
            mats[src] = mats[src] + m if src in mats else m
        bias = bias + pb
    if into:
        return mats, bias
    lin, b = linear_map(graph, name)
    return {src: (lin @ m).tocsr() for src, m in mats.items()}, lin @ bias + b


def linear_map(graph: Graph, name: str) -> tuple[sp.csr_matrix, np.ndarray]:
    """(matrix, bias) of one linear node acting on its flattened input."""
    node = graph.nodes[name]
    n_out = graph.size(name)
    if isinstance(node, (nir.Affine, nir.Linear)):
        sparse = sp.issparse(node.weight)  # the dialect's CSR weights (docs/dialect.md)
        w = sp.csr_matrix(node.weight, dtype=np.float64) if sparse else np.asarray(node.weight, dtype=np.float64)
        if w.ndim != 2:
            raise UnsupportedNode(f"{type(node).__name__} weight must be 2-D, got shape {w.shape}", where=name)
        b = np.asarray(getattr(node, "bias", 0.0), dtype=np.float64)
        return sp.csr_matrix(w), np.broadcast_to(b, (w.shape[0],)).astype(np.float64)
    if isinstance(node, nir.Scale):
        return sp.diags(np.asarray(node.scale, dtype=np.float64).ravel()).tocsr(), np.zeros(n_out)
    if isinstance(node, nir.Flatten):
        return sp.identity(n_out, format="csr"), np.zeros(n_out)
    if isinstance(node, nir.Conv2d):
        w = np.asarray(node.weight, dtype=np.float64)
        m = conv2d_matrix(w, graph.in_shape[name], node.stride, node.padding, node.dilation, int(node.groups))
        b = np.asarray(node.bias if node.bias is not None else 0.0, dtype=np.float64)
        return m, np.repeat(np.broadcast_to(b, (w.shape[0],)), n_out // w.shape[0])
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        c = graph.in_shape[name][0]
        k = _pair(node.kernel_size)
        scale = 1.0 if isinstance(node, nir.SumPool2d) else 1.0 / (k[0] * k[1])
        w = np.full((c, 1, *k), scale)
        return conv2d_matrix(w, graph.in_shape[name], node.stride, node.padding, 1, c), np.zeros(n_out)
    raise UnsupportedNode(f"{type(node).__name__} has no Loihi mapping", where=name,
                          hint="supported: Input, LIF, CubaLIF, IF, Affine, Linear, Scale, Conv2d, "
                               "SumPool2d, AvgPool2d, Flatten, Output")


def _pair(x) -> tuple[int, int]:
    a = np.broadcast_to(np.asarray(x, dtype=np.int64).ravel(), (2,))
    return int(a[0]), int(a[1])


def conv2d_matrix(w, in_shape, stride, padding, dilation, groups: int) -> sp.csr_matrix:
    """PyTorch Conv2d (channels first, zero padding) on a (C, H, W) input as a sparse matrix."""
    cout, cin_g, kh, kw = w.shape
    cin, h, wd = (int(s) for s in in_shape)
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    if isinstance(padding, str):
        raise UnsupportedNode(f"string padding {padding!r} is not supported; give explicit integers")
    ph, pw = _pair(padding)
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    co, oy, ox, ci, ky, kx = np.meshgrid(np.arange(cout), np.arange(ho), np.arange(wo), np.arange(cin_g),
                                         np.arange(kh), np.arange(kw), indexing="ij")
    iy = oy * sh - ph + ky * dh
    ix = ox * sw - pw + kx * dw
    cig = (co // (cout // groups)) * cin_g + ci
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < wd)
    rows = ((co * ho + oy) * wo + ox)[ok]
    cols = ((cig * h + iy) * wd + ix)[ok]
    vals = w[co[ok], ci[ok], ky[ok], kx[ok]]
    m = sp.csr_matrix((vals, (rows, cols)), shape=(cout * ho * wo, cin * h * wd))
    m.eliminate_zeros()
    return m
