"""Per-node shape rules, batchless (NIR shapes never include the batch dimension).

The rule per node type is its op definition's (`neurodeploy.ops`); the functions below are what
those definitions are made of. `declared` is what a node's own parameters say about its input: a full shape, a pattern with
``None`` wildcards (a conv without ``input_shape`` knows only its channels), or ``None`` when any
shape is accepted (scalar-parameter neurons, pools of unknown rank). `output` maps an input shape
to the output shape. Both are pure; repairs live in `neurodeploy.ir.repair`.
"""
from __future__ import annotations

import math

import nir
import numpy as np

from .. import ops
from ..errors import InvalidModel, UnsupportedNode

# Largest number of elements we accept in one array or one node's signal: 2**28 (256 Mi, 1 GiB of
# float32). The largest seed model matrix (SpikeGPT 216M head, 50277 x 768) is 38.6 Mi elements.
MAX_ELEMENTS = 2**28

Shape = tuple[int, ...]
Pattern = tuple  # ints and None wildcards

# Stock types whose parameters all have the signal's shape (the reader's field lists and the op
# definitions' `params` both come from here).
NEURON_PARAMS = {
    nir.I: ("r",),
    nir.IF: ("r", "v_threshold", "v_reset"),
    nir.LI: ("tau", "r", "v_leak"),
    nir.LIF: ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    nir.CubaLI: ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    nir.CubaLIF: ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    # element-wise nodes whose single parameter fixes the shape
    nir.Scale: ("scale",),
    nir.Delay: ("delay",),
    nir.Threshold: ("threshold",),
}


def elementwise_params(node) -> tuple[str, ...]:
    """Parameter names of a node whose parameters all have the neuron (signal) shape."""
    op = ops.find(node)
    return op.params if op else ()


def check_size(shape, where: str, what: str = "shape") -> Shape:
    shape = tuple(int(s) for s in shape)
    if any(s < 1 for s in shape):
        raise InvalidModel(f"{what} {shape} has a dimension below 1", where=where)
    if math.prod(shape) > MAX_ELEMENTS:
        raise InvalidModel(f"{what} {shape} has {math.prod(shape)} elements, above the limit of "
                           f"{MAX_ELEMENTS}", where=where, hint="see docs/ir.md, 'Limits'")
    return shape


def fits(shape: Shape | None, pattern: Pattern | None) -> bool:
    if pattern is None:
        return True
    if shape is None or len(shape) != len(pattern):
        return False
    return all(p is None or p == s for s, p in zip(shape, pattern))


def _pair(v, name: str, where: str) -> tuple[int, int]:
    v = (v, v) if np.ndim(v) == 0 else tuple(v)
    if len(v) != 2:
        raise InvalidModel(f"{name} must be one int or a pair, got {v}", where=where)
    return int(v[0]), int(v[1])


def conv_weight_channels(node, where: str) -> tuple[int, int]:
    """(in channels, out channels) of a conv: PyTorch layout, weight (Cout, Cin/groups, *K)."""
    groups = int(node.groups)
    cout, cin_g = node.weight.shape[:2]
    if groups < 1 or cout % groups:
        raise InvalidModel(f"groups={groups} must be >= 1 and divide the {cout} output channels", where=where)
    return cin_g * groups, cout


def declared(node, where: str) -> Pattern | None:
    """What `node`'s parameters say about its input shape (on every port), from its op definition."""
    if isinstance(node, nir.NIRGraph):
        raise InvalidModel("nested graph reached shape inference unflattened", where=where)
    op = ops.get(node, where)
    if op.declared is None:
        raise UnsupportedNode(f"no shape rule for node type {op.name}", where=where)
    return op.declared(node, where)


def output(node, shape: Shape, where: str) -> Shape:
    """Output shape of `node` for input `shape` (already checked against `declared`)."""
    return ops.get(node, where).output(node, shape, where)


# --- shape rules the op definitions (neurodeploy.ops.stock, .extensions) are made of -----------

def input_declared(node, where: str) -> Pattern:
    return tuple(int(s) for s in node.input_type["input"])


def output_declared(node, where: str) -> Pattern:
    return tuple(int(s) for s in node.output_type["output"])


def matrix_declared(node, where: str) -> Pattern:
    if node.weight.ndim != 2:
        raise UnsupportedNode(f"weight must be a matrix (out, in), got shape {node.weight.shape}",
                              where=where)
    _check_bias(node, node.weight.shape[0], "weight rows", where)
    return (node.weight.shape[1],)


def _check_bias(node, n: int, what: str, where: str) -> None:
    """A bias is one value per output (or one scalar for all): anything else cannot be broadcast."""
    bias = getattr(node, "bias", None)
    if bias is not None and np.shape(bias) not in ((), (n,)):
        raise InvalidModel(f"bias has shape {np.shape(bias)}, not ({n},) for the {n} {what}", where=where)


def _per_dim(v, nsp: int, name: str, where: str) -> np.ndarray:
    """A conv parameter given once or once per spatial dim (stride, dilation)."""
    a = np.asarray(v)
    if a.ndim > 1 or a.size not in (1, nsp):
        raise InvalidModel(f"{name} {a.tolist()} must be one int or {nsp} (one per spatial dim)", where=where)
    return np.broadcast_to(a.reshape(-1) if a.ndim else a, (nsp,))


def matrix_output(node, shape: Shape, where: str) -> Shape:
    return (node.weight.shape[0],)


def params_declared(node, where: str) -> Pattern | None:
    """Neurons and element-wise nodes: the shape of their parameters (None if all scalars)."""
    shapes = {np.shape(getattr(node, p)) for p in elementwise_params(node)}
    return None if shapes == {()} else shapes.pop()


def conv_declared(node, where: str, nsp: int) -> Pattern:
    """Conv1d (`nsp` = 1 spatial dim) and Conv2d (2)."""
    cin, _ = conv_weight_channels(node, where)
    if node.weight.ndim != 2 + nsp:
        raise InvalidModel(f"weight must have {2 + nsp} dims, got shape {node.weight.shape}", where=where)
    if node.input_shape is None:
        return (cin,) + (None,) * nsp
    return (cin,) + tuple(int(s) for s in np.atleast_1d(node.input_shape))


def pool_declared(node, where: str) -> Pattern:
    return (None, None, None)


def flatten_declared(node, where: str) -> Pattern | None:
    t = node.input_type["input"]
    return None if t is None else tuple(int(s) for s in t)


def typed_declared(node, where: str) -> Pattern | None:
    """Dialect nodes: the input type their __post_init__ set (None: filled in by inference)."""
    t = node.input_type["input"]
    return None if t is None else tuple(int(s) for s in t)


def typed_output(node, shape: Shape, where: str) -> Shape:
    return tuple(int(s) for s in node.output_type["output"])


def _conv_out(n: int, k: int, s: int, p, d: int, where: str) -> int:
    if s < 1 or d < 1 or k < 1:
        raise InvalidModel(f"stride {s}, dilation {d} and kernel {k} must be >= 1", where=where)
    if p == "same":
        if s != 1:
            raise InvalidModel("padding 'same' needs stride 1 (as in PyTorch)", where=where)
        return n
    p = 0 if p == "valid" else int(p)
    if p < 0:
        raise InvalidModel(f"negative padding {p}", where=where)
    out = (n + 2 * p - d * (k - 1) - 1) // s + 1
    if out < 1:
        raise InvalidModel(f"input size {n} is too small for kernel {k} (dilation {d}, padding {p})",
                           where=where)
    return out


def conv_output(node, shape: Shape, where: str) -> Shape:
    nsp = len(shape) - 1
    _, cout = conv_weight_channels(node, where)
    ks = node.weight.shape[2:]
    pad = node.padding
    pads = [pad] * nsp if isinstance(pad, str) or np.ndim(pad) == 0 else list(pad)
    strides = _per_dim(node.stride, nsp, "stride", where)
    dil = _per_dim(node.dilation, nsp, "dilation", where)
    _check_bias(node, cout, "output channels", where)
    if len(ks) != nsp:
        raise InvalidModel(f"kernel {tuple(ks)} does not match {nsp} spatial dims", where=where)
    if len(pads) != nsp:
        raise InvalidModel(f"padding {pad} does not match {nsp} spatial dims", where=where)
    return (cout,) + tuple(_conv_out(n, int(k), int(s), p, int(d), where)
                           for n, k, s, p, d in zip(shape[1:], ks, strides, pads, dil))


def pool_output(node, shape: Shape, where: str) -> Shape:
    k = _pair(node.kernel_size, "kernel_size", where)
    s = _pair(k if node.stride is None else node.stride, "stride", where)
    p = _pair(node.padding, "padding", where)
    return (shape[0],) + tuple(_conv_out(n, ki, si, pi, 1, where) for n, ki, si, pi in zip(shape[1:], k, s, p))


def flatten_output(node, shape: Shape, where: str) -> Shape:
    return flatten_shape(shape, int(node.start_dim), int(node.end_dim), where)


def flatten_shape(shape: Shape, start: int, end: int, where: str) -> Shape:
    rank = len(shape)
    s, e = start % rank if -rank <= start < rank else None, end % rank if -rank <= end < rank else None
    if s is None or e is None or s > e:
        raise InvalidModel(f"Flatten dims start={start}, end={end} do not fit an input of rank {rank}",
                           where=where)
    return shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:]
