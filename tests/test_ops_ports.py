"""Edge ports: stored as ``neurodeploy_ports`` in .nir files, old files (TwoPointCell ``apical``
field) still read, each port summed and shape-checked on its own, multi-port nodes simulated."""
from __future__ import annotations

import h5py
import nir
import numpy as np
import pytest

from neurodeploy import cli, ir
from neurodeploy.errors import InvalidModel
from neurodeploy.ir import dialect
from neurodeploy.sim.reference import simulate
from test_dialect import build, port, r


def test_ports_written_as_dataset_and_read_back(tmp_path):
    ir.write(tmp_path / "a.nir", build("two_point"))
    with h5py.File(tmp_path / "a.nir") as f:
        rows = f["node/neurodeploy_ports"][()].astype(str).tolist()
        assert rows == [["apical", "cell", "apical"]]
        assert "apical" not in f["node/nodes/cell"]  # the ports replace the old field
    back = ir.read(tmp_path / "a.nir")
    assert back.nodes["cell"].apical == ("apical",)
    g = ir.load(tmp_path / "a.nir")
    assert g.ports == {("apical", "cell"): "apical"}
    assert g.inputs_by_port("cell") == {"basal": ["basal"], "apical": ["apical"]}


def test_old_file_with_apical_field_reads_the_same(tmp_path):
    g = build("two_point")
    ir.write(tmp_path / "new.nir", g)
    ir.write(tmp_path / "old.nir", g)
    with h5py.File(tmp_path / "old.nir", "a") as f:  # the layout written before ports existed
        del f["node/neurodeploy_ports"]
        f["node/nodes/cell"].create_dataset("apical", data=np.array(["apical"], dtype=object),
                                            dtype=h5py.string_dtype())
    old, new = ir.load(tmp_path / "old.nir"), ir.load(tmp_path / "new.nir")
    assert old.ports == new.ports and old.nodes["cell"].apical == new.nodes["cell"].apical
    ir.write(tmp_path / "again.nir", ir.read(tmp_path / "old.nir"))  # written back in the new layout
    assert (tmp_path / "again.nir").read_bytes() == (tmp_path / "new.nir").read_bytes()


@pytest.mark.parametrize("rows, words", [
    ([["apical", "cell", "dendrite"]], "port 'dendrite' of edge"),
    ([["in", "basal", "apical"]], "not a port of that node"),
    ([["apical", "cell", "apical", "x"]], "must be an \\(N, 3\\) array"),
])
def test_bad_ports_dataset_is_refused(tmp_path, rows, words):
    ir.write(tmp_path / "p.nir", build("two_point"))
    with h5py.File(tmp_path / "p.nir", "a") as f:
        del f["node/neurodeploy_ports"]
        f["node"].create_dataset("neurodeploy_ports", data=np.array(rows, dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(InvalidModel, match=words):
        ir.read(tmp_path / "p.nir")


def test_ports_and_legacy_field_together_are_refused(tmp_path):
    ir.write(tmp_path / "p.nir", build("two_point"))
    with h5py.File(tmp_path / "p.nir", "a") as f:
        f["node/nodes/cell"].create_dataset("apical", data=np.array(["apical"], dtype=object),
                                            dtype=h5py.string_dtype())
    with pytest.raises(InvalidModel, match="also given by 'neurodeploy_ports'") as e:
        ir.read(tmp_path / "p.nir")
    assert e.value.where == "cell"


def test_apical_shape_checked_apart_from_basal():
    g = build("two_point")
    g.nodes["apical"] = nir.Linear(weight=r(4, 2))  # the cell has 5 units
    with pytest.raises(InvalidModel, match="'apical' delivers shape \\(4,\\) but this TwoPointCell node takes "
                                           "\\(5,\\) on port 'apical'") as e:
        ir.normalize(g)
    assert e.value.where == "cell"


def test_normalized_graph_with_ports_round_trips(tmp_path):
    g = ir.normalize(build("two_point"))
    ir.write(tmp_path / "g.nir", g)
    back = ir.load(tmp_path / "g.nir")
    assert back.ports == g.ports and sorted(back.edges) == sorted(g.edges)


def test_two_point_cell_sums_each_port_apart():
    """basal drive r and apical context c enter the transfer function separately
    (docs/dialect.md: A = r * (k1 + (1 - k1) * exp(k2 * r * c))), here with two edges per port."""
    n = 4
    k1, k2 = np.array([0.5, 0.2, 0.9, 0.5]), np.array([1.0, 0.5, 2.0, -1.0])
    wb1, wb2, wa1, wa2 = r(n, 3), r(n, 3), r(n, 2), r(n, 2)
    nodes = {"in": port("in", 3), "ctx": port("in", 2), "b1": nir.Linear(weight=wb1), "b2": nir.Linear(weight=wb2),
             "a1": nir.Linear(weight=wa1), "a2": nir.Linear(weight=wa2),
             "cell": dialect.TwoPointCell(k1=k1, k2=k2, apical=("a1", "a2")),
             "out": port("out", n)}
    edges = [("in", "b1"), ("in", "b2"), ("ctx", "a1"), ("ctx", "a2"), ("b1", "cell"), ("b2", "cell"),
             ("a1", "cell"), ("a2", "cell"), ("cell", "out")]
    g = ir.normalize(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    rng = np.random.default_rng(5)
    x, c_in = rng.normal(size=(7, 2, 3)), rng.normal(size=(7, 2, 2))
    res = simulate(g, {"in": x, "ctx": c_in}, record=["cell"])
    rr = x @ (wb1 + wb2).T.astype(float)
    cc = c_in @ (wa1 + wa2).T.astype(float)
    np.testing.assert_allclose(res.extra["outputs"]["cell"], rr * (k1 + (1 - k1) * np.exp(k2 * rr * cc)), rtol=1e-5)


def test_cli_simulate_writes_out_for_graded_outputs(tmp_path):
    ir.write(tmp_path / "egru.nir", build("egru"))
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(9, 3)))
    code = cli.main(["simulate", str(tmp_path / "egru.nir"), "--input", str(tmp_path / "x.npy"),
                     "--record", "egru", "out", "--out", str(tmp_path / "r.npz")])
    assert code == 0
    z = np.load(tmp_path / "r.npz")
    assert set(z.files) == {"egru.out", "egru.v", "out.spikes"}
    assert z["egru.out"].shape == z["egru.v"].shape == (9, 1, 4)
    np.testing.assert_array_equal(z["egru.out"], z["out.spikes"])  # Output passes the graded events on
