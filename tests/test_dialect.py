"""The neurodeploy dialect: each node type round-trips; stock nir.read points to neurodeploy."""
from __future__ import annotations

import dataclasses

import h5py
import nir
import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.errors import InvalidModel, UnsupportedNode
from neurodeploy.ir import dialect

rng = np.random.default_rng(7)


def r(*shape):
    return rng.normal(size=shape).astype(np.float32)


def port(kind, n):
    return nir.Input(input_type={"input": np.array([n])}) if kind == "in" else \
        nir.Output(output_type={"output": np.array([n])})


def egru_graph():
    h, n = 4, 3
    cell = dialect.EGRU(W=r(3 * h, n), R=r(3 * h, h), b_W=r(3 * h), b_R=r(3 * h),
                        threshold=np.full(h, 0.01, np.float32), metadata={"source": "EvNN"})
    return {"in": port("in", n), "egru": cell, "out": port("out", h)}, [("in", "egru"), ("egru", "out")]


def spikegpt_block_graph():
    """x -> LN1 -> TimeMix -> LIF1 -(+x)-> LN2 -> ChannelMix -> LIF2 -(+)-> out (residuals as sums)."""
    d, a, f = 6, 6, 12
    spiking = dict(tau=np.full(d, 2.0), r=np.ones(d), v_leak=np.zeros(d), v_threshold=np.ones(d),
                   v_reset=np.zeros(d))
    nodes = {
        "tok": port("in", 1),
        "emb": dialect.Embedding(weight=r(10, d)),
        "ln1": dialect.LayerNorm(weight=r(d), bias=r(d), eps=1e-5),
        "att": dialect.RWKVTimeMix(mu_k=r(d), mu_v=r(d), mu_r=r(d), W_k=r(a, d), W_v=r(a, d),
                                   W_r=r(a, d), W_o=r(d, a), time_decay=r(a), time_first=r(a)),
        "lif1": nir.LIF(**spiking),
        "ln2": dialect.LayerNorm(weight=r(d), bias=r(d), eps=1e-6),
        "ffn": dialect.RWKVChannelMix(mu_k=r(d), mu_r=r(d), W_k=r(f, d), W_v=r(d, f), W_r=r(d, d)),
        "lif2": nir.LIF(**spiking),
        "out": port("out", d),
    }
    edges = [("tok", "emb"), ("emb", "ln1"), ("ln1", "att"), ("att", "lif1"), ("lif1", "ln2"),
             ("emb", "ln2"), ("ln2", "ffn"), ("ffn", "lif2"), ("lif2", "out"), ("lif1", "out"),
             ("emb", "out")]
    return nodes, edges


def two_point_graph():
    n = 5
    nodes = {"in": port("in", 3), "ctx_in": port("in", 2),
             "basal": nir.Affine(weight=r(n, 3), bias=r(n)), "apical": nir.Linear(weight=r(n, 2)),
             "cell": dialect.TwoPointCell(k1=np.full(n, 0.5), k2=np.ones(n), apical=("apical",)),
             "out": port("out", n)}
    edges = [("in", "basal"), ("ctx_in", "apical"), ("basal", "cell"), ("apical", "cell"), ("cell", "out")]
    return nodes, edges


def stdp_graph():
    w = np.zeros((4, 4), np.float32)
    lif = dict(tau=np.full(4, 3e-3), r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.ones(4),
               v_reset=np.zeros(4))
    nodes = {"in": port("in", 4), "w": nir.Linear(weight=w), "lif": nir.LIF(**lif),
             "stdp": dialect.STDP(weight="w", tau_plus=3e-3, tau_minus=3e-3, a_plus=6.0, a_minus=6.0,
                                  w_min=0.0, w_max=6.0),
             "out": port("out", 4)}
    return nodes, [("in", "w"), ("w", "lif"), ("lif", "out")]


BUILDERS = {"egru": egru_graph, "spikegpt": spikegpt_block_graph, "two_point": two_point_graph,
            "stdp": stdp_graph}


def build(name):
    nodes, edges = BUILDERS[name]()
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def same_node(a, b):
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        if f.name in ("input_type", "output_type"):
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y) and x.dtype == y.dtype, f.name
        elif f.name == "metadata":
            assert x.keys() == y.keys() and all(np.all(x[k] == y[k]) for k in x)
        else:
            assert x == y, f.name


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_round_trip(tmp_path, name):
    g = build(name)
    ir.write(tmp_path / "a.nir", g)
    back = ir.read(tmp_path / "a.nir")
    assert set(back.nodes) == set(g.nodes) and sorted(back.edges) == sorted(g.edges)
    for n in g.nodes:
        same_node(g.nodes[n], back.nodes[n])
    ir.write(tmp_path / "b.nir", back)
    assert (tmp_path / "a.nir").read_bytes() == (tmp_path / "b.nir").read_bytes()
    assert ir.load(tmp_path / "b.nir").metadata["repairs"] == []


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_stock_nir_read_points_to_neurodeploy(tmp_path, name):
    ir.write(tmp_path / "d.nir", build(name))
    with pytest.raises(Exception) as e:
        nir.read(tmp_path / "d.nir")
    assert "neurodeploy.ir.read" in str(e.value)


def test_stock_only_graph_has_no_sentinel(tmp_path, realdata):
    g = ir.read(realdata / "rnn" / "braille_noDelay_bias_zero.nir")
    ir.write(tmp_path / "s.nir", g)
    assert set(nir.read(tmp_path / "s.nir").nodes) == set(g.nodes)
    with h5py.File(tmp_path / "s.nir") as f:
        assert f["version"][()].decode() == nir.version


def test_normalized_shapes_and_flags():
    g = ir.normalize(build("spikegpt"))
    assert g.in_shape["emb"] == (1,) and g.out_shape["emb"] == (6,)
    assert g.out_shape["att"] == (6,) and g.out_shape["ffn"] == (6,)
    assert g.in_shape["ln2"] == (6,) and set(g.predecessors("ln2")) == {"lif1", "emb"}
    assert all(g.nodes[n].host for n in ("emb", "ln1", "att", "ln2", "ffn"))
    assert ir.normalize(build("egru")).neurons() == ["egru"]
    assert ir.normalize(build("two_point")).neurons() == ["cell"]
    st = ir.normalize(build("stdp"))
    assert st.in_shape["stdp"] == (4,) and st.nodes["stdp"].stateful and not st.nodes["stdp"].host


def test_newer_dialect_version_refused(tmp_path):
    ir.write(tmp_path / "v.nir", build("egru"))
    with h5py.File(tmp_path / "v.nir", "a") as f:
        ds = f["node/nodes/neurodeploy_dialect"]
        key = next(k for k in ds if k != "type")
        del ds[key]
        ds.create_dataset(key, data=dialect.VERSION + 1)
    with pytest.raises(UnsupportedNode, match="dialect version 2"):
        ir.read(tmp_path / "v.nir")


@pytest.mark.parametrize("make, words", [
    (lambda: dialect.EGRU(W=r(12, 3), R=r(12, 5), b_W=r(12), b_R=r(12), threshold=r(4)), "R must be"),
    (lambda: dialect.LayerNorm(weight=r(3), bias=r(4)), "bias must be (3,)"),
    (lambda: dialect.LayerNorm(weight=r(3), bias=r(3), eps=0.0), "eps must be a positive"),
    (lambda: dialect.STDP(weight="w", tau_plus=0.0, tau_minus=1.0, a_plus=1, a_minus=1, w_min=0, w_max=1),
     "positive"),
    (lambda: dialect.STDP(weight="w", tau_plus=1.0, tau_minus=1.0, a_plus=1, a_minus=1, w_min=2, w_max=1),
     "exceeds"),
    (lambda: dialect.TwoPointCell(k1=r(3), k2=r(3), apical=()), "apical must name"),
    (lambda: dialect.RWKVTimeMix(mu_k=r(4), mu_v=r(4), mu_r=r(4), W_k=r(2, 4), W_v=r(2, 4), W_r=r(2, 4),
                                 W_o=r(4, 3), time_decay=r(2), time_first=r(2)), "W_o must be"),
])
def test_bad_dialect_parameters(make, words):
    with pytest.raises(InvalidModel, match=words.replace("(", "\\(").replace(")", "\\)")):
        make()


def test_bad_dialect_field_in_file_names_node(tmp_path):
    ir.write(tmp_path / "e.nir", build("egru"))
    with h5py.File(tmp_path / "e.nir", "a") as f:
        del f["node/nodes/egru/R"]
        f["node/nodes/egru"].create_dataset("R", data=np.ones((5, 4), np.float32))
    with pytest.raises(InvalidModel, match="bad neurodeploy.EGRU node: R must be") as e:
        ir.read(tmp_path / "e.nir")
    assert e.value.where == "egru"
