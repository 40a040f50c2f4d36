"""Synapse-chain folding: the linear nodes between two spike sources become one sparse matrix.

On a neuromorphic chip a synapse goes from a spiking unit (a graph input or a neuron) straight to a
neuron; there is nowhere to run a weight layer on another weight layer's output. Every chain of
Affine/Linear/Conv1d/Conv2d/SumPool2d/AvgPool2d/Scale/Flatten nodes is linear, so its composition
is exact: per (source, neuron) the neuron's input is ``M @ out(source)`` plus one bias for all
sources. Matrices act on C-order flattened vectors and are float64 CSR.

A `Folder` walks one graph. `Folder.paths(neuron)` lists every chain (source, ops in order) so a
backend that maps chains itself (SpiNNaker 2's MLA convolutions, one projection per chain) sees
them; `Folder.matrix(ops)` is a chain's matrix; `Folder.drive(neuron)` sums the chains per source
(each linear node's bias counted once, pushed through the rest of the graph to the neuron).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import nir
import numpy as np
import scipy.sparse as sp

from ..errors import InvalidModel, UnsupportedNode
from ..ir.graph import Graph, is_neuron

LINEAR = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Scale, nir.Flatten)
WEIGHTS = (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d)


def is_source(node) -> bool:
    """A node whose output a synapse can carry: a graph input or a neuron."""
    return isinstance(node, nir.Input) or is_neuron(node)


def to_csr(w) -> sp.csr_matrix:
    """float64 CSR of a dense 2-D array's nonzeros, or of a scipy.sparse matrix (the dialect's CSR
    weights). Builds indptr directly: several times faster than scipy's route through COO."""
    if sp.issparse(w):
        m = sp.csr_matrix(w, dtype=np.float64, copy=True)  # eliminate_zeros works in place
        m.eliminate_zeros()
        return m
    w = np.asarray(w)
    mask = w != 0
    flat = np.flatnonzero(mask)
    return sp.csr_matrix((w.reshape(-1)[flat].astype(np.float64), (flat % w.shape[1]).astype(np.int32),
                          np.r_[0, np.cumsum(mask.sum(1))]), shape=w.shape)


def pair(x) -> tuple[int, int]:
    a = np.broadcast_to(np.asarray(x, dtype=np.int64).ravel(), (2,))
    return int(a[0]), int(a[1])


def conv2d_matrix(w, in_shape, stride=1, padding=0, dilation=1, groups: int = 1) -> sp.csr_matrix:
    """PyTorch Conv2d (channels first, zero padding) on a (C, H, W) input as a sparse (out, in)
    matrix; zero kernel entries make no entry."""
    w = np.asarray(w, dtype=np.float64)
    cout, cin_g, kh, kw = w.shape
    cin, h, wd = (int(s) for s in in_shape)
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    if isinstance(padding, str):
        raise UnsupportedNode(f"string padding {padding!r} is not supported", hint="give explicit integers")
    ph, pw = pair(padding)
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    co, oy, ox, ci, ky, kx = np.meshgrid(np.arange(cout), np.arange(ho), np.arange(wo), np.arange(cin_g),
                                         np.arange(kh), np.arange(kw), indexing="ij")
    iy, ix = oy * sh - ph + ky * dh, ox * sw - pw + kx * dw
    cig = (co // (cout // groups)) * cin_g + ci
    vals = w[co, ci, ky, kx]
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < wd) & (vals != 0)
    rows = ((co * ho + oy) * wo + ox)[ok]
    cols = ((cig * h + iy) * wd + ix)[ok]
    m = sp.csr_matrix((vals[ok], (rows, cols)), shape=(cout * ho * wo, cin * h * wd))
    m.sum_duplicates()
    return m


def pool2d_matrix(in_shape, kernel, stride, padding, value: float = 1.0) -> sp.csr_matrix:
    """Sum pooling (value 1) or average pooling (value 1/(kh*kw)) per channel as a sparse matrix."""
    k = pair(kernel)
    c = int(in_shape[0])
    return conv2d_matrix(np.full((c, 1, *k), value), in_shape, stride, padding, 1, c)


def node_bias(graph: Graph, name: str) -> np.ndarray:
    """The bias one linear node adds to its flat output (zeros for nodes without one)."""
    node = graph.nodes[name]
    n_out = graph.size(name)
    if isinstance(node, nir.Affine):
        b = np.asarray(node.bias, dtype=np.float64)
        return np.broadcast_to(b.reshape(-1) if b.ndim else b, (n_out,)).astype(np.float64)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)) and node.bias is not None:
        cout = np.shape(node.weight)[0]
        return np.repeat(np.broadcast_to(np.asarray(node.bias, np.float64).reshape(-1), (cout,)), n_out // cout)
    return np.zeros(n_out)


def node_matrix(graph: Graph, name: str) -> sp.csr_matrix:
    """The (out, in) matrix of one linear node acting on its flattened input."""
    node = graph.nodes[name]
    n_out = graph.size(name)
    if isinstance(node, (nir.Affine, nir.Linear)):
        if np.ndim(node.weight) != 2:
            raise UnsupportedNode(f"{type(node).__name__} weight must be 2-D, got shape {np.shape(node.weight)}",
                                  where=name)
        return to_csr(node.weight)
    if isinstance(node, nir.Scale):
        return sp.diags(np.broadcast_to(np.asarray(node.scale, np.float64).ravel(), (n_out,))).tocsr()
    if isinstance(node, nir.Flatten):
        return sp.identity(n_out, format="csr")
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        w, in_shape = np.asarray(node.weight, dtype=np.float64), tuple(graph.in_shape[name])
        stride, padding, dilation = node.stride, node.padding, node.dilation
        if isinstance(node, nir.Conv1d):  # a 1-D convolution is a 2-D one over a height-1 image
            w, in_shape = w[:, :, None, :], (in_shape[0], 1, in_shape[1])
            stride, dilation = (1, _one(stride)), (1, _one(dilation))
            padding = padding if isinstance(padding, str) else (0, _one(padding))
        return conv2d_matrix(w, in_shape, stride, padding, dilation, int(node.groups))
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        kh, kw = pair(node.kernel_size)
        value = 1.0 if isinstance(node, nir.SumPool2d) else 1.0 / (kh * kw)
        return pool2d_matrix(graph.in_shape[name], (kh, kw), node.stride, node.padding, value)
    raise UnsupportedNode(f"{type(node).__name__} is not a linear node", where=name)


def linear_map(graph: Graph, name: str) -> tuple[sp.csr_matrix, np.ndarray]:
    """(matrix, bias) of one linear node acting on its flattened input."""
    return node_matrix(graph, name), node_bias(graph, name)


def _one(x) -> int:
    return int(np.asarray(x).ravel()[0])


@dataclass(frozen=True)
class Path:
    """One chain from a spike source to a neuron: the linear ops in signal order."""

    source: str
    ops: tuple[str, ...]


@dataclass
class Drive:
    """A neuron's input: ``sum_src matrices[src] @ out(src) + bias`` (flat C-order vectors)."""

    matrices: dict[str, sp.csr_matrix]
    bias: np.ndarray


def default_unsupported(graph: Graph, name: str) -> Exception:
    kind = type(graph.nodes[name]).__name__
    return UnsupportedNode(f"{kind} cannot sit between two spike sources", where=name,
                           hint="only linear nodes (Affine, Linear, Conv, pooling, Scale, Flatten) fold into "
                                "synapses")


class Folder:
    """Chains, matrices and biases of one graph, each linear node's map computed once.

    `unsupported(graph, name)` builds the error for a node that is neither a source nor linear
    (backends word it for their target)."""

    def __init__(self, graph: Graph, unsupported: Callable[[Graph, str], Exception] = default_unsupported):
        self.graph, self.unsupported = graph, unsupported
        self._maps: dict[str, sp.csr_matrix] = {}
        self._bias: dict[str, np.ndarray] = {}

    def linear(self, name: str) -> sp.csr_matrix:
        """The node's matrix; kept only for a node on several chains (a weight matrix on one chain is
        built when its chain is folded and freed with it: big graphs hold one layer at a time)."""
        if name in self._maps:
            return self._maps[name]
        m = node_matrix(self.graph, name)
        if len(self.graph.successors(name)) > 1:
            self._maps[name] = m
        return m

    def paths(self, neuron: str) -> list[Path]:
        """Every chain into `neuron`, depth first in predecessor order."""
        return [Path(src, ops) for src, ops in self._walk(neuron, ())]

    def _walk(self, name: str, path: tuple) -> list[tuple[str, tuple]]:
        out = []
        for pre in self.graph.predecessors(name):
            node = self.graph.nodes[pre]
            if is_source(node):
                out.append((pre, path))
            elif isinstance(node, LINEAR):
                if pre in path:
                    raise InvalidModel("a cycle runs through linear nodes only, with no neuron on it", where=pre,
                                       hint="every recurrent loop needs a spiking neuron to carry the one-step "
                                            "delay")
                out.extend(self._walk(pre, (pre,) + path))
            else:
                raise self.unsupported(self.graph, pre)
        return out

    def matrix(self, ops: tuple[str, ...]) -> sp.csr_matrix:
        """The chain's (out, in) matrix: the ops' maps composed in signal order."""
        m = None
        for op in ops:
            lin = self.linear(op)
            m = lin if m is None else (lin @ m).tocsr()
        if m is None:
            raise InvalidModel("a chain with no linear node has no matrix")
        m.sum_duplicates()  # canonical: sorted column indices, one entry per position
        m.eliminate_zeros()
        return m

    def bias(self, name: str) -> np.ndarray:
        """The constant part of the output of linear node `name` (its own bias and every upstream
        linear node's, pushed through); zeros for a source."""
        if name not in self._bias:
            if is_source(self.graph.nodes[name]):
                return np.zeros(self.graph.size(name))
            b = node_bias(self.graph, name)
            upstream = [self.bias(p) for p in self.graph.predecessors(name)]
            if any(u.any() for u in upstream):
                b = self.linear(name) @ sum(upstream) + b
            self._bias[name] = b
        return self._bias[name]

    def neuron_bias(self, neuron: str) -> np.ndarray:
        """The constant input of `neuron`: every chain's biases, each linear node counted once."""
        n = self.graph.size(neuron)
        return sum((self.bias(p) for p in self.graph.predecessors(neuron)), np.zeros(n))

    def drive(self, neuron: str) -> Drive:
        """The neuron's input as one matrix per source (chains from one source summed) plus bias."""
        mats: dict[str, sp.csr_matrix] = {}
        for p in self.paths(neuron):
            m = self.matrix(p.ops) if p.ops else sp.identity(self.graph.size(p.source), format="csr")
            mats[p.source] = (mats[p.source] + m).tocsr() if p.source in mats else m
        return Drive(mats, self.neuron_bias(neuron))
