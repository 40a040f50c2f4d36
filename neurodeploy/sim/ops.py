"""Stateless NIR nodes as NumPy functions on batched arrays, plus their synapse fan-out.

Every function maps x of shape (N, *in_shape) to (N, *out_shape); N is the batch, or time x batch
when the simulator evaluates a node for all steps at once. Convolution is one GEMM per kernel tap
on channels-last strided slices (no im2col copy, which NumPy makes slowly for small kernels);
pooling sums a strided window view. Both follow PyTorch (channels first, cross-correlation, zero
padding, ``'same'`` padding puts the odd extra pixel at the end).

`Fan.events` gives, per input element, the number of synapses it drives (non-zero weights times
the output positions its kernel footprint reaches). Synaptic events per step are then
``(x != 0) . events``, exact for convolutions too, without touching the weights again.
`Fan.dense` counts every synapse of one sample, zero weights included (a dense machine's work).
"""
from __future__ import annotations

from typing import NamedTuple

import nir
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import InvalidModel, UnsupportedNode

POOL_TYPES = (nir.SumPool2d, nir.AvgPool2d)


class Fan(NamedTuple):
    events: np.ndarray  # synapses (non-zero weights) driven by each input element
    dense: int  # all synapses of one sample, zero weights included


def make(name: str, node, in_shape: tuple, out_shape: tuple, dtype):
    """Return (fn, Fan or None) for a stateless node."""
    if isinstance(node, (nir.Input, nir.Output)):
        return (lambda x: x), None
    if isinstance(node, (nir.Affine, nir.Linear)):
        return _dense(name, node, dtype)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        return _conv(name, node, in_shape, out_shape, dtype)
    if isinstance(node, POOL_TYPES):
        return _pool(name, node, in_shape, out_shape, dtype)
    if isinstance(node, nir.Flatten):
        return (lambda x: x.reshape((x.shape[0],) + tuple(out_shape))), None
    if isinstance(node, nir.Scale):
        s = np.asarray(node.scale, dtype=dtype)
        return (lambda x: x * s), None
    if isinstance(node, nir.Threshold):
        th = np.asarray(node.threshold, dtype=dtype)
        return (lambda x: (x > th).astype(dtype)), None
    raise UnsupportedNode(f"node type {type(node).__name__} is not supported by the reference simulator",
                          where=name)


def _dense(name, node, dtype):
    w = np.asarray(node.weight, dtype=dtype)
    if w.ndim != 2:
        raise UnsupportedNode(f"{type(node).__name__} weight with {w.ndim} dimensions (only 2-D is supported)",
                              where=name)
    wt = np.ascontiguousarray(w.T)
    b = np.asarray(node.bias, dtype=dtype) if isinstance(node, nir.Affine) else None
    fan = Fan(np.count_nonzero(w, axis=0).astype(np.int64), int(w.size))

    def dense(x):
        y = x.reshape(x.shape[0], -1) @ wt
        if b is not None:
            y += b
        return y
    return dense, fan


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


def _windows(x, kernel, stride, dilation, pads):
    """(N, C, *out, *kernel) strided view of the zero-padded input (no copy until used)."""
    nd = len(kernel)
    if any(p for pair in pads for p in pair):
        x = np.pad(x, [(0, 0), (0, 0)] + list(pads))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    win = sliding_window_view(x, span, axis=tuple(range(2, 2 + nd)))
    sl = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) + \
        tuple(slice(None, None, d) for d in dilation)
    return win[sl]


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


def _conv(name, node, in_shape, out_shape, dtype):
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
    cg, og = w.shape[1], cout // groups  # channels per group, in and out
    taps = [(tap, tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                        for t, d, s, o in zip(tap, dilation, stride, out_shape[1:])))
            for tap in np.ndindex(*kernel)]
    w_last = np.ascontiguousarray(np.moveaxis(w, (0, 1), (-1, -2)))  # *k, Cin/g, Cout

    def conv(x):
        x = np.moveaxis(x, 1, -1)  # channels last: each tap is one (positions x Cin) @ (Cin x Cout)
        if any(p for pair in pads for p in pair):
            x = np.pad(x, [(0, 0)] + pads + [(0, 0)])
        y = np.zeros((x.shape[0],) + tuple(out_shape[1:]) + (cout,), dtype=x.dtype)
        for tap, sl in taps:  # one GEMM per kernel tap and group; no im2col copy
            for g in range(groups):
                y[..., g * og:(g + 1) * og] += x[(slice(None),) + sl + (slice(g * cg, (g + 1) * cg),)] @ \
                    w_last[tap][:, g * og:(g + 1) * og]
        return np.moveaxis(y, -1, 1) + b

    nz = (w != 0).reshape((groups, cout // groups) + w.shape[1:]).sum(axis=1)  # groups, Cin/g, *k
    counts = nz.reshape((cin,) + tuple(kernel))
    geometry = (in_shape[1:], out_shape[1:], kernel, stride, dilation, pads)
    every = _footprint(np.full_like(counts, cout // groups), *geometry)
    return conv, Fan(_footprint(counts, *geometry).ravel(), int(every.sum()))


def _pool(name, node, in_shape, out_shape, dtype):
    kernel = _pairs(node.kernel_size, 2)
    stride, pads = _pairs(node.stride, 2), _padding(node.padding, kernel, (1, 1), 2)
    scale = np.asarray(1.0 / np.prod(kernel), dtype=dtype) if isinstance(node, nir.AvgPool2d) else None

    def pool(x):
        y = _windows(x, kernel, stride, (1, 1), pads).sum(axis=(-2, -1))
        return y * scale if scale is not None else y

    counts = np.ones((int(in_shape[0]),) + kernel, dtype=np.int64)
    fan = _footprint(counts, in_shape[1:], out_shape[1:], kernel, stride, (1, 1), pads).ravel()
    return pool, Fan(fan, int(fan.sum()))
