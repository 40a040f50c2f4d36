"""The normalized graph every backend and simulator consumes.

A `Graph` is a NIR graph after repair and normalization (see `neurodeploy.ir.normalize`):
- nested subgraphs are flattened; inner nodes are named ``"outer.inner"``;
- every node has a known input and output shape, without batch dimension;
- neuron parameters are full arrays of the neuron shape (scalars broadcast);
- evaluation order is fixed: a topological order of the graph with its recurrent (cycle-closing)
  edges removed; those edges are listed in ``delayed`` and deliver the previous step's value.

Nodes stay `nir` node objects (or neurodeploy dialect nodes), so the vocabulary is NIR's own.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from .. import ops
from ..errors import InvalidModel
from ..semantics import Semantics

def __getattr__(name: str):
    """NEURON_TYPES (is_neuron), SPIKING_TYPES (spiking), WEIGHT_TYPES (connection layers, with a
    fanout): classes from the op definitions, for old callers; new code asks `neurodeploy.ops`."""
    if name == "NEURON_TYPES":
        return ops.types(is_neuron=True)
    if name == "SPIKING_TYPES":
        return ops.types(spiking=True)
    if name == "WEIGHT_TYPES":
        return tuple(op.cls for op in ops.definitions() if op.fanout is not None)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Graph:
    """``ports`` maps an edge to the port of its destination it feeds; an edge not listed feeds
    the op's default port. Ports named by node fields (`OpDef.port_fields`, e.g. TwoPointCell's
    ``apical``) are added on construction."""

    nodes: dict[str, nir.NIRNode]
    edges: list[tuple[str, str]]
    in_shape: dict[str, tuple[int, ...]]
    out_shape: dict[str, tuple[int, ...]]
    semantics: Semantics = field(default_factory=Semantics)
    metadata: dict = field(default_factory=dict)
    ports: dict[tuple[str, str], str] = field(default_factory=dict)
    order: list[str] = field(init=False)
    delayed: set[tuple[str, str]] = field(init=False)

    def __post_init__(self):
        for s, d in self.edges:
            for n in (s, d):
                if n not in self.nodes:
                    raise InvalidModel(f"edge ({s!r} -> {d!r}) names a node that does not exist", where=n)
        edges = set(self.edges)
        for e in self.ports:
            if e not in edges:
                raise InvalidModel(f"a port is given for edge {e}, which is not in the graph", where=e[1])
        implied = ops.field_ports(self.nodes, self.edges)
        for e, p in implied.items():
            if self.ports.get(e, p) != p:
                raise InvalidModel(f"edge {e} is given port {self.ports[e]!r}; the node's fields say {p!r}",
                                   where=e[1])
        self.ports = {**self.ports, **implied}
        ops.check_ports(self.nodes, self.ports)
        self.order, self.delayed = evaluation_order(list(self.nodes), self.edges, self.inputs)

    def port(self, src: str, dst: str) -> str:
        """The port of `dst` that edge (src, dst) feeds."""
        return self.ports.get((src, dst)) or ops.get(self.nodes[dst], dst).default_port

    def inputs_by_port(self, name: str) -> dict[str, list[str]]:
        """Predecessors of `name` per port, every port of its op present (possibly empty)."""
        out = {p: [] for p in ops.get(self.nodes[name], name).ports}
        for s in self.predecessors(name):
            out[self.port(s, name)].append(s)
        return out

    def port_shapes(self, name: str) -> dict[str, tuple[int, ...]]:
        """Input shape per port: what its edges deliver (checked equal by `ir.normalize`), the
        node's input shape for a port without edges."""
        return {p: tuple(self.out_shape[srcs[0]]) if srcs else tuple(self.in_shape[name])
                for p, srcs in self.inputs_by_port(name).items()}

    @property
    def inputs(self) -> list[str]:
        return sorted(n for n, node in self.nodes.items() if isinstance(node, nir.Input))

    @property
    def outputs(self) -> list[str]:
        return sorted(n for n, node in self.nodes.items() if isinstance(node, nir.Output))

    def predecessors(self, name: str) -> list[str]:
        return [s for s, d in self.edges if d == name]

    def successors(self, name: str) -> list[str]:
        return [d for s, d in self.edges if s == name]

    def size(self, name: str) -> int:
        return int(np.prod(self.out_shape[name], dtype=np.int64))

    def neurons(self) -> list[str]:
        """Names of stateful neuron nodes (NIR neuron types and dialect cells), in evaluation order."""
        return [n for n in self.order if is_neuron(self.nodes[n])]


def is_neuron(node) -> bool:
    op = ops.find(node)
    return bool(op and op.is_neuron)


def evaluation_order(names: list[str], edges: list[tuple[str, str]], roots: list[str]):
    """Topological order after removing cycle-closing edges, found by a deterministic DFS.

    The DFS starts at the graph inputs (then any node not reached, in name order); an edge that
    reaches a node still on the DFS stack closes a cycle and becomes a delayed edge. For the NIR
    RNN convention (input -> lif -> w_rec -> lif) this delays ``w_rec -> lif``, as nirtorch does.
    """
    succ: dict[str, list[str]] = {n: [] for n in names}
    for s, d in edges:
        succ[s].append(d)
    state: dict[str, int] = {}  # 1 on stack, 2 done
    post: list[str] = []
    delayed: set[tuple[str, str]] = set()
    for root in list(roots) + sorted(names):
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[node] = 2
                post.append(node)
            elif state.get(nxt) == 1:
                delayed.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return post[::-1], delayed
