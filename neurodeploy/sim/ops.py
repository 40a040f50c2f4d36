"""Stateless NIR nodes as NumPy functions on batched arrays, plus their synapse fan-out.

Every function maps x of shape (N, *in_shape) to (N, *out_shape); N is the batch, or time x batch
when the simulator evaluates a node for all steps at once. Convolution is an im2col GEMM, or,
when the input is sparse enough, an event-driven scatter of the active inputs' synapses
(`neurodeploy.sim.scatter`); pooling adds one strided slice per window tap. Both follow PyTorch
(channels first, cross-correlation, zero padding, ``'same'`` padding puts the odd extra pixel at
the end).

`Fan.events` gives, per input element, the number of synapses it drives (non-zero weights times
the output positions its kernel footprint reaches). Synaptic events per step are then
``(x != 0) . events``, exact for convolutions too, without touching the weights again.
`Fan.dense` counts every synapse of one sample, zero weights included (a dense machine's work).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..errors import InvalidModel, UnsupportedNode
from .scatter import GEMM_CALL, scatter


class Fan(NamedTuple):
    events: np.ndarray  # synapses (non-zero weights) driven by each input element
    dense: int  # all synapses of one sample, zero weights included


def make(name: str, node, in_shape: tuple, out_shape: tuple, dtype):
    """Return (fn, Fan or None) for a stateless node, from its op definition."""
    from .. import ops

    op = ops.get(node, name)
    if op.stateless is None:
        raise UnsupportedNode(f"{op.name} is not a stateless op", where=name)
    return op.stateless(name, node, in_shape, out_shape, dtype)


def identity(name, node, in_shape, out_shape, dtype):
    return (lambda x: x), None


def reshape(name, node, in_shape, out_shape, dtype):
    return (lambda x: x.reshape((x.shape[0],) + tuple(out_shape))), None


def scale(name, node, in_shape, out_shape, dtype):
    s = np.asarray(node.scale, dtype=dtype)
    return (lambda x: x * s), None


def threshold(name, node, in_shape, out_shape, dtype):
    th = np.asarray(node.threshold, dtype=dtype)
    return (lambda x: (x > th).astype(dtype)), None


def matrix(name, node, in_shape, out_shape, dtype):
    """Affine / Linear (dense or scipy.sparse weight)."""
    return _dense(name, node, dtype)


def _dense(name, node, dtype):
    if sp.issparse(node.weight):
        return _sparse(name, node, dtype)
    w = np.asarray(node.weight, dtype=dtype)
    if w.ndim != 2:
        raise UnsupportedNode(f"{type(node).__name__} weight with {w.ndim} dimensions (only 2-D is supported)",
                              where=name)
    wt = np.ascontiguousarray(w.T)
    b = None if getattr(node, "bias", None) is None else np.asarray(node.bias, dtype=dtype)
    fan = Fan(np.count_nonzero(w, axis=0).astype(np.int64), int(w.size))

    def dense(x):
        y = x.reshape(x.shape[0], -1) @ wt
        if b is not None:
            y += b
        return y
    return dense, fan


def _sparse(name, node, dtype):
    """A scipy.sparse weight (an LSM's 10^6 x 10^6) as a CSR product, never made dense. Its implicit
    zeros are zero weights: they drive no events but count in `Fan.dense`, as a dense machine's."""
    if node.weight.ndim != 2:
        raise UnsupportedNode(f"sparse weight with {node.weight.ndim} dimensions (only 2-D is supported)",
                              where=name)
    w = sp.csr_array(node.weight, dtype=dtype)
    b = None if getattr(node, "bias", None) is None else np.asarray(node.bias, dtype=dtype)
    fan = Fan(np.bincount(w.indices[w.data != 0], minlength=w.shape[1]).astype(np.int64),
              int(w.shape[0]) * int(w.shape[1]))

    def product(x):
        y = np.ascontiguousarray((w @ x.reshape(x.shape[0], -1).T).T)
        if b is not None:
            y += b
        return y
    return product, fan


def _pairs(v, nd: int) -> tuple[int, ...]:
    a = np.atleast_1d(np.asarray(v)).astype(int).ravel()
    return tuple(int(i) for i in (np.repeat(a, nd) if a.size == 1 else a))


def _padding(padding, kernel, dilation, nd: int) -> list[tuple[int, int]]:
    """(before, after) zero padding per spatial axis, PyTorch's rule for 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * nd
        if padding == "same":
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return [(t // 2, t - t // 2) for t in total]
        raise InvalidModel(f"padding {padding!r} is not 'same', 'valid' or integers")
    return [(p, p) for p in _pairs(padding, nd)]


def _pad(x, pads, first: int):
    """x zero-padded by pads (before, after) on the spatial axes starting at `first` (np.pad is slow)."""
    if not any(p for pair in pads for p in pair):
        return x
    shape, inner = list(x.shape), [slice(None)] * x.ndim
    for i, (a, b) in enumerate(pads, start=first):
        shape[i] += a + b
        inner[i] = slice(a, a + x.shape[i])
    out = np.zeros(shape, dtype=x.dtype)
    out[tuple(inner)] = x
    return out


def _footprint(counts, in_spatial, out_spatial, kernel, stride, dilation, pads):
    """Per input element, sum of `counts[c, *tap]` over every (output position, tap) that reads it."""
    nd = len(kernel)
    padded = tuple(n + a + b for n, (a, b) in zip(in_spatial, pads))
    fan = np.zeros((counts.shape[0],) + padded, dtype=np.int64)
    for tap in np.ndindex(*kernel):  # loop over kernel taps (at most a few dozen), setup only
        sl = tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                   for t, d, s, o in zip(tap, dilation, stride, out_spatial))
        fan[(slice(None),) + sl] += counts[(slice(None),) + tap].reshape((-1,) + (1,) * nd)
    crop = tuple(slice(a, a + n) for n, (a, _) in zip(in_spatial, pads))
    return fan[(slice(None),) + crop]


def conv(name, node, in_shape, out_shape, dtype):
    w = np.asarray(node.weight, dtype=dtype)
    nd = w.ndim - 2
    kernel, groups = w.shape[2:], int(node.groups)
    stride, dilation = _pairs(node.stride, nd), _pairs(node.dilation, nd)
    pads = _padding(node.padding, kernel, dilation, nd)
    cin, cout = int(in_shape[0]), w.shape[0]
    if cin != w.shape[1] * groups or cout % groups:
        raise InvalidModel(f"conv weight {w.shape} with groups={groups} does not fit {cin} input channels",
                           where=name)
    b = np.asarray(node.bias, dtype=dtype).reshape((-1,) + (1,) * nd) if node.bias is not None else 0
    dense = Im2col(w, groups, in_shape, out_shape, stride, dilation, pads)
    sparse = scatter(w, groups, in_shape[1:], out_shape[1:], stride, dilation, pads)
    shape = tuple(out_shape)

    def convolve(x):
        events = None if sparse is None else sparse.events(x, dense.cost(len(x)))  # None: dense is cheaper
        y = dense(x) if events is None else sparse(x, events).reshape((len(x),) + shape)
        return y + b

    nz = (w != 0).reshape((groups, cout // groups) + w.shape[1:]).sum(axis=1)  # groups, Cin/g, *k
    counts = nz.reshape((cin,) + tuple(kernel))
    geometry = (in_shape[1:], out_shape[1:], kernel, stride, dilation, pads)
    every = _footprint(np.full_like(counts, cout // groups), *geometry)
    return convolve, Fan(_footprint(counts, *geometry).ravel(), int(every.sum()))


class Im2col:
    """Dense convolution as one GEMM per group: gather, for every output position, the kernel
    window of the channels-last padded input (rows of Cin contiguous values, so the gather is
    cheap even for many channels), then multiply by the (taps x Cin, Cout) weight matrix. A few
    samples at a time, so that the gathered columns stay in cache (2x faster at batch 64)."""

    COLS_BYTES = 1 << 19

    def __init__(self, w, groups, in_shape, out_shape, stride, dilation, pads):
        nd, (cout, cg), kernel = w.ndim - 2, w.shape[:2], w.shape[2:]
        padded = tuple(n + a + b for n, (a, b) in zip(in_shape[1:], pads))
        pos = np.indices(out_shape[1:]).reshape(nd, -1) * np.array(stride)[:, None]
        taps = np.indices(kernel).reshape(nd, -1) * np.array(dilation)[:, None]
        self.window = np.ravel_multi_index(tuple(pos[:, :, None] + taps[:, None, :]), padded)  # (P, taps)
        self.w = np.ascontiguousarray(w.reshape(groups, cout // groups, cg, -1).transpose(0, 3, 2, 1))
        self.w = self.w.reshape(groups, -1, cout // groups)  # (groups, taps x Cin/g, Cout/g)
        self.groups, self.cout, self.out_shape = groups, cout, tuple(out_shape)
        self.macs = self.window.size * cg * cout  # per sample
        self.rows = max(1, self.COLS_BYTES // (self.window.size * cg * groups * w.itemsize))  # samples per GEMM
        self.last = (0,) + tuple(range(2, nd + 2)) + (1,)  # channels-last axes
        self.padded = padded + (cg * groups,)
        self.inner = (slice(None),) + tuple(slice(a, a + n) for n, (a, _) in zip(in_shape[1:], pads))
        self.buffers = {}  # batch -> zero-padded input buffer (the border stays zero)

    def cost(self, n: int) -> int:
        """Estimated cost in multiply-adds, a GEMM call's overhead included (see `scatter`)."""
        return n * self.macs + GEMM_CALL * self.groups

    def __call__(self, x):
        n, c = x.shape[:2]
        if n not in self.buffers:
            self.buffers[n] = np.zeros((n,) + self.padded, dtype=x.dtype)
        padded = self.buffers[n]
        padded[self.inner] = x.transpose(self.last)
        flat = padded.reshape(n, -1, c)
        y = np.empty((n, len(self.window), self.cout), dtype=x.dtype)
        for i in range(0, n, self.rows):
            y[i:i + self.rows] = self._gemm(np.take(flat[i:i + self.rows], self.window, axis=1))
        return y.transpose(0, 2, 1).reshape((n,) + self.out_shape)

    def _gemm(self, cols):
        """(N, P, taps, Cin) gathered windows -> (N, P, Cout)."""
        n, p, _, c = cols.shape
        if self.groups == 1:
            return (cols.reshape(n * p, -1) @ self.w[0]).reshape(n, p, -1)
        # (groups, N x P, taps x Cin/g) @ (groups, taps x Cin/g, Cout/g)
        cols = cols.reshape(n * p, -1, self.groups, c // self.groups).transpose(2, 0, 1, 3)
        return np.matmul(cols.reshape(self.groups, n * p, -1), self.w).transpose(1, 0, 2).reshape(n, p, -1)


def _taps(kernel, stride, dilation, out_spatial):
    """Per kernel tap, the slices of the padded input that it reads for every output position."""
    return [tuple(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in zip(tap, dilation, stride, out_spatial))
            for tap in np.ndindex(*kernel)]


def pool(name, node, in_shape, out_shape, dtype, average: bool = False):
    """SumPool2d, or AvgPool2d with `average`."""
    kernel = _pairs(node.kernel_size, 2)
    stride, pads = _pairs(node.stride, 2), _padding(node.padding, kernel, (1, 1), 2)
    factor = np.asarray(1.0 / np.prod(kernel), dtype=dtype) if average else None
    slices = _taps(kernel, stride, (1, 1), out_shape[1:])

    def window_sum(x):  # one strided slice per tap (a few adds, no window view)
        x = _pad(x, pads, 2)
        y = x[(Ellipsis,) + slices[0]].copy()
        for sl in slices[1:]:
            y += x[(Ellipsis,) + sl]
        return y * factor if factor is not None else y

    counts = np.ones((int(in_shape[0]),) + kernel, dtype=np.int64)
    fan = _footprint(counts, in_shape[1:], out_shape[1:], kernel, stride, (1, 1), pads).ravel()
    return window_sum, Fan(fan, int(fan.sum()))
