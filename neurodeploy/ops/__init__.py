"""The op registry: one `OpDef` per node type, NIR's own and the dialect's.

Everything the core knows about a node type lives in its definition, and every pass dispatches
through it instead of testing types: shape inference and repairs (`neurodeploy.ir.shapes`,
`.ir.repair`), `inspect`, the reference simulator, NeuroBench counting, and backends.

    from neurodeploy import ops
    op = ops.get(node)              # the OpDef of a node (or of its class); UnsupportedNode if none
    op.ports                        # input ports, first = default: ("input",), ("basal", "apical")
    op.is_neuron, op.spiking, op.binary, op.stateful, op.host, op.plastic   # flags
    op.declared(node, where)        # input shape pattern (ints, None wildcards) or None = any
    op.output(node, in_shape, where)                     # output shape
    op.stateless(name, node, in_shape, out_shape, dtype) -> (fn, Fan | None)     # x -> y, batched
    op.state(name, node, in_shapes, out_shape, sem, batch, dtype) -> object with .step(x)
    op.discretise(name, node, shape, sem) -> dict a_m, k_x, c, a_s, g_s, k_i  # NIR neurons only;
                                    # backends call neurodeploy.sim.neurons.discretise -> Coefficients
    op.fanout(node, in_shape, dense) -> synapses per input element  # connection layers only
    op.synapses(node, in_shape, out_shape) -> int;  op.summary(node) -> str   # inspect
    ops.register(OpDef(cls=MyNode, ...))                 # adding an op: one definition
    ops.types(spiking=True)                              # classes with these flag values

Ports: a node's input on a port is the sum of that port's incoming edges (`Graph.ports` maps
an edge to its port; absent = the op's default, `ports[0]`). A single-port op's `step`/`fn` gets
an array (B, *in_shape); a multi-port op's gets a dict port -> array. `port_fields` names the
node fields that list the predecessors on a non-default port (TwoPointCell: ``apical``), which
is how a nested `nir.NIRGraph` (which has no edge ports) carries them.

State objects (`op.state`) may have ``v`` (recorded as `Result.v`), ``i`` (synaptic current),
``s`` (bool spikes of the last step, counted for spiking ops) and ``counters()`` (a dict of
event counts so far, replacing the default neuron_updates/spikes counting).
Definitions: `neurodeploy.ops.stock` (NIR 1.0.8) and `neurodeploy.ops.extensions` (dialect).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import InvalidModel, UnsupportedNode


def _same(node, shape, where):
    return tuple(shape)


@dataclass(frozen=True)
class OpDef:
    """What the core knows about one node type (see the module docstring for the hooks)."""

    cls: type
    ports: tuple[str, ...] = ("input",)
    is_neuron: bool = False  # per-unit state, counted as neurons
    spiking: bool = False  # a neuron emitting 0/1 spikes (LIF, IF, CubaLIF)
    binary: bool = False  # output is 0/1 (spiking neurons, Threshold)
    stateful: bool = False  # carries state across steps (needs `state`)
    host: bool = False  # runs on the host by default
    plastic: bool = False  # a learning rule acting on another node's weights (STDP): no edges
    pass_through: bool = False  # output is 0/1 when every input is (Flatten, Delay, Output)
    identity: bool = False  # output = input reshaped (Input, Output, Flatten)
    out_is_v: bool = False  # the output is the recorded v (LI, CubaLI, I): not recorded twice
    params: tuple[str, ...] = ()  # parameters of the signal's shape (broadcast when scalar)
    port_fields: dict = field(default_factory=dict)  # port -> node field naming its predecessors
    declared: Callable | None = None  # (node, where) -> Pattern | None
    output: Callable = _same  # (node, in_shape, where) -> Shape
    complete: Callable | None = None  # repair: (node, in_shape, out_shape) -> (node, why) | None
    stateless: Callable | None = None  # (name, node, in_shape, out_shape, dtype) -> (fn, Fan|None)
    state: Callable | None = None  # (name, node, in_shapes, out_shape, sem, batch, dtype) -> state
    discretise: Callable | None = None  # (name, node, shape, sem) -> dict of coefficients
    fanout: Callable | None = None  # (node, in_shape, dense) -> int array of in_shape
    synapses: Callable | None = None  # (node, in_shape, out_shape) -> int
    summary: Callable | None = None  # (node) -> str, the inspect line's detail

    @property
    def name(self) -> str:
        return self.cls.__name__

    @property
    def default_port(self) -> str:
        return self.ports[0]


_REGISTRY: dict[type, OpDef] = {}
_loaded = False


def register(op: OpDef) -> OpDef:
    """Register `op` for its class (replacing an earlier definition of the same class)."""
    if not op.ports or len(set(op.ports)) != len(op.ports):
        raise ValueError(f"{op.name}: ports must be distinct names, got {op.ports}")
    if (op.state is None) == (op.stateless is None):
        raise ValueError(f"{op.name}: give exactly one of `state` (stateful) and `stateless`")
    if set(op.port_fields) != set(op.ports[1:]):
        raise ValueError(f"{op.name}: port_fields must name a node field for every non-default port "
                         f"(a nested nir.NIRGraph carries ports only there)")
    _REGISTRY[op.cls] = op
    return op


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import extensions, stock  # noqa: F401  (each registers its definitions)


def find(node_or_cls) -> OpDef | None:
    """The definition for a node (or class), following base classes; None if there is none."""
    _load()
    cls = node_or_cls if isinstance(node_or_cls, type) else type(node_or_cls)
    for c in cls.__mro__:
        if c in _REGISTRY:
            return _REGISTRY[c]
    return None


def get(node_or_cls, where: str | None = None) -> OpDef:
    op = find(node_or_cls)
    if op is None:
        cls = node_or_cls if isinstance(node_or_cls, type) else type(node_or_cls)
        raise UnsupportedNode(f"node type {cls.__name__} has no op definition", where=where,
                              hint="register one with neurodeploy.ops.register (docs/ir.md)")
    return op


def definitions() -> list[OpDef]:
    _load()
    return list(_REGISTRY.values())


def types(**flags) -> tuple[type, ...]:
    """Classes whose definitions have every given flag value, e.g. ``types(spiking=True)``."""
    return tuple(op.cls for op in definitions() if all(getattr(op, k) == v for k, v in flags.items()))


def field_ports(nodes: dict, edges) -> dict[tuple[str, str], str]:
    """Edge ports declared by node fields (`OpDef.port_fields`), checked: each name must be a
    predecessor of the node, and an edge belongs to one port."""
    preds: dict[str, set] = {}
    for s, d in edges:
        preds.setdefault(d, set()).add(s)
    out: dict[tuple[str, str], str] = {}
    for n, node in nodes.items():
        op = find(node)
        for port, f in (op.port_fields.items() if op else ()):
            names = getattr(node, f)
            missing = [a for a in names if a not in preds.get(n, ())]
            if missing:
                raise InvalidModel(f"{f} inputs {missing} are not predecessors of this cell", where=n)
            for a in names:
                if out.get((a, n), port) != port:
                    raise InvalidModel(f"edge from {a!r} is listed for two ports", where=n)
                out[(a, n)] = port
    return out


def check_ports(nodes: dict, ports: dict) -> None:
    """Every port named must be one of its destination op's ports."""
    for (s, d), p in ports.items():
        op = find(nodes[d])
        if op is None or p not in op.ports:
            have = ", ".join(op.ports) if op else "none"
            raise InvalidModel(f"edge ({s!r} -> {d!r}) names port {p!r}; this node's ports are {have}",
                               where=d)
