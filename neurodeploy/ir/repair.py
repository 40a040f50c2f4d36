"""Shape inference over a flattened graph, with the repairs real exporters need.

Repairs (each reported as one line ``"<node>: what was done"``):
- a batch dimension leaked into an Input (``(1, n)`` feeding an Affine of ``n``) or into an Output
  or a subgraph port is dropped; then Flatten dims that counted it shift down by one, and neuron
  parameters shaped ``(1, *shape)`` lose the unit axis;
- a subgraph port's declared shape (an annotation; the port passes on what reaches it) or an
  Output's that differs only by unit axes is replaced by the delivered shape;
- scalar parameters of neurons and element-wise nodes are broadcast to the inferred shape;
- conv ``input_shape``, Flatten ``input_type`` and pool types left empty are inferred;
- a top-level root without an Input gets one, a top-level leaf without an Output gets one (as
  NIR's own type inference does).
What cannot be repaired raises `InvalidModel` naming the node: shape mismatch along an edge
(also between the summed inputs of one port of a node, each port checked on its own), shapes
nothing determines, bad dialect references. Per-type rules come from the op definitions
(`neurodeploy.ops`).
"""
from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from dataclasses import dataclass

import nir
import numpy as np

from .. import budget, ops
from ..errors import InvalidModel
from .flatten import Flat, flatten
from .graph import evaluation_order
from .shapes import Shape, check_size, declared, elementwise_params, fits, output


@dataclass
class Inference:
    flat: Flat  # repaired nodes, with added Inputs/Outputs
    in_shape: dict[str, Shape]
    out_shape: dict[str, Shape]
    replaced: set[str]  # names whose node object was replaced by a repaired copy
    added_edges: list[tuple[str, str]]


def infer(flat: Flat, repairs: list[str]) -> Inference:
    nodes, edges, paths = dict(flat.nodes), list(flat.edges), dict(flat.paths)
    replaced: set[str] = set()
    added: list[tuple[str, str]] = []

    def replace(name: str, node, why: str) -> None:
        nodes[name] = node
        replaced.add(name)
        repairs.append(f"{name}: {why}")

    def add(name: str, node, edge: tuple[str, str], why: str) -> None:
        nodes[name], paths[name] = node, (name,)
        edges.append(edge)
        added.append(edge)
        repairs.append(f"{name}: {why}")

    preds, succs = _adjacency(edges)
    top = {n for n in nodes if len(paths[n]) == 1}
    inner = set(flat.inner_ports())
    for n in sorted(top):
        node = nodes[n]
        if ops.get(node, n).plastic:
            if preds[n] or succs[n]:
                raise InvalidModel(f"a {type(node).__name__} rule has no edges; it names its weight node "
                                   f"instead", where=n)
        elif isinstance(node, nir.Input) and not preds[n]:
            shape = declared(node, n)
            if len(shape) > 1 and _leaks(n, shape, nodes, succs):
                replace(n, nir.Input(input_type={"input": np.array(shape[1:])}, metadata=node.metadata),
                        f"dropped leaked batch dimension: input shape {shape} -> {shape[1:]}")
                for m, other in list(nodes.items()):  # the exporter's dims counted the batch axis
                    if isinstance(other, nir.Flatten) and int(other.start_dim) > 0:
                        end = int(other.end_dim) - (int(other.end_dim) > 0)
                        replace(m, dataclasses.replace(other, start_dim=int(other.start_dim) - 1, end_dim=end),
                                f"Flatten dims {other.start_dim}..{other.end_dim} counted the leaked batch "
                                f"dimension: {int(other.start_dim) - 1}..{end}")
        elif not preds[n]:
            if isinstance(node, nir.Output):
                raise InvalidModel("Output node has no incoming edge", where=n)
            decl = declared(node, n)
            if decl is None or None in decl:
                raise InvalidModel("node has no input edge and its parameters do not fix its input shape",
                                   where=n, hint="add an Input node feeding it")
            name = _unique(f"input_{n}", nodes)
            add(name, nir.Input(input_type={"input": np.array(decl)}), (name, n),
                f"added Input {decl} feeding root node {n!r}")
    for n in sorted(set(nodes) - top):  # no repair inside a subgraph: an unfed node there is an error
        if not preds[n] and (n in inner or not isinstance(nodes[n], nir.Input)) and not ops.get(nodes[n], n).plastic:
            raise InvalidModel(f"{type(nodes[n]).__name__} node inside a subgraph has no input edge", where=n,
                               hint="connect it to its subgraph's Input (and that Input to a node outside)")
    preds, succs = _adjacency(edges)
    ports = ops.field_ports(nodes, edges)

    ins: dict[str, Shape] = {}
    outs: dict[str, Shape] = {}
    roots = [n for n, node in nodes.items() if isinstance(node, nir.Input) and not preds[n]]
    order, _ = evaluation_order(list(nodes), edges, sorted(roots))
    for _ in range(2):  # the second pass reaches nodes fed only by cycle-closing edges
        for n in order:
            node = nodes[n]
            if n in ins or ops.get(node, n).plastic:
                continue
            decl = declared(node, n)
            default = ops.get(node, n).default_port
            known = sorted((p for p in preds[n] if p in outs), key=lambda p: ports.get((p, n), default) != default)
            if known:
                shape = outs[known[0]]
                if not fits(shape, decl):
                    if isinstance(node, (nir.Input, nir.Output)) and decl[1:] == shape:
                        kind = "input" if isinstance(node, nir.Input) else "output"
                        arg = {f"{kind}_type": {kind: np.array(shape)}}
                        replace(n, type(node)(**arg, metadata=node.metadata),
                                f"dropped leaked batch dimension: {kind} shape {decl} -> {shape}")
                    elif isinstance(node, (nir.Input, nir.Output)) and None not in decl and \
                            (n in inner or math.prod(decl) == math.prod(shape)):
                        kind = "input" if isinstance(node, nir.Input) else "output"
                        why = "a subgraph's port passes on what reaches it" if n in inner else \
                            "same elements, other unit axes"
                        replace(n, type(node)(**{f"{kind}_type": {kind: np.array(shape)}}, metadata=node.metadata),
                                f"declared {kind} shape {decl}, but {known[0]!r} delivers {shape} ({why}): took {shape}")
                    elif decl is not None and decl[:1] == (1,) and decl[1:] == shape and elementwise_params(node):
                        replace(n, _unbatched(node, shape),
                                f"dropped leaked batch dimension: parameters {decl} -> {shape}")
                    else:
                        raise _mismatch(n, node, known[0], shape, decl)
            elif decl is not None and None not in decl:
                shape = decl
            else:
                continue
            ins[n] = check_size(shape, n, "input shape")
            outs[n] = check_size(output(nodes[n], ins[n], n), n, "output shape")

    for n, node in nodes.items():
        if n not in ins and not ops.get(node, n).plastic:
            raise InvalidModel("cannot infer this node's shape: no input reaches it and its parameters "
                               "do not fix it", where=n)
    _check_ports(nodes, edges, ports, ins, outs)
    _check_refs(nodes, ins, outs)

    for n in sorted(top):
        if not succs[n] and not isinstance(nodes[n], nir.Output) and not ops.get(nodes[n], n).plastic:
            name = _unique(f"output_{n}", nodes)
            add(name, nir.Output(output_type={"output": np.array(outs[n])}), (n, name),
                f"added Output {outs[n]} after leaf node {n!r}")
            ins[name] = outs[name] = outs[n]

    for n in list(nodes):
        done = _complete(nodes[n], ins.get(n), outs.get(n), where=n)
        if done is not None:
            node, why = done
            if why:
                replace(n, node, why)
            else:
                nodes[n] = node
                replaced.add(n)
    return Inference(Flat(nodes, edges, paths), ins, outs, replaced, added)


def _unbatched(node, shape: Shape):
    """`node` with the leading unit (batch) axis of its element-wise parameters dropped."""
    fields = {f: np.reshape(getattr(node, f), shape) for f in elementwise_params(node)
              if getattr(node, f, None) is not None and np.shape(getattr(node, f)) == (1,) + tuple(shape)}
    return dataclasses.replace(node, **fields)


def _adjacency(edges):
    preds, succs = defaultdict(list), defaultdict(list)
    for s, d in edges:
        preds[d].append(s)
        succs[s].append(d)
    return preds, succs


def _unique(name: str, nodes: dict) -> str:
    out, i = name, 0
    while out in nodes:
        out, i = f"{name}_{i}", i + 1
    return out


def _mismatch(n: str, node, pred: str, shape, decl, port: str | None = None) -> InvalidModel:
    want = "(" + ", ".join("?" if d is None else str(d) for d in decl) + ("," if len(decl) == 1 else "") + ")"
    on = f" on port {port!r}" if port else ""
    return InvalidModel(f"shape mismatch: {pred!r} delivers shape {tuple(shape)} but this "
                        f"{type(node).__name__} node takes {want}{on}", where=n)


def _check_ports(nodes: dict, edges, ports: dict, ins: dict, outs: dict) -> None:
    """The edges of each port deliver one shape (they are summed), which fits the node: the
    default port's is the node's input shape, another port's must fit its declared pattern."""
    first: dict[tuple[str, str], str] = {}
    for s, d in edges:
        op = ops.get(nodes[d], d)
        port = ports.get((s, d), op.default_port)
        if port == op.default_port:
            if outs[s] != ins[d]:
                raise _mismatch(d, nodes[d], s, outs[s], ins[d], port if len(op.ports) > 1 else None)
            continue
        decl = declared(nodes[d], d)
        other = first.setdefault((d, port), s)
        if not fits(outs[s], decl) or outs[s] != outs[other]:
            raise _mismatch(d, nodes[d], s, outs[s], decl if other == s else outs[other], port)


def _leaks(name: str, shape: Shape, nodes: dict, succs) -> bool:
    """Does the first node downstream whose parameters fix a shape take `shape` minus dim 0?"""
    seen, todo = {name}, list(succs[name])
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        decl = declared(nodes[n], n)
        if decl is None and elementwise_params(nodes[n]):
            todo.extend(succs[n])
        elif decl is not None:
            return not fits(shape, decl) and fits(shape[1:], decl)
    return False


def _check_refs(nodes: dict, ins: dict, outs: dict) -> None:
    """A plastic rule (STDP) names an Affine/Linear node and takes its shapes."""
    for n, node in nodes.items():
        if ops.get(node, n).plastic:
            w = nodes.get(node.weight)
            if not isinstance(w, (nir.Affine, nir.Linear)):
                raise InvalidModel(f"{type(node).__name__} rule names weight node {node.weight!r}, which is "
                                   f"not an Affine/Linear node of this graph", where=n)
            ins[n], outs[n] = ins[node.weight], outs[node.weight]


def _complete(node, shape, out, where=None):
    """A copy of `node` with shapes it left open filled in, and the repair note (None if unchanged):
    scalar signal parameters broadcast, then the op definition's own `complete` hook."""
    op = ops.find(node)
    if op is None or shape is None:
        return None
    scalars = [p for p in op.params if np.ndim(getattr(node, p)) == 0]
    if scalars:
        budget.charge(sum(budget.array_bytes(shape, np.asarray(getattr(node, p)).itemsize) for p in scalars),
                      f"broadcasting scalar {', '.join(scalars)} to shape {shape}", where=where)
        new = dataclasses.replace(node, **{p: np.full(shape, getattr(node, p), dtype=np.asarray(
            getattr(node, p)).dtype) for p in scalars})
        return new, f"broadcast scalar {', '.join(scalars)} to shape {shape}"
    return op.complete(node, shape, out) if op.complete else None


def repair_nested(graph: nir.NIRGraph, repairs: list[str]) -> nir.NIRGraph:
    """Apply the repairs to a nested graph, keeping its nesting (what `read` returns)."""
    inf = infer(flatten(graph), repairs)
    return _rebuild(graph, (), inf)


def _rebuild(graph: nir.NIRGraph, prefix: tuple[str, ...], inf: Inference) -> nir.NIRGraph:
    nodes = {}
    for name, node in graph.nodes.items():
        path = prefix + (name,)
        key = ".".join(path)
        if isinstance(node, nir.NIRGraph):
            nodes[name] = _rebuild(node, path, inf)
        else:
            nodes[name] = inf.flat.nodes[key] if key in inf.replaced else node
    edges = list(graph.edges)
    if not prefix:
        for s, d in inf.added_edges:
            for n in (s, d):
                nodes.setdefault(n, inf.flat.nodes[n])
            edges.append((s, d))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph.metadata, type_check=False)
