"""A host segment as one ONNX graph that advances the segment by one step (one token).

Tensors (batch dimension ``B`` first):
- ``in:<src>``: this step's value of a node outside the segment; ``prev:<src>``: its previous
  step's value (for a delayed edge, e.g. a recurrence closing over the boundary);
- ``state:<node>:<k>`` / ``next:<node>:<k>``: a stateful node's state before / after the step
  (initial values in `HostPart.state0`, one sample, broadcast over the batch by the runner);
- ``out:<node>``: the segment's outputs.
Each node's arithmetic is the reference's (docs/equations.md, `neurodeploy.sim.neurons`): the
ONNX ops are a second implementation, checked against the reference in tests/test_host_onnx.py.
Work is counted as a dense machine does it: every weight every step (`HostPart.macs_per_step`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .. import ops
from ..errors import UnsupportedNode, UnsupportedSemantics
from ..ir.graph import Graph
from ..sim.neurons import discretise
from .placement import Segment

OPSET = 17
IR_VERSION = 8
_DTYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


@dataclass
class HostPart:
    model: onnx.ModelProto
    inputs: list[str]  # node names read this step (``in:``), then previous step (``prev:``)
    prev_inputs: list[str]
    outputs: list[str]
    state0: dict[str, np.ndarray] = field(default_factory=dict)  # state tensor name -> (1, *shape)
    macs_per_step: int = 0  # dense multiply-accumulates per sample and step
    neuron_updates_per_step: int = 0


class _Builder:
    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self.state0: dict[str, np.ndarray] = {}
        self.macs = self.updates = self._k = 0

    def fresh(self, hint: str) -> str:
        self._k += 1
        return f"t{self._k}_{hint}"

    def const(self, value, hint="c", dtype=None) -> str:
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype or self.dtype), name))
        return name

    def op(self, kind: str, *inputs: str, hint: str = "", **attrs) -> str:
        out = self.fresh(hint or kind.lower())
        self.nodes.append(helper.make_node(kind, list(inputs), [out], **attrs))
        return out

    def io(self, name: str, shape, is_input: bool) -> None:
        vi = helper.make_tensor_value_info(name, _DTYPES[self.dtype], ["B", *map(int, shape)])
        (self.inputs if is_input else self.outputs).append(vi)

    def state(self, node: str, key: str, init: np.ndarray) -> str:
        name = f"state:{node}:{key}"
        self.state0[name] = np.asarray(init, self.dtype)[None]
        self.io(name, np.shape(init), True)
        return name

    def set_state(self, node: str, key: str, tensor: str, shape) -> None:
        out = f"next:{node}:{key}"
        self.nodes.append(helper.make_node("Identity", [tensor], [out]))
        self.io(out, shape, False)

    def matmul(self, x: str, w: np.ndarray, hint: str) -> str:
        """x @ w.T for w (out, in): counted as w.size dense MACs."""
        self.macs += int(np.asarray(w).size)
        return self.op("MatMul", x, self.const(np.asarray(w).T, hint + "_wT"), hint=hint)

    # element-wise helpers
    def add(self, a, b):
        return self.op("Add", a, b)

    def sub(self, a, b):
        return self.op("Sub", a, b)

    def mul(self, a, b):
        return self.op("Mul", a, b)

    def sigmoid(self, a):
        return self.op("Sigmoid", a)


def _affine(b: _Builder, n, node, x, shapes):
    y = b.matmul(x, node.weight, n)
    return b.add(y, b.const(node.bias, n + "_b")) if getattr(node, "bias", None) is not None else y


def _linear(b, n, node, x, shapes):
    return b.matmul(x, node.weight, n)


def _scale(b, n, node, x, shapes):
    return b.mul(x, b.const(node.scale, n + "_s"))


def _threshold(b, n, node, x, shapes):
    return b.op("Cast", b.op("Greater", x, b.const(node.threshold, n + "_th")), to=_DTYPES[b.dtype])


def _reshape(b, n, node, x, shapes):
    return b.op("Reshape", x, b.const(np.array([-1, *shapes["out"]], np.int64), n + "_shape", np.int64))


def _identity(b, n, node, x, shapes):
    return b.op("Identity", x)


def _embedding(b, n, node, x, shapes):
    idx = b.op("Cast", b.op("Reshape", x, b.const(np.array([-1], np.int64), n + "_flat", np.int64)),
               to=TensorProto.INT64)
    return b.op("Gather", b.const(node.weight, n + "_w"), idx, axis=0)


def _layernorm(b, n, node, x, shapes):
    mean = b.op("ReduceMean", x, axes=[-1], keepdims=1)
    d = b.sub(x, mean)
    var = b.op("ReduceMean", b.mul(d, d), axes=[-1], keepdims=1)
    y = b.op("Div", d, b.op("Sqrt", b.add(var, b.const(node.eps, n + "_eps"))))
    return b.add(b.mul(y, b.const(node.weight, n + "_g")), b.const(node.bias, n + "_beta"))


def _shift(b, n, node, x, d):
    """Token shift: the previous step's input as state; returns (x_prev, mixer)."""
    prev = b.state(n, "x_prev", np.zeros(d))
    b.set_state(n, "x_prev", x, (d,))

    def mix(mu, hint):
        mu = np.asarray(mu)
        return b.add(b.mul(x, b.const(mu, hint)), b.mul(prev, b.const(1 - mu, hint + "_1m")))
    return mix


def _timemix(b, n, node, x, shapes):
    d, a = node.W_k.shape[1], node.W_k.shape[0]
    mix = _shift(b, n, node, x, d)
    k = b.matmul(mix(node.mu_k, n + "_mk"), node.W_k, n + "_k")
    v = b.matmul(mix(node.mu_v, n + "_mv"), node.W_v, n + "_v")
    r = b.matmul(mix(node.mu_r, n + "_mr"), node.W_r, n + "_r")
    aa, bb = b.state(n, "aa", np.zeros(a)), b.state(n, "bb", np.zeros(a))
    pp = b.state(n, "pp", np.full(a, -1e30))
    u, w = b.const(node.time_first, n + "_u"), b.const(-np.exp(np.asarray(node.time_decay, np.float64)), n + "_w")
    uk = b.add(u, k)
    p = b.op("Max", pp, uk)
    e1, e2 = b.op("Exp", b.sub(pp, p)), b.op("Exp", b.sub(uk, p))
    wkv = b.op("Div", b.add(b.mul(e1, aa), b.mul(e2, v)), b.add(b.mul(e1, bb), e2))
    ppw = b.add(pp, w)
    p2 = b.op("Max", ppw, k)
    f1, f2 = b.op("Exp", b.sub(ppw, p2)), b.op("Exp", b.sub(k, p2))
    b.set_state(n, "aa", b.add(b.mul(f1, aa), b.mul(f2, v)), (a,))
    b.set_state(n, "bb", b.add(b.mul(f1, bb), f2), (a,))
    b.set_state(n, "pp", p2, (a,))
    return b.matmul(b.mul(b.sigmoid(r), wkv), node.W_o, n + "_o")


def _channelmix(b, n, node, x, shapes):
    d = node.W_r.shape[0]
    mix = _shift(b, n, node, x, d)
    k = b.op("Relu", b.matmul(mix(node.mu_k, n + "_mk"), node.W_k, n + "_k"))
    kv = b.matmul(b.mul(k, k), node.W_v, n + "_v")
    return b.mul(b.sigmoid(b.matmul(mix(node.mu_r, n + "_mr"), node.W_r, n + "_r")), kv)


def _egru(b, n, node, x, shapes):
    h = node.threshold.shape[0]
    c0, y0 = b.state(n, "c", np.zeros(h)), b.state(n, "y", np.zeros(h))
    vx = b.add(b.matmul(x, node.W, n + "_W"), b.const(node.b_W, n + "_bW"))
    vh = b.add(b.matmul(y0, node.R, n + "_R"), b.const(node.b_R, n + "_bR"))
    b.updates += h

    def gate(v, i):
        return b.op("Slice", v, b.const([i * h], "s", np.int64), b.const([(i + 1) * h], "e", np.int64),
                    b.const([1], "ax", np.int64))
    u = b.sigmoid(b.add(gate(vx, 0), gate(vh, 0)))
    r = b.sigmoid(b.add(gate(vx, 1), gate(vh, 1)))
    z = b.op("Tanh", b.add(gate(vx, 2), b.mul(r, gate(vh, 2))))
    one = b.const(1.0, "one")
    c = b.add(b.mul(u, c0), b.mul(b.sub(one, u), z))
    theta = b.const(node.threshold, n + "_theta")
    e = b.op("Cast", b.op("Greater", c, theta), to=_DTYPES[b.dtype])
    y = b.mul(e, c)
    b.set_state(n, "y", y, (h,))
    b.set_state(n, "c", b.sub(c, b.mul(e, theta)), (h,))
    return y


def _neuron(graph: Graph):
    def export(b, n, node, x, shapes):
        sem = graph.semantics
        co = discretise(n, node, tuple(shapes["out"]), sem)
        if co.spiking and sem.reset_timing != "same_step":
            raise UnsupportedSemantics(f"reset_timing {sem.reset_timing!r} has no host (ONNX) export",
                                       where=n, hint="use reset_timing same_step")
        shape = tuple(shapes["out"])
        b.updates += int(np.prod(shape))
        v = b.state(n, "v", np.zeros(shape))
        new_v = b.mul(v, b.const(co.a_m, n + "_am"))
        new_v = b.add(new_v, b.mul(x, b.const(co.k_x, n + "_kx")))
        if co.c is not None:
            new_v = b.add(new_v, b.const(co.c, n + "_c"))
        if co.a_s is not None:
            i = b.state(n, "i", np.zeros(shape))
            new_v = b.add(new_v, b.mul(i, b.const(co.k_i, n + "_ki")))
            b.set_state(n, "i", b.add(b.mul(i, b.const(co.a_s, n + "_as")), b.mul(x, b.const(co.g_s, n + "_gs"))),
                        shape)
        if not co.spiking:
            b.set_state(n, "v", new_v, shape)
            return new_v
        theta = b.const(co.theta, n + "_theta")
        s = b.op("Cast", b.op("Greater", new_v, theta), to=_DTYPES[b.dtype])
        if sem.reset == "subtract":
            after = b.sub(new_v, b.mul(s, theta))
        else:
            keep = b.sub(b.const(1.0, "one"), s)
            after = b.add(b.mul(new_v, keep), b.mul(s, b.const(co.v_reset, n + "_vr")))
        b.set_state(n, "v", after, shape)
        return s
    return export


_EXPORTERS = {nir.Affine: _affine, nir.Linear: _linear, nir.Scale: _scale, nir.Threshold: _threshold,
              nir.Flatten: _reshape, nir.Input: _identity, nir.Output: _identity}


def _exporter(graph: Graph, n: str):
    from ..ir import dialect

    node = graph.nodes[n]
    table = {**_EXPORTERS, dialect.Embedding: _embedding, dialect.LayerNorm: _layernorm,
             dialect.RWKVTimeMix: _timemix, dialect.RWKVChannelMix: _channelmix, dialect.EGRU: _egru}
    for cls in type(node).__mro__:
        if cls in table:
            return table[cls]
    op = ops.get(node, n)
    if op.discretise is not None:
        return _neuron(graph)
    raise UnsupportedNode(f"{type(node).__name__} has no host (ONNX) export", where=n,
                          hint="host export covers Affine, Linear, Scale, Threshold, Flatten, NIR neurons, "
                               "Embedding, LayerNorm, RWKV time/channel mix, EGRU")


def export(graph: Graph, seg: Segment, dtype=np.float32) -> HostPart:
    """The ONNX step graph of host segment `seg` of `graph`."""
    b = _Builder(dtype)
    inside = set(seg.nodes)
    cur = {s for s, d in graph.edges if d in inside and s not in inside and (s, d) not in graph.delayed}
    prev = {s for s, d in graph.edges if d in inside and s not in inside and (s, d) in graph.delayed}
    ins = [s for s in seg.inputs if s in cur]
    prevs = [s for s in seg.inputs if s in prev]
    for s in ins:
        b.io(f"in:{s}", graph.out_shape[s], True)
    for s in prevs:
        b.io(f"prev:{s}", graph.out_shape[s], True)
    inner_prev = sorted({s for s, d in graph.delayed if s in inside and d in inside})
    value: dict[str, str] = {}
    for s in inner_prev:
        value[("prev", s)] = b.state(s, "prev_out", np.zeros(graph.out_shape[s]))
    for n in seg.nodes:
        node = graph.nodes[n]
        ports = graph.inputs_by_port(n)
        if len(ports) != 1:
            raise UnsupportedNode(f"{type(node).__name__} has several input ports; no host export", where=n)
        terms = []
        for s in next(iter(ports.values())):
            delayed = (s, n) in graph.delayed
            if s in inside:
                terms.append(value[("prev", s)] if delayed else value[s])
            else:
                terms.append(f"{'prev' if delayed else 'in'}:{s}")
        if not terms and isinstance(node, nir.Input):
            b.io(f"in:{n}", graph.out_shape[n], True)
            ins.append(n)
            terms = [f"in:{n}"]
        x = terms[0] if terms else b.const(np.zeros((1, *graph.in_shape[n])), n + "_zero")
        for t in terms[1:]:
            x = b.add(x, t)
        value[n] = _exporter(graph, n)(b, n, node, x, {"in": graph.in_shape[n], "out": graph.out_shape[n]})
    for s in inner_prev:
        b.set_state(s, "prev_out", value[s], graph.out_shape[s])
    for n in seg.outputs:
        b.nodes.append(helper.make_node("Identity", [value[n]], [f"out:{n}"]))
        b.io(f"out:{n}", graph.out_shape[n], False)
    g = helper.make_graph(b.nodes, f"host_segment_{seg.index}", b.inputs, b.outputs, b.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="neurodeploy")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return HostPart(model, ins, prevs, list(seg.outputs), b.state0, b.macs, b.updates)
