"""Fuzzed `.nir` files: only neurodeploy's own errors escape, with a message, fast, without
allocations driven by declared sizes.

Seeds are the NIR paper files plus generated ones (a dialect graph, a nested subgraph). Each
example mutates one copy, either its bytes (truncation, flips, splices) or its structure through
h5py (shapes, dtypes, strings for arrays, NaN, huge declared sizes, edges deleted, duplicated or
dangling, types renamed, hard-link loops), then calls `ir.load`.
"""
from __future__ import annotations

import math
import os
import shutil
import tracemalloc
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurodeploy import ir
from neurodeploy.errors import InvalidModel, NeuroDeployError
from neurodeploy.ir import dialect, probe

from conftest import REALDATA

PEAK_LIMIT = 64 << 20  # bytes traced by tracemalloc while loading one mutated file (seeds need < 5 MiB)
REAL_SEEDS = [REALDATA / "lif" / "lif_norse.nir", REALDATA / "rnn" / "braille_noDelay_bias_zero.nir",
              REALDATA / "cnn" / "cnn_sinabs.nir"]
N_SEEDS = len(REAL_SEEDS) + 2


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def seeds(work) -> list[Path]:
    """The real files plus two generated ones: a dialect graph and a nested, sloppy subgraph."""
    h, n = 4, 3
    rng = np.random.default_rng(0)
    egru = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([n])}),
        "egru": dialect.EGRU(W=rng.normal(size=(3 * h, n)), R=rng.normal(size=(3 * h, h)),
                             b_W=np.zeros(3 * h), b_R=np.zeros(3 * h), threshold=np.full(h, 0.1)),
        "ln": dialect.LayerNorm(weight=np.ones(h), bias=np.zeros(h)),
        "out": nir.Output(output_type={"output": np.array([h])})},
        edges=[("in", "egru"), ("egru", "ln"), ("ln", "out")], type_check=False)
    sub = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([h])}),
        "lif": nir.LIF(tau=np.float64(0.01), r=np.float64(1.0), v_leak=np.float64(0.0),
                       v_threshold=np.float64(1.0), v_reset=np.float64(0.0)),
        "w_rec": nir.Linear(weight=np.eye(h)),
        "output": nir.Output(output_type={"output": np.array([h])})},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")], type_check=False)
    nested = nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([1, n])}),
        "fc": nir.Affine(weight=np.ones((h, n), np.float32), bias=np.zeros(h, np.float32)),
        "rnn": sub, "out": nir.Output(output_type={"output": np.array([h])})},
        edges=[("in", "fc"), ("fc", "rnn"), ("rnn", "out")], type_check=False)
    paths = list(REAL_SEEDS)
    for name, g in (("egru", egru), ("nested", nested)):
        paths.append(work / f"seed_{name}.nir")
        ir.write(paths[-1], g)
    assert len(paths) == N_SEEDS
    return paths


# ND_FUZZ_EXAMPLES=N runs a longer, randomized campaign; by default the same 150 examples each run.
CAMPAIGN = int(os.environ.get("ND_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=CAMPAIGN or 150, deadline=5000, derandomize=not CAMPAIGN, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True, scope="module")
def quick_probe():
    """A hung read is killed after 1 s here (10 s in use), well inside the 5 s example deadline."""
    old, probe.BASE_SECONDS = probe.BASE_SECONDS, 1.0
    yield
    probe.BASE_SECONDS = old


def test_corrupt_global_heap_does_not_hang(seeds, work):
    """Found by this fuzz test: one byte of the global heap's collection size (signature GCOL) makes
    libhdf5 loop forever on every string read. The probe turns that into an InvalidModel."""
    raw = bytearray(seeds[3].read_bytes())
    raw[raw.index(b"GCOL") + 9] ^= 0x20
    path = work / "gcol.nir"
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidModel, match="did not finish"):
        ir.load(path)


def load_only_our_errors(path: Path) -> None:
    """The property: load succeeds, or raises a NeuroDeployError with a message, within bounds."""
    tracemalloc.start()
    try:
        ir.load(path)
    except NeuroDeployError as e:
        assert str(e).strip(), f"{type(e).__name__} without a message"
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"loading allocated {peak} bytes"


@pytest.mark.timeout(120 + CAMPAIGN)
@given(seed=st.integers(0, N_SEEDS - 1), data=st.data())
@settings(FUZZ)
def test_byte_mutations(seeds, work, seed, data):
    raw = bytearray(seeds[seed].read_bytes())
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice", "delete"]))
    at = data.draw(st.integers(0, len(raw) - 1))
    if kind == "truncate":
        raw = raw[:at]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 16))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif kind == "splice":
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=64))
    else:
        del raw[at:at + data.draw(st.integers(1, 4096))]
    path = work / "bytes.nir"
    path.write_bytes(bytes(raw))
    load_only_our_errors(path)


def _datasets(f: h5py.File) -> list[str]:
    out = []
    f["node"].visititems(lambda name, obj: out.append("node/" + name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(out)


def _groups(f: h5py.File) -> list[str]:
    out = []
    f["node"].visititems(lambda name, obj: out.append("node/" + name) if isinstance(obj, h5py.Group) else None)
    return sorted(out)


def _free(g: h5py.Group, base: str) -> str:
    i = 0
    while f"{base}{i}" in g:
        i += 1
    return f"{base}{i}"


def _replace(f: h5py.File, name: str, **kw) -> None:
    parent, key = name.rsplit("/", 1)
    del f[name]
    f[parent].create_dataset(key, **kw)


def _edge_mutation(f, data):
    ds = f.get("node/edges")
    ok = isinstance(ds, h5py.Dataset) and h5py.check_string_dtype(ds.dtype) and ds.ndim == 2 and ds.size
    edges = [[a.decode(), b.decode()] for a, b in ds[()]] if ok else []
    names = list(f["node/nodes"]) if isinstance(f.get("node/nodes"), h5py.Group) else ["x"]
    how = data.draw(st.sampled_from(["delete", "duplicate", "dangling", "self", "ints", "reverse"]))
    if how == "delete" and edges:
        edges.pop(data.draw(st.integers(0, len(edges) - 1)))
    elif how == "duplicate" and edges:
        edges.append(edges[data.draw(st.integers(0, len(edges) - 1))])
    elif how == "dangling":
        edges.append([data.draw(st.sampled_from(names)), "nowhere"])
    elif how == "self":
        n = data.draw(st.sampled_from(names))
        edges.append([n, n])
    elif how == "reverse" and edges:
        i = data.draw(st.integers(0, len(edges) - 1))
        edges[i] = edges[i][::-1]
    if "edges" in f["node"]:
        del f["node/edges"]
    if how == "ints":
        f["node"].create_dataset("edges", data=np.arange(6).reshape(3, 2))
    else:
        f["node"].create_dataset("edges", data=np.array(edges, dtype=object).reshape(-1, 2),
                                 dtype=h5py.string_dtype())


def _dataset_mutation(f, data):
    name = data.draw(st.sampled_from(_datasets(f)))
    how = data.draw(st.sampled_from(["shape", "dtype", "string", "nan", "huge", "delete", "scalar",
                                     "empty", "bignum", "badutf8"]))
    if how == "delete":
        del f[name]
    elif how == "shape":
        shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=0, max_size=4)))
        _replace(f, name, data=np.ones(shape, np.float32))
    elif how == "dtype":
        dtype = data.draw(st.sampled_from(["i1", "u8", "f2", "?", "c8"]))
        shape = f[name].shape  # (not read: it may be a huge declared-only dataset)
        arr = np.zeros(shape if shape and math.prod(shape) < 10**5 else (3,), dtype)
        _replace(f, name, data=arr)
    elif how == "string":
        _replace(f, name, data=data.draw(st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20)), dtype=h5py.string_dtype())
    elif how == "nan":
        _replace(f, name, data=np.full(data.draw(st.integers(1, 5)), data.draw(
            st.sampled_from([np.nan, np.inf, -np.inf]))))
    elif how == "huge":  # declared, never stored: must be refused before reading
        n = data.draw(st.sampled_from([2**27 + 1, 2**31, 10**12, 2**40]))
        _replace(f, name, shape=(n,), dtype="f8", maxshape=(None,), chunks=(1024,))
    elif how == "scalar":
        _replace(f, name, data=data.draw(st.floats(allow_nan=True, allow_infinity=True)))
    elif how == "badutf8":
        _replace(f, name, data=np.bytes_(b"\xff\xfe" + data.draw(st.binary(max_size=8)).replace(b"\0", b"")))
    elif how == "empty":
        _replace(f, name, data=np.zeros((0,)))
    else:
        _replace(f, name, data=np.array([data.draw(st.sampled_from([10**12, -1, 0, 2**62]))]))


def _structure_mutation(f, data):
    how = data.draw(st.sampled_from(["type", "drop_group", "extra", "loop", "input_shape", "node_as_dataset"]))
    groups = [g for g in _groups(f) if g.count("/") >= 2]
    if how == "type":
        node = data.draw(st.sampled_from([g for g in groups if "type" in f[g]]))
        _replace(f, node + "/type", data=data.draw(st.sampled_from(
            ["Bogus", "NIRGraph", "LIF", "Affine", "Input", "neurodeploy.EGRU", "neurodeploy.Nope",
             "Conv2d", "Flatten", "SumPool2d", ""])), dtype=h5py.string_dtype())
    elif how == "drop_group":
        del f[data.draw(st.sampled_from(groups))]
    elif how == "extra":
        g = f[data.draw(st.sampled_from(groups))]
        g.create_dataset(_free(g, "extra"), data=np.ones(3))
    elif how == "loop":  # hard links back to an ancestor, twice (an exponential walk if followed)
        g = f[data.draw(st.sampled_from(groups))]
        g[_free(g, "loop_a")] = f["node"]
        g[_free(g, "loop_b")] = f["node"]
    elif how == "input_shape":
        inputs = [g for g in groups if "shape" in f[g]]
        if inputs:
            shape = data.draw(st.sampled_from([[10**12], [0], [-3], [1, 10**9, 10**9], [2**28 + 1], [1, 1, 1]]))
            _replace(f, data.draw(st.sampled_from(inputs)) + "/shape", data=np.array(shape))
    else:
        node = data.draw(st.sampled_from(groups))
        del f[node]
        f.create_dataset(node, data=np.ones(2))


@pytest.mark.timeout(120 + CAMPAIGN)
@given(seed=st.integers(0, N_SEEDS - 1), data=st.data())
@settings(FUZZ)
def test_structure_mutations(seeds, work, seed, data):
    path = work / "struct.nir"
    shutil.copyfile(seeds[seed], path)
    with h5py.File(path, "a") as f:
        for _ in range(data.draw(st.integers(1, 3))):
            mutate = data.draw(st.sampled_from([_edge_mutation, _dataset_mutation, _structure_mutation]))
            mutate(f, data)
    load_only_our_errors(path)


@pytest.mark.parametrize("shape", [(10**12,), (2**28 + 1,), (1, 10**9, 10**9)])
def test_huge_declared_input_refused_without_allocating(tmp_path, shape):
    path = tmp_path / "huge.nir"
    shutil.copyfile(REAL_SEEDS[0], path)
    with h5py.File(path, "a") as f:
        _replace(f, "node/nodes/input/shape", data=np.array(shape))
    tracemalloc.start()
    with pytest.raises(NeuroDeployError, match="above the limit") as e:
        ir.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20 and e.value.where == "input"
