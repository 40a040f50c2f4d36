"""Op definitions of the neurodeploy dialect types (`neurodeploy.ir.dialect`).

The flags (is_neuron, stateful, host) are declared once, on the dialect class, and read here.
The dynamics are in `neurodeploy.ops.dialect.<module>` (one module per type, equations in
docs/dialect.md): a class ``<Type>State(name, node, in_shapes, out_shape, sem, batch, dtype)``
with ``step(x: dict[port, array]) -> array``, optional ``v`` and ``counters()``; STDP has
``STDPState(name, node, w0, sem, batch, dtype)`` (see `neurodeploy.sim.plastic`).
"""
from __future__ import annotations

import importlib

import numpy as np

from ..errors import UnsupportedNode
from ..ir import dialect
from ..ir import shapes as sh
from . import OpDef, register

MODULES = {"EGRU": "egru", "RWKVTimeMix": "rwkv", "RWKVChannelMix": "rwkv", "LayerNorm": "layernorm",
           "Embedding": "embedding", "TwoPointCell": "two_point", "STDP": "stdp"}


def dynamics(type_name: str, name: str | None = None):
    """The state class of a dialect type from `neurodeploy.ops.dialect`, or UnsupportedNode."""
    module = MODULES[type_name]
    try:
        mod = importlib.import_module(f"neurodeploy.ops.dialect.{module}")
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("neurodeploy.ops.dialect"):
            raise
        mod = None
    cls = getattr(mod, f"{type_name}State", None) or getattr(mod, "State", None)
    if cls is None:
        raise UnsupportedNode(f"the reference has no dynamics for {type_name} "
                              f"(neurodeploy/ops/dialect/{module}.py)", where=name)
    return cls


class Ported:
    """A single-port dialect state seen with the reference's calling convention (an array in)."""

    def __init__(self, inner, port: str):
        self.inner, self.port = inner, port

    def step(self, x):
        return self.inner.step({self.port: x})

    def __getattr__(self, attr):  # v, counters, ... of the wrapped state
        return getattr(self.inner, attr)


def _state(type_name: str, ports: tuple[str, ...]):
    def make(name, node, in_shapes, out_shape, sem, batch, dtype):
        st = dynamics(type_name, name)(name, node, in_shapes, tuple(out_shape), sem, batch, dtype)
        return Ported(st, ports[0]) if len(ports) == 1 else st
    return make


def _egru_synapses(node, in_shape, out_shape) -> int:
    return int(node.W.size + node.R.size)


def _summary(node) -> str:
    """Each array field's shape, each number's value."""
    parts = []
    for f, kind in type(node).FIELDS.items():
        v = getattr(node, f)
        if kind == "array":
            parts.append(f"{f} {'x'.join(map(str, np.shape(v)))}")
        elif kind in ("float", "str"):
            parts.append(f"{f}={v:.4g}" if kind == "float" else f"{f}={v}")
    return ", ".join(parts)


def _register(cls, ports=("input",), **kw):
    register(OpDef(cls, ports=ports, is_neuron=cls.is_neuron, stateful=cls.stateful, host=cls.host,
                   declared=sh.typed_declared, output=sh.typed_output, state=_state(cls.__name__, ports),
                   summary=_summary, **kw))


_register(dialect.EGRU, synapses=_egru_synapses)
_register(dialect.RWKVTimeMix)
_register(dialect.RWKVChannelMix)
_register(dialect.LayerNorm)
_register(dialect.Embedding)
_register(dialect.TwoPointCell, ports=("basal", "apical"), port_fields={"apical": "apical"})
_register(dialect.STDP, plastic=True)
