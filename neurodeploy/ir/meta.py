"""The run semantics stored with a model: graph metadata ``neurodeploy_semantics`` (docs/dialect.md,
"Semantics metadata").

A front-end knows its tool's conventions (dt, reset, timing, ...); storing them in the `.nir` file
lets a model compile with no flags. They live in NIR's own graph ``metadata`` group, which stock
``nir.read`` reads as a plain dict, so a stock-only graph stays a stock file.

- `stored(graph, where)`: the fields a graph carries, checked (`InvalidModel` naming `where`);
- `resolve(graph, semantics, overrides)`: the `Semantics` a graph runs under and where each field
  came from (``file``, ``flag``, ``argument`` or ``default``), kept in ``Graph.metadata[ORIGIN]``;
- `file_metadata(graph)`: the metadata `ir.write` stores for a normalized `Graph`;
- `node_semantics(graph, name)`: the `Semantics` one node runs under (per-node fields below);
- `describe(graph)`: the table `neurodeploy inspect` prints.

Per node: a neuron node's own metadata may hold the same group with the fields of
`semantics.NODE_FIELDS` (reset, reset_timing), for models that mix conventions (snnTorch layers
with different ``reset_mechanism``/``reset_delay``); any other field there must equal the graph's.
A subgraph's group must equal the graph's.
"""
from __future__ import annotations

from dataclasses import fields, replace

import nir
import numpy as np
from rich.table import Table

from ..errors import InvalidModel, UnsupportedNode, UsageError
from ..semantics import NODE_FIELDS, TIMES, Semantics
from .graph import Graph

KEY = "neurodeploy_semantics"  # graph metadata group: one dataset per field
ORIGIN = "semantics_origin"  # Graph.metadata: field -> where its value came from
LOAD_KEYS = ("repairs", "source", ORIGIN, "rewrites")  # Graph.metadata made by loading/compiling, never stored
NAMES = tuple(f.name for f in fields(Semantics))
NUMBERS = {"dt", *TIMES}


def stored(graph: nir.NIRGraph, where: str | None = None) -> dict:
    """The semantics fields stored in `graph`'s metadata ({} if none), as Python values; the
    groups of nodes and subgraphs are checked too (module docstring)."""
    found = _checked(_metadata(graph).get(KEY), where)
    _nested(graph, Semantics(**found), where, ())
    return found


def resolve(graph: nir.NIRGraph, semantics: Semantics | None = None, overrides: dict | None = None,
            where: str | None = None) -> tuple[Semantics, dict[str, str]]:
    """`semantics` if given, else the stored fields over the defaults; then `overrides` (field ->
    value, None = not given) field by field. Returns the result and each field's origin."""
    if semantics is not None:
        base, origin = semantics, dict.fromkeys(NAMES, "argument")
    else:
        found = stored(graph, where)
        base, origin = Semantics(**found), {n: "file" if n in found else "default" for n in NAMES}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(given) - set(NAMES))
    if unknown:
        raise UsageError(f"unknown semantics field(s) {', '.join(unknown)}", hint=f"fields: {', '.join(NAMES)}")
    origin.update(dict.fromkeys(given, "flag"))
    try:
        return replace(base, **given), origin
    except UsageError as e:
        came = ", ".join(f"{n} from {o}" for n, o in origin.items() if o != "default")
        raise UsageError(f"{e} ({came})", where=where) from None


def file_metadata(graph: Graph) -> dict:
    """A normalized graph's metadata as a file stores it: its own semantics (flags may have changed
    what its source said), without what loading added."""
    md = {k: v for k, v in graph.metadata.items() if k not in LOAD_KEYS}
    md[KEY] = graph.semantics.to_dict()
    return md


def node_fields(node) -> dict:
    """The per-node semantics fields `node` stores ({} if none)."""
    raw = _metadata(node).get(KEY) or {}
    return {k: v for k, v in raw.items() if k in NODE_FIELDS}


def node_semantics(graph: Graph, name: str) -> Semantics:
    """The `Semantics` node `name` of a normalized graph runs under: the graph's, with the node's
    own reset fields."""
    own = node_fields(graph.nodes[name])
    return graph.semantics.with_(**own) if own else graph.semantics


def with_node_fields(node, fields_: dict):
    """A copy of `node` whose metadata stores `fields_` as its own semantics (empty: none)."""
    md = {k: v for k, v in _metadata(node).items() if k != KEY}
    if fields_:
        md[KEY] = dict(fields_)
    return replace(node, metadata=md)


def describe(graph: Graph) -> Table:
    origin = graph.metadata.get(ORIGIN, {})
    t = Table(title="Semantics")
    for col in ("field", "value", "from"):
        t.add_column(col)
    for n in NAMES:
        t.add_row(n, str(getattr(graph.semantics, n)), origin.get(n, "argument"))
    for name in graph.order:
        for k, v in node_fields(graph.nodes[name]).items():
            t.add_row(f"{k} of {name}", str(v), "file (node)")
    return t


def _metadata(node) -> dict:
    md = getattr(node, "metadata", None)
    return md if isinstance(md, dict) else {}


def _checked(raw, where: str | None) -> dict:
    if raw is None:
        return {}
    at = f"metadata {KEY!r}"
    out = _fields(raw, where, at)
    try:
        Semantics(**out)
    except UsageError as e:
        raise InvalidModel(f"{at}: {e}", where=where) from None
    return out


def _fields(raw, where: str | None, at: str) -> dict:
    """A stored group as Python values: a dict of known fields, or `InvalidModel`/`UnsupportedNode`."""
    if not isinstance(raw, dict):
        raise InvalidModel(f"{at} must be a group of fields, got {type(raw).__name__}", where=where)
    unknown = sorted(set(raw) - set(NAMES))
    if unknown:
        raise UnsupportedNode(f"{at} has unknown field(s) {', '.join(map(str, unknown))}", where=where,
                              hint=f"written by a newer neurodeploy? this one knows {', '.join(NAMES)}")
    return {k: _value(k, v, where, at) for k, v in raw.items()}


def _value(name: str, v, where: str | None, at: str):
    if name in NUMBERS:
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
            return float(v)
        if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iuf":
            return float(v)
        raise InvalidModel(f"{at}: {name} must be a number of seconds, got {_show(v)}", where=where)
    if isinstance(v, str):
        return v
    raise InvalidModel(f"{at}: {name} must be a string, got {_show(v)}", where=where)


def _show(v) -> str:
    if isinstance(v, np.ndarray):
        return f"an array of {v.dtype} with shape {v.shape}"
    return f"{type(v).__name__} {v!r}"[:80]


def _nested(graph: nir.NIRGraph, sem: Semantics, where: str | None, path: tuple[str, ...]) -> None:
    for name, node in graph.nodes.items():
        here = ".".join(path + (name,))
        raw = _metadata(node).get(KEY)
        if raw is not None:
            own = _checked_node(raw, sem, where, here)
            if own and isinstance(node, nir.NIRGraph):
                raise UnsupportedNode(f"node {here!r} stores semantics that differ from the graph's (a subgraph's "
                                      "must not)", where=where,
                                      hint=f"store reset fields on its neuron nodes, the rest in the top graph's "
                                           f"metadata {KEY!r}")
        if isinstance(node, nir.NIRGraph):
            _nested(node, sem, where, path + (name,))


def _checked_node(raw, sem: Semantics, where: str | None, node: str) -> dict:
    """A node's group: fields other than `NODE_FIELDS` must equal the graph's; returns the node's
    own reset fields that differ from the graph's, checked as one `Semantics`."""
    at = f"metadata {KEY!r} of node {node!r}"
    vals = _fields(raw, where, at)
    for k, v in vals.items():
        if k not in NODE_FIELDS and v != getattr(sem, k):
            raise UnsupportedNode(f"node {node!r} stores semantics that differ from the graph's: {k} {v!r}, "
                                  f"not {getattr(sem, k)!r}; only {', '.join(NODE_FIELDS)} may differ per node",
                                  where=where,
                                  hint=f"store {k} once, in the top graph's metadata {KEY!r}")
    own = {k: v for k, v in vals.items() if k in NODE_FIELDS and v != getattr(sem, k)}
    try:
        sem.with_(**own)
    except UsageError as e:
        raise InvalidModel(f"{at}: {e}", where=where) from None
    return own
