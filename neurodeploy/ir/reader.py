"""Read a `.nir` (HDF5) file into a nested `nir.NIRGraph`, tolerating what real exporters write.

We read the HDF5 ourselves instead of calling `nir.read` because nir's reader fails on unknown
types with a bare AssertionError, cannot read the neurodeploy dialect, and lets any malformed
dataset escape as whatever h5py or numpy raise. Here every problem becomes an `InvalidModel` (or
`UnsupportedNode`) naming the file and node, and declared sizes are checked before anything is
allocated (see `_dataset`). A sparse ``Affine``/``Linear`` weight (a CSR group) is checked and
rebuilt by `neurodeploy.ir.sparse`. Repairs that need only the node itself (legacy missing
``v_reset``, scalars mixed with per-neuron arrays) are made here; shape repairs are in
`neurodeploy.ir.repair`.
"""
from __future__ import annotations

import math
from pathlib import Path

import h5py
import nir
import numpy as np

from .. import ops
from ..errors import InvalidModel, NeuroDeployError, UnsupportedNode
from . import dialect, meta, sparse
from .flatten import resolve
from .probe import probe
from .shapes import MAX_ELEMENTS, NEURON_PARAMS, check_size

MAX_DEPTH = 16  # nesting of subgraphs; also stops hard-link loops in a hostile file
# A dataset above 1 MiB may declare at most 256x the bytes it stores: gzip'd float weights shrink
# 1-20x (even 95 %-pruned ones), so more is a never-written or hostile dataset, and a small file
# cannot make us allocate much more than 256x its own size.
MAX_INFLATION = 256
SMALL_BYTES = 1 << 20

SENTINEL = "neurodeploy_dialect"
PORTS = "neurodeploy_ports"  # per graph group: (src, dst, port) of edges into a non-default port
MARKER = "this_file_uses_the_neurodeploy_dialect: read it with neurodeploy.ir.read"

# Stored field -> value kind, for every stock NIR 1.0.8 type. Trailing "?" = optional.
_NEURON = {t.__name__: dict.fromkeys(p, "array") for t, p in NEURON_PARAMS.items()}
_CONV = {"input_shape?": "ints", "weight": "array", "stride": "ints", "padding": "pad",
         "dilation": "ints", "groups": "int", "bias": "array"}
_POOL = {"kernel_size": "ints", "stride": "ints", "padding": "ints"}
STOCK_FIELDS: dict[str, dict[str, str]] = {
    "Input": {"shape": "shape"},
    "Output": {"shape": "shape"},
    "Affine": {"weight": "matrix", "bias": "array"},  # matrix: dense array or sparse CSR group
    "Linear": {"weight": "matrix"},
    **_NEURON,
    "Conv1d": _CONV,
    "Conv2d": _CONV,
    "SumPool2d": _POOL,
    "AvgPool2d": _POOL,
    "Flatten": {"input_type?": "shape", "start_dim?": "int", "end_dim?": "int"},
}
for _t in ("IF", "LIF", "CubaLIF"):
    STOCK_FIELDS[_t] = {k + ("?" if k == "v_reset" else ""): v for k, v in STOCK_FIELDS[_t].items()}
for _t in ("CubaLI", "CubaLIF"):
    STOCK_FIELDS[_t] = {k + ("?" if k == "w_in" else ""): v for k, v in STOCK_FIELDS[_t].items()}


def read(path: str | Path, report: bool = False):
    """Read `path` into a `nir.NIRGraph` with repairs applied.

    With ``report=True`` returns ``(graph, repairs)``, repairs being human-readable strings.
    """
    from .repair import repair_nested

    tree = read_tree(path)
    repairs: list[str] = []
    graph = build_graph(tree, "", repairs, 0, top=True)
    graph = repair_nested(graph, repairs)
    meta.stored(graph, where=str(path))  # bad semantics metadata is refused naming the file
    return (graph, repairs) if report else graph


# --- HDF5 -> plain tree (dicts of numpy values), every h5py call guarded -----------------------

def read_tree(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InvalidModel("model file not found", where=str(path))
    probe(p, _read_tree)
    return _read_tree(p)


def _read_tree(p: Path) -> dict:
    where = str(p)
    try:
        if not h5py.is_hdf5(p):
            raise InvalidModel("not an HDF5 file (a .nir model is HDF5)", where=where)
        with h5py.File(p, "r") as f:
            if "node" not in f or not isinstance(f.get("node", getlink=True), h5py.HardLink):
                raise InvalidModel("no '/node' group: not a NIR file", where=where)
            node = f["node"]
            if not isinstance(node, h5py.Group):
                raise InvalidModel("'/node' is not a group: not a NIR file", where=where)
            return _group(node, where, 0, set())
    except NeuroDeployError:
        raise
    except Exception as e:  # h5py/HDF5 raise OSError, KeyError, RuntimeError, ... on corrupt files
        raise InvalidModel(f"cannot read the HDF5 file, it is truncated or corrupt ({type(e).__name__}: {e})",
                           where=where) from None


def _group(g: h5py.Group, where: str, depth: int, seen: set) -> dict:
    """`seen` holds every object visited: one linked twice (a hard-link loop) is refused."""
    if depth > 2 * MAX_DEPTH + 4:
        raise InvalidModel(f"groups nested deeper than {MAX_DEPTH} graphs", where=f"{where}:{g.name}")
    out = {}
    for key in g.keys():
        link = g.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            raise InvalidModel(f"{type(link).__name__} {key!r} is not allowed in a model file",
                               where=f"{where}:{g.name}")
        item = g[key]
        if item.id in seen:
            raise InvalidModel(f"{key!r} links an object already read (a hard-link loop?)",
                               where=f"{where}:{g.name}")
        seen.add(item.id)
        if isinstance(item, h5py.Group):
            out[key] = _group(item, where, depth + 1, seen)
        elif isinstance(item, h5py.Dataset):
            out[key] = _dataset(item, where)
        else:
            raise InvalidModel(f"unexpected HDF5 object {key!r}", where=f"{where}:{g.name}")
    return out


def _dataset(ds: h5py.Dataset, where: str):
    """Read one dataset after checking its declared size against limits and stored bytes."""
    here = f"{where}:{ds.name}"
    if ds.shape is None:
        raise InvalidModel("empty dataspace", where=here)
    n = math.prod(ds.shape)
    if n > MAX_ELEMENTS:
        raise InvalidModel(f"declares {n} elements, above the limit of {MAX_ELEMENTS}", where=here,
                           hint="see docs/ir.md, 'Limits'")
    is_str = h5py.check_string_dtype(ds.dtype) is not None
    if not is_str and ds.dtype.kind not in "biuf":
        raise InvalidModel(f"unsupported dataset type {ds.dtype}", where=here)
    declared = n * ds.dtype.itemsize
    if declared > SMALL_BYTES and declared > MAX_INFLATION * ds.id.get_storage_size():
        raise InvalidModel(f"declares {declared} bytes but stores only {ds.id.get_storage_size()}",
                           where=here, hint="the file is corrupt or hostile")
    v = ds[()]
    if not is_str:
        return v
    try:
        if isinstance(v, bytes):
            return v.decode("utf-8")
        return np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else str(b),
                            otypes=[object])(v) if v.size else np.empty(v.shape, dtype=object)
    except UnicodeDecodeError:
        raise InvalidModel("string is not valid UTF-8", where=here) from None


# --- plain tree -> nir nodes --------------------------------------------------------------------

def build_graph(tree: dict, where: str, repairs: list[str], depth: int, top: bool = False) -> nir.NIRGraph:
    if depth > MAX_DEPTH:
        raise InvalidModel(f"subgraphs nested deeper than {MAX_DEPTH}", where=where or None)
    nodes_tree = tree.get("nodes")
    if not isinstance(nodes_tree, dict):
        raise InvalidModel("graph has no 'nodes' group", where=where or None)
    if top and isinstance(nodes_tree.get(SENTINEL), dict) and MARKER in nodes_tree[SENTINEL]:
        _check_sentinel(nodes_tree.pop(SENTINEL)[MARKER])
    nodes = {}
    for name, sub in nodes_tree.items():
        here = f"{where}.{name}" if where else name
        if not isinstance(sub, dict):
            raise InvalidModel("node entry is a dataset, expected a group", where=here)
    _port_fields(tree.get(PORTS), nodes_tree, where)
    for name, sub in nodes_tree.items():
        nodes[name] = build_node(sub, f"{where}.{name}" if where else name, repairs, depth)
    if not nodes:
        raise InvalidModel("empty graph: no nodes", where=where or None)
    edges = _edges(tree.get("edges"), nodes, where, repairs)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=_metadata(tree, where), type_check=False)


def _check_sentinel(v) -> None:
    if not isinstance(v, (np.ndarray, np.generic)) or np.ndim(v) != 0 or v.dtype.kind not in "iu":
        raise InvalidModel("malformed neurodeploy dialect marker", where=SENTINEL)
    if int(v) > dialect.VERSION:
        raise UnsupportedNode(f"file uses neurodeploy dialect version {int(v)}; this neurodeploy reads "
                              f"up to version {dialect.VERSION}", where=SENTINEL,
                              hint="upgrade neurodeploy")


def _port_fields(raw, nodes_tree: dict, where: str) -> None:
    """The graph's ``neurodeploy_ports`` rows (src, dst, port) into the destination nodes' port
    fields (`OpDef.port_fields`, e.g. TwoPointCell ``apical``), where the nested graph keeps them.
    Files from before ports store those fields directly; they are read as they are."""
    if raw is None:
        return
    if not isinstance(raw, np.ndarray) or raw.dtype != object or raw.ndim != 2 or raw.shape[1] != 3:
        raise InvalidModel(f"{PORTS!r} must be an (N, 3) array of names (source, destination, port)",
                           where=where or None)
    lists: dict[tuple[str, str], list[str]] = {}
    for s, d, port in raw.tolist():
        here = f"{where}.{d}" if where else d
        sub = nodes_tree.get(d)
        op = ops.find(_node_class(sub.get("type"))) if isinstance(sub, dict) else None
        if op is None or port not in op.ports:
            raise InvalidModel(f"port {port!r} of edge ({s!r} -> {d!r}) is not a port of that node", where=here)
        if port != op.default_port:
            lists.setdefault((d, op.port_fields[port]), []).append(s)
    for (d, f), names in lists.items():
        if f in nodes_tree[d]:
            raise InvalidModel(f"field {f!r} is stored and also given by {PORTS!r}", where=f"{where}.{d}" if where else d)
        nodes_tree[d][f] = np.array(names, dtype=object)


def _node_class(t):
    """The class a stored ``type`` string names, or None."""
    if not isinstance(t, str):
        return None
    if t.startswith(dialect.TYPE_PREFIX):
        return dialect.REGISTRY.get(t[len(dialect.TYPE_PREFIX):])
    return getattr(nir, t, None) if t in STOCK_FIELDS else None


def _edges(raw, nodes: dict, where: str, repairs: list[str]) -> list[tuple[str, str]]:
    if raw is None or isinstance(raw, np.ndarray) and raw.size == 0:
        return []
    if not isinstance(raw, np.ndarray) or raw.dtype != object or raw.ndim != 2 or raw.shape[1] != 2:
        raise InvalidModel("'edges' must be an (N, 2) array of node names", where=where or None)
    pairs = raw.reshape(-1, 2).tolist()
    names = _endpoint_names(pairs, nodes, where, repairs)
    edges, seen = [], set()
    for s, d in pairs:
        s, d = names.get((s, 0), s), names.get((d, 1), d)
        for n in (s, d):
            if resolve(nodes, n) is None:
                raise InvalidModel(f"dangling edge ({s!r} -> {d!r}): no node named {n!r}",
                                   where=f"{where}.{n}" if where else n,
                                   hint="every edge must name a node of its graph (or sub.inner)")
        if (s, d) in seen:
            raise InvalidModel(f"duplicate edge ({s!r} -> {d!r})", where=f"{where}.{d}" if where else d)
        seen.add((s, d))
        edges.append((s, d))
    return edges


def _endpoint_names(pairs, nodes: dict, where: str, repairs: list[str]) -> dict[tuple[str, int], str]:
    """Edge endpoints that name no node, read as the node exporters meant (each listed as a repair):

    - ``P`` where nodes ``P.*`` exist: a subgraph flattened into dotted names (NIR 0.2 wrote the
      Braille RNN so) whose edges still name the group: into it means its one Input ``P.*``, out of
      it its one Output;
    - one unknown name, when exactly one non-Input/Output node is named by no edge: that node,
      renamed after the edges were written (Rockpool/NIR paper subgraphs: edges name ``lif``, the node
      is ``lif1``).
    Keys are (name, 0 for source / 1 for destination)."""
    at = lambda n: f"{where}.{n}" if where else n  # noqa: E731
    unknown = {(n, i) for pair in pairs for i, n in enumerate(pair) if resolve(nodes, n) is None}
    out = {}
    for n, i in sorted(unknown):
        kind = nir.Input if i else nir.Output
        members = [m for m in nodes if m.startswith(n + ".") and isinstance(nodes[m], kind)]
        if len(members) == 1:
            out[(n, i)] = members[0]
            repairs.append(f"{at(n)}: edges name the flattened subgraph {n}.*; {'into' if i else 'out of'} it "
                           f"read as its {kind.__name__} node {members[0]!r}")
    left = {n for n, i in unknown if (n, i) not in out}
    named = {n for pair in pairs for n in pair}
    unnamed = [m for m in nodes if m not in named and not isinstance(nodes[m], (nir.Input, nir.Output))]
    if len(left) == 1 and len(unnamed) == 1:
        (n,) = left
        out.update({(n, 0): unnamed[0], (n, 1): unnamed[0]})
        repairs.append(f"{at(unnamed[0])}: the edges name {n!r}, which is no node, and no edge names this node: "
                       f"read {n!r} as {unnamed[0]!r}")
    return out


def _metadata(tree: dict, where: str) -> dict:
    md = tree.get("metadata", {})
    if not isinstance(md, dict):
        raise InvalidModel("'metadata' must be a group", where=where or None)
    return md


def build_node(tree: dict, where: str, repairs: list[str], depth: int) -> nir.NIRNode:
    t = tree.get("type")
    if not isinstance(t, str):
        raise InvalidModel("node has no 'type' string", where=where)
    if t == "NIRGraph":
        return build_graph(tree, where, repairs, depth + 1)
    if t in STOCK_FIELDS:
        spec, cls = STOCK_FIELDS[t], getattr(nir, t)
    elif t.startswith(dialect.TYPE_PREFIX) and t[len(dialect.TYPE_PREFIX):] in dialect.REGISTRY:
        cls = dialect.REGISTRY[t[len(dialect.TYPE_PREFIX):]]
        spec = cls.FIELDS
    elif t.startswith(dialect.TYPE_PREFIX):
        raise UnsupportedNode(f"unknown neurodeploy dialect node type {t!r}", where=where,
                              hint=f"written by a newer neurodeploy? this one reads dialect version "
                                   f"{dialect.VERSION}; upgrade, or keep this part on the host")
    else:
        raise UnsupportedNode(f"unknown node type {t!r} (not a NIR 1.0.8 type)", where=where,
                              hint="from a newer NIR or a custom exporter? express it with NIR/"
                                   "neurodeploy dialect nodes (docs/dialect.md) or keep it on the host")
    values = {}
    for key, kind in spec.items():
        name = key.rstrip("?")
        if name in tree and key.endswith("?") and kind == "shape" and _all_zeros(tree[name]):
            repairs.append(f"{where}: {name} {tuple(int(x) for x in np.ravel(tree[name]))} is all zeros, the "
                           "placeholder exporters (nirtorch) write for a shape they did not know: inferred instead")
        elif name in tree:
            values[name] = convert(tree[name], kind, name, where)
        elif not key.endswith("?"):
            raise InvalidModel(f"{t} node is missing field {name!r}", where=where)
    unknown = sorted(set(tree) - {k.rstrip("?") for k in spec} - {"type", "metadata"})
    if unknown:
        repairs.append(f"{where}: ignored unknown fields {', '.join(unknown)} of {t}")
    metadata = _metadata(tree, where)
    try:
        return _construct(cls, values, metadata, where, repairs)
    except NeuroDeployError as e:
        if e.where:
            raise
        raise InvalidModel(f"bad {t} node: {e}", where=where) from None
    except (ValueError, TypeError, AssertionError, AttributeError, IndexError, ArithmeticError) as e:
        raise InvalidModel(f"bad {t} node: {type(e).__name__}: {e}", where=where) from None


def _all_zeros(v) -> bool:
    return isinstance(v, np.ndarray) and v.dtype.kind in "iuf" and v.size > 0 and not np.any(v)


def _construct(cls, values: dict, metadata: dict, where: str, repairs: list[str]):
    if cls is nir.Input:
        return nir.Input(input_type={"input": np.array(values["shape"])}, metadata=metadata)
    if cls is nir.Output:
        return nir.Output(output_type={"output": np.array(values["shape"])}, metadata=metadata)
    if cls is nir.Flatten:
        t = values.pop("input_type", None)
        return nir.Flatten(input_type={"input": None if t is None else np.array(t)}, metadata=metadata,
                           **values)
    if cls in NEURON_PARAMS:
        _broadcast_mixed(values, where, repairs)
        if "v_threshold" in values and "v_reset" not in values:
            values["v_reset"] = np.zeros_like(values["v_threshold"])
            repairs.append(f"{where}: legacy file without v_reset, set to 0")
    for k in ("stride", "dilation", "kernel_size", "groups", "padding"):
        v = values.get(k)
        if v is not None and not isinstance(v, str) and min(np.atleast_1d(v)) < (0 if k == "padding" else 1):
            raise InvalidModel(f"{k} {v} must be {'>= 0' if k == 'padding' else '>= 1'}", where=where)
    if cls in (nir.Conv1d, nir.Conv2d) and values.setdefault("input_shape", None) is not None:
        values["input_shape"] = check_size(np.atleast_1d(values["input_shape"]), where, "input_shape")
        if cls is nir.Conv1d:
            values["input_shape"] = values["input_shape"][0]
    return cls(**values, metadata=metadata)


def _broadcast_mixed(values: dict, where: str, repairs: list[str]) -> None:
    """0-d parameters next to per-neuron arrays take the arrays' shape (exporters mix them)."""
    shapes = {v.shape for v in values.values()} - {()}
    if len(shapes) > 1:
        raise InvalidModel(f"parameters have different shapes: "
                           f"{ {k: v.shape for k, v in values.items()} }", where=where)
    if shapes:
        shape = shapes.pop()
        scalars = [k for k, v in values.items() if v.shape == ()]
        for k in scalars:
            values[k] = np.full(shape, values[k], dtype=values[k].dtype)
        if scalars:
            repairs.append(f"{where}: broadcast scalar {', '.join(scalars)} to shape {shape}")


def convert(v, kind: str, name: str, where: str):
    """Check a stored value against its expected kind; return it in the form nir expects."""
    def bad(what: str):
        return InvalidModel(f"field {name!r} must be {what}, got {_describe(v)}", where=where)

    if kind in ("str", "strs", "pad") and isinstance(v, str):
        if kind == "pad" and v not in ("same", "valid"):
            raise bad("'same', 'valid' or integers")
        return (v,) if kind == "strs" else v
    if kind == "strs":
        if isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 1:
            return tuple(v.tolist())
        raise bad("a list of names")
    if kind == "str":
        raise bad("a string")
    if kind == "matrix":
        if isinstance(v, dict):
            return sparse.from_fields(v, name, where)
        kind = "array"
    a = np.asarray(v) if isinstance(v, (np.ndarray, np.generic)) else None
    if a is None or a.dtype.kind not in "biuf":
        raise bad("numeric")
    if kind in ("array", "float"):
        if not np.all(np.isfinite(a)):
            raise InvalidModel(f"field {name!r} contains NaN or infinity", where=where)
        if kind == "array":
            return a
        if a.size != 1:
            raise bad("one number")
        return float(a.reshape(()))
    if a.ndim > 1 or a.dtype.kind == "f" and not (np.all(np.isfinite(a)) and np.all(a == np.round(a))):
        raise bad("integers")
    if kind == "int":
        if a.size != 1:
            raise bad("one integer")
        return int(a.reshape(()))
    if kind == "shape":
        return check_size(np.atleast_1d(a), where, name)
    ints = tuple(int(x) for x in np.atleast_1d(a))  # "ints" and "pad"
    return ints[0] if a.ndim == 0 else ints


def _describe(v) -> str:
    if isinstance(v, np.ndarray):
        return f"array of {v.dtype} with shape {v.shape}"
    return f"{type(v).__name__} {v!r}"[:80]
