"""From a (nested, possibly sloppy) `nir.NIRGraph` to the normalized `Graph` backends consume.

Steps: flatten subgraphs, reject NaN/inf parameters, put sparse weights in canonical CSR form
(`.sparse`), infer and repair shapes (`repair.infer`), remove the subgraphs' inner ports, attach
the run semantics. The result is described in
`neurodeploy.ir.graph`; the repairs made are listed in ``Graph.metadata["repairs"]``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import nir
import numpy as np

from ..errors import InvalidModel, UsageError
from ..semantics import Semantics
from . import meta
from .flatten import drop_inner_ports, flatten
from .graph import Graph
from .sparse import TYPES as SPARSE_TYPES
from .sparse import canonical, is_sparse
from .repair import infer


def normalize(graph: nir.NIRGraph, semantics: Semantics | None = None, *,
              repairs: list[str] | None = None, overrides: dict | None = None) -> Graph:
    """`repairs` (those already made by the reader) are kept in front of the ones made here.
    Semantics: `semantics` if given, else those stored in the graph's metadata over the defaults;
    `overrides` (field -> value, e.g. CLI flags) replace single fields (`meta.resolve`)."""
    if not isinstance(graph, nir.NIRGraph):
        raise UsageError(f"normalize expects a nir.NIRGraph, got {type(graph).__name__}")
    sem, origin = meta.resolve(graph, semantics, overrides)
    repairs = list(repairs or [])
    flat = flatten(graph)
    if not flat.nodes:
        raise InvalidModel("empty graph: no nodes")
    for name, node in flat.nodes.items():
        check_finite(node, name)
        flat.nodes[name] = canonical_sparse(node, name)
    inf = infer(flat, repairs)
    flat = drop_inner_ports(inf.flat)
    metadata = {**graph.metadata, "repairs": repairs, meta.ORIGIN: origin}
    return Graph(nodes=flat.nodes, edges=flat.edges,
                 in_shape={n: inf.in_shape[n] for n in flat.nodes},
                 out_shape={n: inf.out_shape[n] for n in flat.nodes},
                 semantics=sem, metadata=metadata)


def load(path: str | Path, semantics: Semantics | None = None, *, overrides: dict | None = None) -> Graph:
    """Read a `.nir` file (stock or neurodeploy dialect) and normalize it under the file's
    semantics (`normalize` says how `semantics` and `overrides` replace them)."""
    from .reader import read

    graph, repairs = read(path, report=True)
    g = normalize(graph, semantics, repairs=repairs, overrides=overrides)
    g.metadata["source"] = str(path)
    return g


def check_finite(node, name: str) -> None:
    for f in dataclasses.fields(node):
        v = getattr(node, f.name, None)
        if isinstance(v, (np.ndarray, float, np.floating)) and np.asarray(v).dtype.kind == "f" \
                and not np.all(np.isfinite(v)):
            raise InvalidModel(f"parameter {f.name!r} contains NaN or infinity", where=name)


def canonical_sparse(node, name: str):
    """`node` with a sparse weight in canonical CSR form (one in-memory form for every pass);
    a sparse matrix anywhere else is refused."""
    bad = [f.name for f in dataclasses.fields(node) if is_sparse(getattr(node, f.name, None))
           and not (isinstance(node, SPARSE_TYPES) and f.name == "weight")]
    if bad:
        raise InvalidModel(f"parameter {bad[0]!r} is a sparse matrix; only the weight of an Affine or Linear "
                           f"node may be sparse", where=name, hint="pass a dense numpy array")
    if isinstance(node, SPARSE_TYPES) and is_sparse(node.weight):
        return dataclasses.replace(node, weight=canonical(node.weight, name))
    return node
