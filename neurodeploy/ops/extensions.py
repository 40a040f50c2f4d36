"""Op definitions of the neurodeploy dialect types (`neurodeploy.ir.dialect`).

The flags (is_neuron, stateful, host) are declared once, on the dialect class, and read here.
The dynamics are in `neurodeploy.ops.dialect` (one module per type, `STATES` maps the type name to
its state class; equations in docs/equations.md); STDP's ``STDPState`` is driven by
`neurodeploy.sim.plastic`.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedNode
from ..ir import dialect
from ..ir import shapes as sh
from . import OpDef, register

def dynamics(type_name: str, name: str | None = None):
    """The state class of a dialect type (`neurodeploy.ops.dialect`), or UnsupportedNode."""
    from . import dialect as dyn

    cls = dyn.STDPState if type_name == "STDP" else dyn.STATES.get(type_name)
    if cls is None:
        raise UnsupportedNode(f"the reference has no dynamics for {type_name}", where=name,
                              hint="add its state class to neurodeploy.ops.dialect.STATES")
    return cls


def _state(type_name: str):
    def make(name, node, in_shapes, out_shape, sem, batch, dtype):
        return dynamics(type_name, name)(name, node, in_shapes, tuple(out_shape), sem, batch, dtype)
    return make


def _egru_synapses(node, in_shape, out_shape) -> int:
    return int(node.W.size + node.R.size)


def _summary(node) -> str:
    """Each array field's shape, each number's value."""
    parts = []
    for f, kind in type(node).FIELDS.items():
        v = getattr(node, f)
        if kind == "array":
            parts.append(f"{f} {'x'.join(map(str, np.shape(v)))}" if np.ndim(v) > 1 else f"{f} ({len(v)},)")
        elif kind in ("float", "str"):
            parts.append(f"{f}={v:.4g}" if kind == "float" else f"{f}={v}")
    return ", ".join(parts)


def _register(cls, ports=("input",), **kw):
    register(OpDef(cls, ports=ports, is_neuron=cls.is_neuron, stateful=cls.stateful, host=cls.host,
                   declared=sh.typed_declared, output=sh.typed_output, state=_state(cls.__name__),
                   summary=_summary, **kw))


_register(dialect.EGRU, synapses=_egru_synapses)
_register(dialect.RWKVTimeMix)
_register(dialect.RWKVChannelMix)
_register(dialect.LayerNorm)
_register(dialect.Embedding)
_register(dialect.TwoPointCell, ports=("basal", "apical"), port_fields={"apical": "apical"})
_register(dialect.STDP, plastic=True)
