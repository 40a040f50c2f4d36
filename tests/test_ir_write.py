"""write(): lossless for everything read, readable by stock nir, atomic."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.errors import InvalidModel

REAL = ("lif/lif_norse.nir", "cnn/cnn_sinabs.nir", "rnn/braille_noDelay_bias_zero.nir")


def assert_same_graph(a: nir.NIRGraph, b: nir.NIRGraph):
    assert set(a.nodes) == set(b.nodes) and sorted(a.edges) == sorted(b.edges)
    assert a.metadata.keys() == b.metadata.keys()
    for name, node in a.nodes.items():
        if isinstance(node, nir.NIRGraph):
            assert_same_graph(node, b.nodes[name])
            continue
        x, y = node.to_dict(), b.nodes[name].to_dict()
        assert x.keys() == y.keys(), name
        for k in x:
            if isinstance(x[k], np.ndarray):
                assert np.array_equal(x[k], y[k]) and x[k].dtype == y[k].dtype, (name, k)
            elif k != "metadata":
                assert np.array_equal(x[k], y[k]), (name, k)


@pytest.mark.parametrize("f", REAL)
def test_real_files_round_trip_and_stay_stock_readable(tmp_path, realdata, f):
    g = ir.read(realdata / f)
    ir.write(tmp_path / "a.nir", g)
    assert_same_graph(g, ir.read(tmp_path / "a.nir"))
    ir.write(tmp_path / "b.nir", ir.read(tmp_path / "a.nir"))
    assert (tmp_path / "a.nir").read_bytes() == (tmp_path / "b.nir").read_bytes()
    stock = nir.read(tmp_path / "a.nir")  # with NIR's own type check on
    orig = nir.read(realdata / f)
    for name, node in orig.nodes.items():
        for k, v in node.to_dict().items():
            if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                assert np.array_equal(v, stock.nodes[name].to_dict()[k]), (name, k)


def test_nested_graph_and_metadata_round_trip(tmp_path):
    h = 4
    sub = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([h])}),
        "lif": nir.CubaLIF(tau_syn=np.full(h, 2e-4), tau_mem=np.full(h, 1e-3), r=np.full(h, 10.0),
                           v_leak=np.zeros(h), v_threshold=np.ones(h), v_reset=np.zeros(h),
                           w_in=np.full(h, 2.2), metadata={"note": "recurrent", "beta": 0.9}),
        "w_rec": nir.Linear(weight=np.eye(h, dtype=np.float32)),
        "output": nir.Output(output_type={"output": np.array([h])})},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        metadata={"kind": "rnn"}, type_check=False)
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([h])}), "rnn": sub,
                            "out": nir.Output(output_type={"output": np.array([h])})},
                     edges=[("in", "rnn"), ("rnn", "out")], metadata={"dt": 1e-4, "exporter": "test"},
                     type_check=False)
    ir.write(tmp_path / "n.nir", g)
    back = ir.read(tmp_path / "n.nir")
    assert isinstance(back.nodes["rnn"], nir.NIRGraph)
    assert_same_graph(g, back)
    assert back.metadata["exporter"] == "test" and float(back.metadata["dt"]) == 1e-4
    assert back.nodes["rnn"].nodes["lif"].metadata["note"] == "recurrent"
    assert set(nir.read(tmp_path / "n.nir").nodes) == {"in", "rnn", "out"}


def test_normalized_graph_writes_flat(tmp_path, realdata):
    g = ir.load(realdata / "rnn" / "braille_noDelay_bias_zero.nir")
    ir.write(tmp_path / "flat.nir", g)
    back = ir.load(tmp_path / "flat.nir")
    assert back.delayed == g.delayed and back.order == g.order and back.out_shape == g.out_shape
    assert back.metadata["repairs"] == []  # v_reset was made explicit by the first load


def test_repaired_sloppy_graph_writes_repaired(tmp_path):
    conv = nir.Conv2d(input_shape=None, weight=np.ones((2, 1, 3, 3), np.float32), stride=1, padding=1,
                      dilation=1, groups=1, bias=np.zeros(2, np.float32))
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([1, 5, 5])}), "c": conv},
                     edges=[("in", "c")], type_check=False)
    ir.write(tmp_path / "open.nir", g)  # input_shape None is simply not stored (nir.write fails here)
    back, repairs = ir.read(tmp_path / "open.nir", report=True)
    assert back.nodes["c"].input_shape == (5, 5) and any("inferred input_shape" in r for r in repairs)
    ir.write(tmp_path / "closed.nir", back)
    assert ir.read(tmp_path / "closed.nir", report=True)[1] == []


def test_failed_write_leaves_nothing(tmp_path, realdata):
    g = ir.read(realdata / "lif" / "lif_norse.nir")
    g.nodes["1"].metadata["bad"] = object()
    target = tmp_path / "m.nir"
    with pytest.raises(InvalidModel, match="cannot store field 'bad'") as e:
        ir.write(target, g)
    assert e.value.where == "1"
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"previous")
    with pytest.raises(InvalidModel):
        ir.write(target, g)
    assert target.read_bytes() == b"previous" and len(list(tmp_path.iterdir())) == 1


def test_dotted_subgraph_edges_survive_the_file(tmp_path):
    lif = nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3),
                  v_reset=np.zeros(3))
    sub = nir.NIRGraph(nodes={"lif": lif, "w_rec": nir.Linear(weight=np.eye(3))},
                       edges=[("lif", "w_rec"), ("w_rec", "lif")], type_check=False)
    g = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([3])}), "rec": sub,
                            "out": nir.Output(output_type={"output": np.array([3])})},
                     edges=[("in", "rec.lif"), ("rec.lif", "out")], type_check=False)
    ir.write(tmp_path / "dotted.nir", g)
    back = ir.read(tmp_path / "dotted.nir")
    assert back.edges == g.edges
    n = ir.load(tmp_path / "dotted.nir")
    assert n.delayed == {("rec.w_rec", "rec.lif")} and n.out_shape["rec.lif"] == (3,)


def test_unstorable_node_names_refused(tmp_path, realdata):
    g = ir.read(realdata / "lif" / "lif_norse.nir")
    g.nodes["a/b"] = g.nodes.pop("1")
    g.edges = [tuple("a/b" if n == "1" else n for n in e) for e in g.edges]
    with pytest.raises(InvalidModel, match="cannot be stored") as e:
        ir.write(tmp_path / "x.nir", g)
    assert e.value.where == "a/b" and list(tmp_path.iterdir()) == []
