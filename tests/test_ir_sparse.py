"""Sparse Affine/Linear weights through the whole flow: file round trip, stock-nir refusal, checks
on read, reference simulation and SpiNNaker 2 compilation equal to the dense twin's."""
from __future__ import annotations

import tracemalloc

import h5py
import nir
import numpy as np
import pytest
import scipy.sparse as sp

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.energy import neurobench as nb
from neurodeploy.errors import InvalidModel
from neurodeploy.ir import inspect as ir_inspect
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate


def lif(n: int) -> nir.LIF:
    return nir.LIF(tau=np.full(n, 2e-3), r=np.full(n, 20.0), v_leak=np.zeros(n), v_threshold=np.full(n, 0.5),
                   v_reset=np.zeros(n))


def lsm_weights(n: int, n_in: int, k: int, seed: int = 0):
    """Random local connectivity, each neuron k targets; weights are multiples of 1/64 so that any
    summation order gives the same float result (dense BLAS and CSR products agree exactly)."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n), k)
    tgt = (src + rng.integers(-5, 6, src.size)) % n
    w_rec = sp.coo_matrix((rng.integers(-32, 33, src.size) / 64, (tgt, src)), shape=(n, n))  # duplicates, zeros
    w_in = sp.coo_matrix((rng.integers(16, 65, n_in * k) / 64, (rng.integers(0, n, n_in * k),
                                                                 np.repeat(np.arange(n_in), k))), shape=(n, n_in))
    return w_in.astype(np.float32), w_rec.astype(np.float32)


def lsm_graph(w_in, w_rec) -> nir.NIRGraph:
    """Input -> w_in -> lsm (LIF) -> out, with lsm -> w_rec -> lsm (as bench/bench_spinnaker2.py's LSM)."""
    n, n_in = w_in.shape
    return nir.NIRGraph(nodes={
        "in": nir.Input(input_type={"input": np.array([n_in])}),
        "w_in": nir.Affine(weight=w_in, bias=np.zeros(n, np.float32)), "lsm": lif(n),
        "w_rec": nir.Linear(weight=w_rec), "out": nir.Output(output_type={"output": np.array([n])})},
        edges=[("in", "w_in"), ("w_in", "lsm"), ("lsm", "w_rec"), ("w_rec", "lsm"), ("lsm", "out")],
        type_check=False)


def twins(n=120, n_in=12, k=8):
    w_in, w_rec = lsm_weights(n, n_in, k)
    dense = lsm_graph(w_in.toarray(), w_rec.toarray())
    return lsm_graph(w_in, w_rec), dense


SEM = Semantics(dt=1e-4, reset="zero", integrator="euler")


def test_round_trip_is_canonical_csr_and_byte_identical(tmp_path):
    sparse, dense = twins()
    ir.write(tmp_path / "a.nir", sparse)
    g = ir.read(tmp_path / "a.nir")
    for name in ("w_in", "w_rec"):
        w = g.nodes[name].weight
        assert isinstance(w, sp.csr_array) and w.dtype == np.float32
        np.testing.assert_array_equal(w.toarray(), dense.nodes[name].weight)  # scipy sums the duplicates
        assert w.has_canonical_format and np.all(w.data != 0)
    with h5py.File(tmp_path / "a.nir") as f:
        grp = f["node/nodes/w_rec/weight"]
        assert sorted(grp) == ["data", "format", "indices", "indptr", "shape"]
        assert grp["format"][()].decode() == "csr" and list(grp["shape"][()]) == [120, 120]
        assert grp["data"].size == np.count_nonzero(dense.nodes["w_rec"].weight)
    ir.write(tmp_path / "b.nir", g)
    assert (tmp_path / "a.nir").read_bytes() == (tmp_path / "b.nir").read_bytes()
    # the same matrix given as CSR or CSC (no duplicates left) is stored the same
    other = lsm_graph(sp.csc_matrix(sparse.nodes["w_in"].weight), sp.csr_matrix(sparse.nodes["w_rec"].weight))
    ir.write(tmp_path / "c.nir", other)
    assert (tmp_path / "a.nir").read_bytes() == (tmp_path / "c.nir").read_bytes()


def test_stock_nir_read_refuses_with_the_neurodeploy_message(tmp_path):
    sparse, _ = twins()
    ir.write(tmp_path / "s.nir", sparse)
    with pytest.raises(TypeError, match="this_file_uses_the_neurodeploy_dialect: read it with neurodeploy.ir.read"):
        nir.read(tmp_path / "s.nir")
    with h5py.File(tmp_path / "s.nir") as f:
        assert "+neurodeploy-dialect-" in f["version"][()].decode()


def _set(grp, key, value):
    del grp[key]
    grp.create_dataset(key, data=value)


BAD = {  # mutation of the stored w_rec weight group -> words of the error
    "index out of range": (lambda g: _set(g, "indices", np.where(g["indices"][()] == 0, 120, g["indices"][()])),
                           "column indices must lie in \\[0, 120\\)"),
    "negative index": (lambda g: _set(g, "indices", g["indices"][()] - 1), "column indices"),
    "indptr decreasing": (lambda g: _set(g, "indptr", g["indptr"][()][[0, 2, 1] + list(range(3, 121))]),
                          "never decrease"),
    "indptr too short": (lambda g: _set(g, "indptr", g["indptr"][()][:-1]), "needs 121"),
    "indptr end": (lambda g: _set(g, "indptr", np.r_[g["indptr"][()][:-1], g["indptr"][()][-1] - 1]),
                   "indptr ends at"),
    "NaN data": (lambda g: _set(g, "data", np.r_[np.nan, g["data"][()][1:]].astype(np.float32)), "NaN"),
    "inf data": (lambda g: _set(g, "data", np.r_[np.inf, g["data"][()][1:]].astype(np.float32)), "NaN or infinity"),
    "huge shape": (lambda g: _set(g, "shape", np.array([10**12, 10**12])), "sides between 1 and"),
    "huge columns": (lambda g: _set(g, "shape", np.array([120, 10**12])), "sides between 1 and"),
    "zero side": (lambda g: _set(g, "shape", np.array([120, 0])), "sides between 1 and"),
    "3-d shape": (lambda g: _set(g, "shape", np.array([120, 120, 1])), "shape must hold 2"),
    "csc format": (lambda g: _set(g, "format", "csc"), "format must be 'csr'"),
    "missing indptr": (lambda g: g.__delitem__("indptr"), "missing indptr"),
    "float indices": (lambda g: _set(g, "indices", g["indices"][()].astype(np.float64)), "integer array"),
    "2-d data": (lambda g: _set(g, "data", g["data"][()].reshape(1, -1)), "1-D numeric"),
    "short data": (lambda g: _set(g, "data", g["data"][()][:-1]), "data has"),
    "shape vs Linear": (lambda g: _set(g, "shape", np.array([121, 120])), "indptr has 121 entries"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_csr_is_refused_naming_the_node(tmp_path, case):
    mutate, words = BAD[case]
    ir.write(tmp_path / "m.nir", twins()[0])
    with h5py.File(tmp_path / "m.nir", "a") as f:
        mutate(f["node/nodes/w_rec/weight"])
    with pytest.raises(InvalidModel, match=words) as e:
        ir.read(tmp_path / "m.nir")
    assert e.value.where == "w_rec"


def test_huge_but_legal_sparse_shape_is_never_made_dense(tmp_path):
    """2^20 x 2^20 (10^12 cells, 8 TB dense) with 100 entries: write, read, normalize, inspect and the
    NeuroBench static metrics stay far below the dense size."""
    n = 2**20
    rng = np.random.default_rng(1)
    w = sp.csr_array((np.ones(100, np.float32), (rng.integers(0, n, 100), rng.integers(0, n, 100))), shape=(n, n))
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([n])}), "w": nir.Linear(weight=w),
                            "out": nir.Output(output_type={"output": np.array([n])})},
                     edges=[("in", "w"), ("w", "out")], type_check=False)
    tracemalloc.start()
    try:
        ir.write(tmp_path / "h.nir", g)
        graph = ir.load(tmp_path / "h.nir")
        syn = ir_inspect.synapse_count(graph, "w")
        sparsity = nb.connection_sparsity(graph)
        dense_ops = nb.dense_ops_per_step(graph)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # indptr + one fan-out vector are 4-8 MB each
    assert syn == w.count_nonzero() and dense_ops == float(n) * n
    assert sparsity == 1 - w.count_nonzero() / n**2


def test_sparse_in_the_wrong_place_or_nan_in_memory_is_refused(tmp_path):
    sparse, _ = twins()
    bad_bias = lsm_graph(sparse.nodes["w_in"].weight, sparse.nodes["w_rec"].weight)
    bad_bias.nodes["w_in"].bias = sp.csr_array(np.zeros((1, 120), np.float32))
    with pytest.raises(InvalidModel, match="only the weight of an Affine or Linear") as e:
        ir.write(tmp_path / "b.nir", bad_bias)
    assert e.value.where == "w_in" and not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(InvalidModel, match="only the weight") as e:
        ir.normalize(bad_bias)
    assert e.value.where == "w_in"
    w = sp.csr_array(sparse.nodes["w_rec"].weight)
    w.data[3] = np.nan
    with pytest.raises(InvalidModel, match="NaN") as e:
        ir.normalize(lsm_graph(sparse.nodes["w_in"].weight, w))
    assert e.value.where == "w_rec"


def test_sparse_graph_simulates_exactly_as_its_dense_twin(tmp_path):
    sparse, dense = twins()
    ir.write(tmp_path / "s.nir", sparse)
    gs, gd = ir.load(tmp_path / "s.nir", SEM), ir.normalize(dense, SEM)
    assert sp.issparse(gs.nodes["w_rec"].weight) and isinstance(gd.nodes["w_rec"].weight, np.ndarray)
    x = (np.random.default_rng(2).random((60, 3, 12)) < 0.3).astype(float)
    rs, rd = (simulate(g, x, record=["lsm", "out"]) for g in (gs, gd))
    assert rd.spikes["lsm"].sum() > 100  # the twins are compared on real activity
    np.testing.assert_array_equal(rs.spikes["lsm"], rd.spikes["lsm"])
    np.testing.assert_array_equal(rs.v["lsm"], rd.v["lsm"])
    assert rs.counters == rd.counters  # dense_synaptic_ops counts the implicit zeros as zero weights
    ms, md = nb.neurobench_metrics(gs, rs, x), nb.neurobench_metrics(gd, rd, x)
    for key in ("ConnectionSparsity", "dense_ops_per_step", "ActivationSparsity", "SynapticOperations"):
        assert ms[key] == md[key], key
    assert ir_inspect.synapse_count(gs, "w_rec") == np.count_nonzero(gd.nodes["w_rec"].weight)
    csr = gs.nodes["w_rec"].weight
    assert nb.footprint(gs)["synapses"] - nb.footprint(gd)["synapses"] == \
        (csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes + gs.nodes["w_in"].weight.data.nbytes
         + gs.nodes["w_in"].weight.indices.nbytes + gs.nodes["w_in"].weight.indptr.nbytes
         - gd.nodes["w_rec"].weight.nbytes - gd.nodes["w_in"].weight.nbytes)


def test_sparse_lsm_compiles_for_spinnaker2_like_its_dense_twin(tmp_path):
    sparse, dense = twins(n=400, n_in=20, k=10)
    ir.write(tmp_path / "s.nir", sparse)
    gs, gd = ir.load(tmp_path / "s.nir", SEM), ir.normalize(dense, SEM)
    a = bk.compile(gs, "spinnaker2-48chip", tmp_path / "a", options={"steps": "40"})
    b = bk.compile(gd, "spinnaker2-48chip", tmp_path / "b", options={"steps": "40"})
    files = sorted(p.name for p in a.path.iterdir())
    assert files == sorted(p.name for p in b.path.iterdir()) and "model.nir" in files
    for name in files:
        if name not in ("model.nir", "manifest.json"):
            assert (a.path / name).read_bytes() == (b.path / name).read_bytes(), name
    fa, fb = a.manifest["files"], b.manifest["files"]
    assert {k: v for k, v in fa.items() if k != "model.nir"} == {k: v for k, v in fb.items() if k != "model.nir"}
    # the artifact's model copy holds the sparse weights
    assert (ir.read(a.path / "model.nir").nodes["w_rec"].weight != gs.nodes["w_rec"].weight).nnz == 0
    x = (np.random.default_rng(3).random((40, 2, 20)) < 0.3).astype(float)
    ra, rb = bk.run(a.path, x, record=["lsm"]), bk.run(b.path, x, record=["lsm"])
    assert ra.spikes["lsm"].sum() > 0
    np.testing.assert_array_equal(ra.spikes["lsm"], rb.spikes["lsm"])
    assert ra.counters == rb.counters


def test_in_memory_graph_with_scipy_matrix_compiles(tmp_path):
    """What bench/bench_spinnaker2.py does: a Graph built by hand around csr_matrix weights goes through
    `backend.compile`, model copy included."""
    w_in, w_rec = lsm_weights(64, 8, 4)
    nodes = lsm_graph(w_in.tocsr(), w_rec.tocsr()).nodes
    shp = {n: (64,) for n in nodes}
    g = Graph(nodes, [("in", "w_in"), ("w_in", "lsm"), ("lsm", "w_rec"), ("w_rec", "lsm"), ("lsm", "out")],
              dict(shp, **{"in": (8,), "w_in": (8,)}), dict(shp, **{"in": (8,)}), semantics=SEM)
    a = bk.compile(g, "spinnaker2-48chip", tmp_path / "a", options={"steps": "10"})
    back = ir.load(a.path / "model.nir", SEM)
    np.testing.assert_array_equal(back.nodes["w_rec"].weight.toarray(), w_rec.toarray())
    assert back.in_shape == g.in_shape and back.out_shape == g.out_shape
