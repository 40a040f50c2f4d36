"""Reading the NIR paper's real files and refusing broken ones with a clear, located error."""
from __future__ import annotations

import h5py
import nir
import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy.errors import InvalidModel, UnsupportedNode


def test_lif_norse_loads(realdata):
    g = ir.load(realdata / "lif" / "lif_norse.nir")
    assert g.order == ["input", "0", "1", "output"]
    assert isinstance(g.nodes["1"], nir.LIF)
    assert float(g.nodes["1"].tau[0]) == pytest.approx(2.5e-3)
    assert float(g.nodes["1"].v_threshold[0]) == pytest.approx(0.1)
    assert g.in_shape["0"] == (1,) and g.out_shape["1"] == (1,)
    assert g.delayed == set()
    # paper file 0.1.1 predates v_reset: repaired to 0 and reported
    assert np.array_equal(g.nodes["1"].v_reset, [0.0])
    assert any("v_reset" in r for r in g.metadata["repairs"])


def test_cnn_sinabs_shapes_propagate(realdata):
    g = ir.load(realdata / "cnn" / "cnn_sinabs.nir")
    assert len(g.nodes) == 15 and len(g.edges) == 14
    expect = {  # independently: PyTorch conv formula floor((n + 2p - k) / s) + 1
        "input": (2, 34, 34), "0": (16, 16, 16), "2": (16, 16, 16), "4": (16, 8, 8), "5": (8, 8, 8),
        "7": (8, 4, 4), "8": (128,), "9": (256,), "11": (10,), "output": (10,)}
    for n, shape in expect.items():
        assert g.out_shape[n] == shape, n
    assert g.in_shape["0"] == (2, 34, 34) and g.in_shape["8"] == (8, 4, 4)
    assert [type(g.nodes[n]).__name__ for n in g.order[1:-1]] == [
        "Conv2d", "IF", "Conv2d", "IF", "SumPool2d", "Conv2d", "IF", "SumPool2d", "Flatten",
        "Affine", "IF", "Affine", "IF"]
    assert g.delayed == set()


def test_braille_recurrent_edge_detected(realdata):
    g = ir.load(realdata / "rnn" / "braille_noDelay_bias_zero.nir")
    assert set(g.nodes) == {"input", "fc1", "lif1.lif", "lif1.w_rec", "fc2", "lif2", "output"}
    assert len(g.edges) == 7
    assert g.delayed == {("lif1.w_rec", "lif1.lif")}
    assert isinstance(g.nodes["lif1.lif"], nir.CubaLIF)
    assert g.out_shape["lif1.lif"] == (38,) and g.in_shape["fc1"] == (12,) and g.out_shape["lif2"] == (7,)
    assert g.order.index("fc1") < g.order.index("lif1.lif") < g.order.index("lif1.w_rec")
    assert g.neurons() == ["lif1.lif", "lif2"]


def test_read_matches_stock_nir_on_real_files(realdata):
    for f in ("lif/lif_norse.nir", "cnn/cnn_sinabs.nir", "rnn/braille_noDelay_bias_zero.nir"):
        ours, stock = ir.read(realdata / f), nir.read(realdata / f)
        assert set(ours.nodes) == set(stock.nodes)
        assert sorted(ours.edges) == sorted(stock.edges)
        for name, node in stock.nodes.items():
            a, b = node.to_dict(), ours.nodes[name].to_dict()
            assert a.keys() == b.keys(), (f, name)
            for k in a:
                if isinstance(a[k], np.ndarray):  # same values; float parameters keep their dtype
                    assert np.array_equal(a[k], b[k]), (f, name, k)
                    if a[k].dtype.kind == "f":
                        assert a[k].dtype == b[k].dtype, (f, name, k)


def test_report_lists_repairs(realdata):
    _, repairs = ir.read(realdata / "cnn" / "cnn_sinabs.nir", report=True)
    assert sorted(r.split(":")[0] for r in repairs) == ["1", "10", "12", "3", "6"]


# --- files that cannot be repaired --------------------------------------------------------------

def _write(path, nodes: dict, edges: list, version="1.0.8"):
    """A minimal hand-written NIR HDF5 file (independent of the writer under test)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=version, dtype=h5py.string_dtype())
        g = f.create_group("node")
        g.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
        g.create_dataset("edges", data=np.array(edges, dtype=object).reshape(-1, 2), dtype=h5py.string_dtype())
        ng = g.create_group("nodes")
        for name, fields in nodes.items():
            ng_ = ng.create_group(name)
            for k, v in fields.items():
                if isinstance(v, str):
                    ng_.create_dataset(k, data=v, dtype=h5py.string_dtype())
                else:
                    ng_.create_dataset(k, data=v)
    return path


def _chain(w=np.ones((3, 2), np.float32), tau=np.full(3, 0.01), in_shape=(2,), out_shape=(3,)):
    nodes = {
        "in": {"type": "Input", "shape": np.array(in_shape)},
        "fc": {"type": "Affine", "weight": w, "bias": np.zeros(w.shape[0], np.float32)},
        "lif": {"type": "LIF", "tau": tau, "r": np.ones_like(tau), "v_leak": np.zeros_like(tau),
                "v_threshold": np.ones_like(tau), "v_reset": np.zeros_like(tau)},
        "out": {"type": "Output", "shape": np.array(out_shape)},
    }
    return nodes, [("in", "fc"), ("fc", "lif"), ("lif", "out")]


def test_hand_written_chain_loads(tmp_path):
    g = ir.load(_write(tmp_path / "ok.nir", *_chain()))
    assert g.order == ["in", "fc", "lif", "out"] and g.metadata["repairs"] == []


def test_scalar_params_broadcast_and_batch_leak_repaired(tmp_path):
    nodes, edges = _chain(tau=np.float64(0.01), in_shape=(1, 2), out_shape=(1, 3))
    g = ir.load(_write(tmp_path / "sloppy.nir", nodes, edges))
    assert g.in_shape["fc"] == (2,) and g.out_shape["in"] == (2,) and g.in_shape["out"] == (3,)
    assert g.nodes["lif"].tau.shape == (3,) and np.all(g.nodes["lif"].tau == 0.01)
    assert g.nodes["lif"].v_threshold.shape == (3,)
    text = " | ".join(g.metadata["repairs"])
    assert "in: dropped leaked batch dimension" in text and "out: dropped leaked batch dimension" in text
    assert "lif: broadcast scalar" in text


def test_mixed_scalar_and_vector_params_broadcast(tmp_path):
    nodes, edges = _chain()
    nodes["lif"]["v_threshold"] = np.float32(0.5)
    g = ir.load(_write(tmp_path / "mixed.nir", nodes, edges))
    assert g.nodes["lif"].v_threshold.shape == (3,) and g.nodes["lif"].v_threshold.dtype == np.float32


@pytest.mark.parametrize("mutate, where, words", [
    (lambda n, e: n["fc"].update(type="Bogus"), "fc", "unknown node type 'Bogus'"),
    (lambda n, e: n["fc"].update(type="neurodeploy.Quantum"), "fc", "unknown neurodeploy dialect"),
    (lambda n, e: e.append(("lif", "ghost")), "ghost", "dangling edge"),
    (lambda n, e: e.append(("fc", "lif")), "lif", "duplicate edge"),
    (lambda n, e: n["in"].update(shape=np.array([5])), "fc", "shape mismatch"),
    (lambda n, e: n["lif"].update(tau=np.array([0.01, np.nan, 0.01])), "lif", "NaN"),
    (lambda n, e: n["fc"].update(weight=np.full((3, 2), np.inf, np.float32)), "fc", "NaN or infinity"),
    (lambda n, e: n["fc"].pop("bias"), "fc", "missing field 'bias'"),
    (lambda n, e: n["fc"].update(weight="abc"), "fc", "must be numeric"),
    (lambda n, e: n["in"].update(shape=np.array([10**12])), "in", "above the limit"),
    (lambda n, e: n["lif"].update(r=np.ones(4)), "lif", "different shapes"),
])
def test_broken_files_name_the_node(tmp_path, mutate, where, words):
    nodes, edges = _chain()
    mutate(nodes, edges)
    with pytest.raises(InvalidModel) as e:
        ir.load(_write(tmp_path / "bad.nir", nodes, edges))
    assert words in str(e.value)
    assert e.value.where is not None and where in e.value.where


def test_unknown_type_is_unsupported_node(tmp_path):
    nodes, edges = _chain()
    nodes["fc"]["type"] = "MaxPool2d"
    with pytest.raises(UnsupportedNode, match="keep it on the host"):
        ir.read(_write(tmp_path / "bad.nir", nodes, edges))


def test_empty_graph(tmp_path):
    with pytest.raises(InvalidModel, match="empty graph"):
        ir.load(_write(tmp_path / "empty.nir", {}, []))


def test_not_hdf5_and_truncated(tmp_path, realdata):
    txt = tmp_path / "model.nir"
    txt.write_text("this is not a model")
    with pytest.raises(InvalidModel, match="not an HDF5 file") as e:
        ir.read(txt)
    assert str(txt) in str(e.value)
    data = (realdata / "cnn" / "cnn_sinabs.nir").read_bytes()
    cut = tmp_path / "cut.nir"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModel, match="truncated or corrupt"):
        ir.read(cut)
    with pytest.raises(InvalidModel, match="not found"):
        ir.read(tmp_path / "missing.nir")


def test_huge_declared_dataset_refused_before_reading(tmp_path):
    nodes, edges = _chain()
    path = _write(tmp_path / "huge.nir", nodes, edges)
    with h5py.File(path, "a") as f:  # declares 2**27 float64 (1 GiB) but stores nothing
        del f["node/nodes/fc/bias"]
        f["node/nodes/fc"].create_dataset("bias", shape=(2**27,), dtype="f8")
    with pytest.raises(InvalidModel, match="stores only"):
        ir.read(path)


def test_zero_stride_conv_refused(tmp_path, realdata):
    """Found by the fuzz test: nir's own Conv2d would divide by zero (OverflowError)."""
    path = tmp_path / "cnn.nir"
    path.write_bytes((realdata / "cnn" / "cnn_sinabs.nir").read_bytes())
    with h5py.File(path, "a") as f:
        del f["node/nodes/0/stride"]
        f["node/nodes/0"].create_dataset("stride", data=np.zeros(2, np.int8))
    with pytest.raises(InvalidModel, match="stride \\(0, 0\\) must be >= 1") as e:
        ir.read(path)
    assert e.value.where == "0"


def test_compression_bomb_refused_but_real_weights_pass(tmp_path):
    nodes, edges = _chain(w=np.ones((600, 2), np.float32), tau=np.full(600, 0.01), out_shape=(600,))
    path = _write(tmp_path / "w.nir", nodes, edges)
    with h5py.File(path, "a") as f:  # 600 x 600 random float32 recurrent weights, gzip: ratio ~1.1
        f["node/nodes"].create_group("rec").create_dataset("type", data="Linear", dtype=h5py.string_dtype())
        f["node/nodes/rec"].create_dataset("weight", data=np.random.default_rng(0).normal(
            size=(600, 600)).astype(np.float32), compression="gzip")
        del f["node/edges"]
        f["node"].create_dataset("edges", data=np.array(edges + [("lif", "rec"), ("rec", "lif")], dtype=object),
                                 dtype=h5py.string_dtype())
    assert ir.load(path).delayed == {("rec", "lif")}
    with h5py.File(path, "a") as f:  # 16 MiB of zeros stored in ~16 KiB
        del f["node/nodes/rec/weight"]
        f["node/nodes/rec"].create_dataset("weight", data=np.zeros((2048, 2048), np.float32), compression="gzip")
    with pytest.raises(InvalidModel, match="stores only") as e:
        ir.load(path)
    assert "rec/weight" in e.value.where
