"""Flatten nested NIR subgraphs into one level, then drop the subgraphs' inner ports.

A subgraph is addressed from outside by its name only; its single inner Input receives what
flows into it and its single inner Output sends what flows out (NIR 1.0.8 implements nothing
else: multi-port subgraphs raise NotImplementedError there too). Inner node names become
``"outer.inner"``. The inner ports are kept by `flatten` so shape inference can check them, and
removed by `drop_inner_ports` (edges rewired around them).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import nir

from ..errors import InvalidModel, UnsupportedNode


@dataclass
class Flat:
    nodes: dict[str, nir.NIRNode]
    edges: list[tuple[str, str]]
    paths: dict[str, tuple[str, ...]]  # flat name -> names from the top level down

    def inner_ports(self) -> list[str]:
        """Subgraph Input/Output nodes: nested ones, and an Input fed by an edge or an Output feeding
        one wherever it sits (a subgraph its exporter flattened into dotted names, as NIR 0.2 did)."""
        fed, feeding = {d for _, d in self.edges}, {s for s, _ in self.edges}
        return [n for n, node in self.nodes.items() if isinstance(node, (nir.Input, nir.Output)) and
                (len(self.paths[n]) > 1 or n in (fed if isinstance(node, nir.Input) else feeding))]


def flatten(graph: nir.NIRGraph) -> Flat:
    flat = Flat({}, [], {})
    _walk(graph, (), flat)
    seen = set()
    for s, d in flat.edges:
        if (s, d) in seen:
            raise InvalidModel(f"duplicate edge ({s!r} -> {d!r})", where=d)
        seen.add((s, d))
    return flat


def _join(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _port(graph: nir.NIRGraph, path: tuple[str, ...], kind) -> tuple[str, ...]:
    ports = [n for n, node in graph.nodes.items() if isinstance(node, kind)]
    if len(ports) != 1:
        raise UnsupportedNode(f"subgraph has {len(ports)} {kind.__name__} nodes; NIR defines only "
                              f"single-{kind.__name__.lower()} subgraphs", where=_join(path))
    sub = graph.nodes[ports[0]]
    return _port(sub, path + (ports[0],), kind) if isinstance(sub, nir.NIRGraph) else path + (ports[0],)


def resolve(nodes: dict, name: str) -> tuple[str, ...] | None:
    """Path of the node an edge endpoint names: a node of this level, or ``"sub.inner"`` for a
    node inside subgraph ``sub`` (the addressing NIR's docs describe, which 1.0.8 rejects)."""
    if name in nodes:
        return (name,)
    for i, ch in enumerate(name):
        if ch == "." and isinstance(nodes.get(name[:i]), nir.NIRGraph):
            rest = resolve(nodes[name[:i]].nodes, name[i + 1:])
            if rest is not None:
                return (name[:i],) + rest
    return None


def _node_at(graph: nir.NIRGraph, path: tuple[str, ...]):
    for name in path:
        graph = graph.nodes[name]
    return graph


def _walk(graph: nir.NIRGraph, prefix: tuple[str, ...], flat: Flat) -> None:
    for name, node in graph.nodes.items():
        path = prefix + (name,)
        if isinstance(node, nir.NIRGraph):
            _walk(node, path, flat)
            continue
        key = _join(path)
        if key in flat.nodes:
            raise InvalidModel(f"two nodes are named {key!r} once subgraphs are flattened", where=key)
        flat.nodes[key] = _renamed_refs(node, prefix)
        flat.paths[key] = path
    for s, d in graph.edges:
        ends = []
        for name, port in ((s, nir.Output), (d, nir.Input)):
            rel = resolve(graph.nodes, name)
            if rel is None:
                raise InvalidModel(f"edge ({s!r} -> {d!r}) names no node {name!r}", where=_join(prefix + (name,)))
            node = _node_at(graph, rel)
            ends.append(_port(node, prefix + rel, port) if isinstance(node, nir.NIRGraph) else prefix + rel)
        flat.edges.append((_join(ends[0]), _join(ends[1])))


def _renamed_refs(node, prefix: tuple[str, ...]):
    """Dialect fields naming other nodes are relative to their own level: make them flat."""
    if not prefix or not getattr(node, "REFS", ()):
        return node
    changes = {}
    for f in node.REFS:
        v = getattr(node, f)
        changes[f] = _join(prefix + (v,)) if isinstance(v, str) else tuple(_join(prefix + (x,)) for x in v)
    return dataclasses.replace(node, **changes)


def drop_inner_ports(flat: Flat) -> Flat:
    """Remove subgraph Input/Output nodes, connecting each predecessor to each successor."""
    nodes, edges = dict(flat.nodes), dict.fromkeys(flat.edges)  # an ordered set
    for port in flat.inner_ports():
        preds = [s for s, d in edges if d == port]
        succs = [d for s, d in edges if s == port]
        if port in preds:
            raise InvalidModel("a subgraph port cannot feed itself", where=port)
        for e in [(p, port) for p in preds] + [(port, s) for s in succs]:
            del edges[e]
        for p in preds:
            for s in succs:
                if (p, s) in edges:
                    raise UnsupportedNode(f"removing subgraph port {port!r} would duplicate the edge "
                                          f"({p!r} -> {s!r})", where=port)
                edges[(p, s)] = None
        del nodes[port]
    return Flat(nodes, list(edges), {n: flat.paths[n] for n in nodes})

