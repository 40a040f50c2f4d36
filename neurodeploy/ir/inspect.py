"""What `neurodeploy inspect model.nir` prints: nodes, edges, recurrent loops, repairs, totals."""
from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
from rich.console import Group
from rich.table import Table

from .. import ops
from . import dialect, meta, sparse
from .graph import Graph


def parameter_count(node) -> int:
    """Numbers stored: array elements, and a sparse weight's stored values."""
    return sum(int(v.nnz if sparse.is_sparse(v) else np.size(v)) for f in dataclasses.fields(node)
               if sparse.is_sparse(v := getattr(node, f.name, None))
               or isinstance(v, np.ndarray) and v.dtype.kind in "biuf")


def synapse_count(graph: Graph, name: str) -> int:
    """Connections a weight node makes, by its op definition's `synapses` (0 without one)."""
    op = ops.get(graph.nodes[name], name)
    return op.synapses(graph.nodes[name], graph.in_shape[name], graph.out_shape[name]) if op.synapses else 0


def cycles(graph: Graph) -> list[list[str]]:
    """One loop per delayed edge (s -> d): the shortest forward path d ... s, closed by the edge."""
    forward: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for s, d in graph.edges:
        if (s, d) not in graph.delayed:
            forward[s].append(d)
    loops = []
    for s, d in sorted(graph.delayed):
        prev, todo = {d: None}, deque([d])
        while todo and s not in prev:
            n = todo.popleft()
            for m in forward[n]:
                if m not in prev:
                    prev[m] = n
                    todo.append(m)
        path, n = [], s
        while n is not None:
            path.append(n)
            n = prev.get(n)
        loops.append(path[::-1] + [d])
    return loops


def _shape(s) -> str:
    return "(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")"


def _kind(node) -> str:
    op = ops.get(node)
    flags = (("dialect", dialect.is_dialect(node)), ("neuron", op.is_neuron), ("host", op.host),
             ("plastic", op.plastic))
    return ", ".join(f for f, on in flags if on)


def describe(graph: Graph, repairs: list[str] | None = None):
    """A rich renderable (tables) describing `graph`; `repairs` default to the graph's own."""
    repairs = graph.metadata.get("repairs", []) if repairs is None else repairs
    nodes = Table(title="Nodes (evaluation order)")
    for col in ("name", "type", "in", "out", "params", "kind", "detail"):
        nodes.add_column(col, justify="right" if col == "params" else "left")
    for n in graph.order:
        node = graph.nodes[n]
        op = ops.get(node, n)
        nodes.add_row(n, dialect.type_name(node), _shape(graph.in_shape[n]), _shape(graph.out_shape[n]),
                      f"{parameter_count(node):,}", _kind(node), op.summary(node) if op.summary else "")

    edges = Table(title="Edges")
    for col in ("from", "to", "port", ""):
        edges.add_column(col)
    for s, d in graph.edges:
        edges.add_row(s, d, graph.ports.get((s, d), ""), "delayed (previous step)" if (s, d) in graph.delayed else "")

    parts = [nodes, edges]
    loops = cycles(graph)
    if loops:
        t = Table(title="Recurrent loops (closing edge delivers the previous step)")
        t.add_column("loop")
        t.add_column("delayed edge")
        for loop in loops:
            t.add_row(" -> ".join(loop), f"{loop[-2]} -> {loop[-1]}")
        parts.append(t)
    if repairs:
        t = Table(title="Repairs applied while loading")
        t.add_column("repair")
        for r in repairs:
            t.add_row(r)
        parts.append(t)

    totals = Table(title="Totals")
    totals.add_column("quantity")
    totals.add_column("count", justify="right")
    for label, value in (
        ("nodes", len(graph.nodes)),
        ("edges", len(graph.edges)),
        ("neurons", sum(graph.size(n) for n in graph.neurons())),
        ("synapses", sum(synapse_count(graph, n) for n in graph.nodes)),
        ("parameters", sum(parameter_count(node) for node in graph.nodes.values())),
        ("recurrent loops", len(loops)),
    ):
        totals.add_row(label, f"{value:,}")
    parts.append(totals)
    parts.append(meta.describe(graph))
    return Group(*parts)
