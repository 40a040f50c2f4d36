"""Write a graph to a `.nir` file: NIR's HDF5 layout, atomically (temp file, then rename).

Stock-only graphs come out in the exact layout ``nir.write`` uses, so stock ``nir.read`` loads
them. A graph with dialect nodes also gets, first in ``/node/nodes`` (creation order is tracked,
and nir's reader follows it), the sentinel node `reader.SENTINEL`: a ``Scale`` node with an extra
field whose name is the message, so stock ``nir.read`` stops at it with
``TypeError: ... unexpected keyword argument 'this_file_uses_the_neurodeploy_dialect: read it with
neurodeploy.ir.read'`` instead of a bare AssertionError on the first dialect node. A sparse
``Affine``/``Linear`` weight (`neurodeploy.ir.sparse`) is stored as a CSR group that stock nir
cannot read either, so it marks the file the same way. Edge ports are stored per graph group as
``neurodeploy_ports`` (rows src, dst, port; docs/dialect.md, "Ports"), not as node fields.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import h5py
import nir
import numpy as np

from .. import ops
from ..errors import InvalidModel, UsageError
from . import dialect, meta, sparse
from .graph import Graph
from .reader import MARKER, PORTS, SENTINEL


COMPRESS_MAX_BYTES = 1 << 20


def write(path: str | Path, graph: nir.NIRGraph | Graph) -> None:
    """Write `graph` (a nested `nir.NIRGraph`, or a normalized `Graph`, stored flat) to `path`."""
    if isinstance(graph, Graph):
        graph = nir.NIRGraph(nodes=_with_port_fields(graph), edges=list(graph.edges),
                             metadata=meta.file_metadata(graph), type_check=False)
    if not isinstance(graph, nir.NIRGraph):
        raise UsageError(f"write expects a nir.NIRGraph or a neurodeploy Graph, got {type(graph).__name__}")
    meta.stored(graph, where=str(path))  # bad semantics metadata is refused before anything is written
    path = Path(path)
    uses_dialect = _uses_dialect(graph)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            version = f"{nir.version}+neurodeploy-dialect-{dialect.VERSION}" if uses_dialect else nir.version
            f.create_dataset("version", data=version, dtype=h5py.string_dtype())
            _graph(f.create_group("node"), graph, "", sentinel=uses_dialect)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _uses_dialect(graph: nir.NIRGraph) -> bool:
    return any(_uses_dialect(n) if isinstance(n, nir.NIRGraph)
               else dialect.is_dialect(n) or isinstance(n, sparse.TYPES) and sparse.is_sparse(n.weight)
               for n in graph.nodes.values())


def _with_port_fields(graph: Graph) -> dict:
    """The nodes, their port fields (`OpDef.port_fields`) set from `Graph.ports`."""
    nodes = dict(graph.nodes)
    for n, node in nodes.items():
        fields = ops.get(node, n).port_fields
        if fields:
            by_port = graph.inputs_by_port(n)
            nodes[n] = dataclasses.replace(node, **{f: tuple(by_port[p]) for p, f in fields.items()})
    return nodes


def _graph(group: h5py.Group, graph: nir.NIRGraph, where: str, sentinel: bool = False) -> None:
    group.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
    edges = np.array(graph.edges, dtype=object).reshape(-1, 2)
    group.create_dataset("edges", data=edges, dtype=h5py.string_dtype())
    ports = ops.field_ports(graph.nodes, graph.edges)
    if ports:  # in the order of the edges, so that a rewrite is byte-identical
        rows = [(s, d, ports[(s, d)]) for s, d in graph.edges if (s, d) in ports]
        group.create_dataset(PORTS, data=np.array(rows, dtype=object), dtype=h5py.string_dtype())
    nodes = group.create_group("nodes", track_order=sentinel or None)
    if sentinel:
        s = nodes.create_group(SENTINEL)
        s.create_dataset("type", data="Scale", dtype=h5py.string_dtype())
        s.create_dataset(MARKER, data=dialect.VERSION)
    for name, node in graph.nodes.items():
        here = f"{where}.{name}" if where else name
        if not isinstance(name, str) or not name or "/" in name or name == "." or sentinel and name == SENTINEL:
            raise InvalidModel(f"node name {name!r} cannot be stored: names must be non-empty strings "
                               f"without '/' (and not {SENTINEL!r} in a dialect file)", where=here)
        if isinstance(node, nir.NIRGraph):
            _graph(nodes.create_group(name), node, here)
        else:
            _fields(nodes.create_group(name), _node_dict(node, here), here)
    if graph.metadata:
        _fields(group.create_group("metadata"), dict(graph.metadata), where or "graph")


def _node_dict(node, where: str) -> dict:
    d = node.to_dict()
    d["type"] = dialect.type_name(node)
    for f in ops.get(node, where).port_fields.values():  # stored as the graph's ports instead
        del d[f]
    for k, v in d.items():
        if sparse.is_sparse(v):
            if not (isinstance(node, sparse.TYPES) and k == "weight"):
                raise InvalidModel(f"field {k!r} is a sparse matrix; only the weight of an Affine or Linear "
                                   f"node may be sparse", where=where, hint="pass a dense numpy array")
            d[k] = sparse.to_fields(v, where)
    return d


def _fields(group: h5py.Group, d: dict, where: str) -> None:
    for k, v in d.items():
        if v is None:
            continue  # optional field left open (conv input_shape): the reader treats absent as None
        try:
            if isinstance(v, dict):
                if k != "metadata" or v:
                    _fields(group.create_group(k), v, where)
            elif isinstance(v, str):
                group.create_dataset(k, data=v, dtype=h5py.string_dtype())
            elif isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
                # gzip as nir does, except for big arrays: trained float weights barely compress
                # (about 7 %) and gzip made writing a SpikeGPT-sized model take 40 s.
                small = v.nbytes <= COMPRESS_MAX_BYTES
                group.create_dataset(k, data=v, dtype=v.dtype, compression="gzip" if small else None)
            elif isinstance(v, (tuple, list)) and v and all(isinstance(x, str) for x in v):
                group.create_dataset(k, data=np.array(v, dtype=object), dtype=h5py.string_dtype())
            else:
                group.create_dataset(k, data=v)
        except (TypeError, ValueError) as e:
            raise InvalidModel(f"cannot store field {k!r} ({type(v).__name__}) in a .nir file: {e}",
                               where=where) from None
