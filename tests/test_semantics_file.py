"""Semantics stored in the `.nir` file (docs/dialect.md, "Semantics metadata"): a model exported from
snnTorch loads and compiles with no flags, flags override field by field, old files get the
defaults, stock `nir.read` is unaffected, and bad metadata is refused naming the file."""
from __future__ import annotations

import json

import h5py
import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.cli import main
from neurodeploy.errors import InvalidModel, UnsupportedNode, UnsupportedSemantics, UsageError
from neurodeploy.frontends.snntorch import export
from neurodeploy.ir import dialect
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

GROUP = "node/metadata/neurodeploy_semantics"


def leaky_net(**kw):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.8, init_hidden=True, **kw))


@pytest.fixture
def exported(tmp_path):
    """snnTorch's default Leaky (reset by subtraction, reset_delay=True) exported at dt = 1 ms."""
    path = tmp_path / "leaky.nir"
    ir.write(path, export(leaky_net(), torch.zeros(1, 4), dt=1e-3).graph)
    return path


def origins(graph):
    return graph.metadata[ir.meta.ORIGIN]


def test_export_returns_graph_and_semantics():
    graph, sem = export(leaky_net(), torch.zeros(1, 4), dt=1e-3)
    assert isinstance(graph, nir.NIRGraph)
    assert sem == Semantics(dt=1e-3, reset="subtract", integrator="euler", reset_timing="next_step")
    assert ir.normalize(graph).semantics == sem  # the graph carries them


def test_round_trip_gives_the_exporters_semantics_with_no_flags(exported):
    g = ir.load(exported)
    # snnTorch Leaky's conventions (snntorch/_neurons/leaky.py): v' = beta v + x (euler), reset by
    # subtraction one step late
    assert g.semantics == Semantics(dt=1e-3, reset="subtract", integrator="euler", reset_timing="next_step")
    assert origins(g) == {"dt": "file", "reset": "file", "integrator": "file", "reset_timing": "file",
                          "refractory": "default", "synaptic_delay": "default"}
    with h5py.File(exported) as f:  # the layout docs/dialect.md describes
        assert sorted(f[GROUP]) == ["dt", "integrator", "reset", "reset_timing"]
        assert f[f"{GROUP}/dt"][()] == 1e-3 and f[f"{GROUP}/reset"][()] == b"subtract"


def test_flags_override_field_by_field(exported):
    g = ir.load(exported, overrides={"dt": 1e-4, "integrator": "exact", "reset": None})
    assert g.semantics == Semantics(dt=1e-4, reset="subtract", integrator="exact", reset_timing="next_step")
    assert origins(g)["dt"] == "flag" and origins(g)["integrator"] == "flag" and origins(g)["reset"] == "file"
    # an explicit Semantics replaces the file's entirely (an artifact's manifest does this)
    assert ir.load(exported, semantics=Semantics()).semantics == Semantics()


def test_inspect_shows_where_each_field_came_from(exported, capsys):
    assert main(["inspect", str(exported), "--dt", "0.002", "--refractory", "0.004"]) == 0
    text = capsys.readouterr().out
    table = text[text.index("Semantics"):]
    found = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 3 and cells[0] in ir.meta.NAMES:
            found[cells[0]] = (cells[1], cells[2])
    assert found == {"dt": ("0.002", "flag"), "reset": ("subtract", "file"), "integrator": ("euler", "file"),
                     "reset_timing": ("next_step", "file"), "refractory": ("0.004", "flag"),
                     "synaptic_delay": ("0.0", "default")}


def test_old_files_without_metadata_get_the_defaults(realdata):
    g = ir.load(realdata / "rnn" / "braille_noDelay_bias_zero.nir")
    assert g.semantics == Semantics()
    assert set(origins(g).values()) == {"default"}


def test_a_flag_that_breaks_a_file_field_names_both(tmp_path):
    path = tmp_path / "refr.nir"
    graph, _ = export(leaky_net(reset_mechanism="zero", reset_delay=False), torch.zeros(1, 4))
    graph.metadata[ir.meta.KEY]["refractory"] = 2e-4
    ir.write(path, graph)
    assert ir.load(path).semantics.refractory_steps == 2
    with pytest.raises(UsageError, match=r"refractory 0.0002 s is not a whole number of steps of dt 0.0003 s.*"
                                         r"dt from flag.*refractory from file"):
        ir.load(path, overrides={"dt": 3e-4})


def test_stock_nir_reads_a_stock_graph_with_semantics(exported):
    g = nir.read(exported)  # stock reader, with its type check: the metadata is plain NIR metadata
    assert isinstance(g.nodes["1"], nir.LIF)
    assert g.metadata["neurodeploy_semantics"]["reset"] == "subtract"
    assert g.metadata["neurodeploy_semantics"]["dt"] == 1e-3


def test_stock_nir_still_stops_at_a_dialect_file_with_semantics(tmp_path):
    graph, _ = export(leaky_net(), torch.zeros(1, 4), dt=1e-3)
    graph.nodes["ln"] = dialect.LayerNorm(weight=np.ones(3), bias=np.zeros(3))
    graph.edges = [e for e in graph.edges if e != ("1", "output")] + [("1", "ln"), ("ln", "output")]
    ir.write(tmp_path / "d.nir", graph)
    with pytest.raises(TypeError, match="this_file_uses_the_neurodeploy_dialect"):
        nir.read(tmp_path / "d.nir")
    assert ir.load(tmp_path / "d.nir").semantics.reset_timing == "next_step"


def test_a_normalized_graph_is_written_with_its_own_semantics(exported, tmp_path):
    g = ir.load(exported, overrides={"dt": 2e-3, "synaptic_delay": 4e-3})
    ir.write(tmp_path / "again.nir", g)
    back = ir.load(tmp_path / "again.nir")
    assert back.semantics == Semantics(dt=2e-3, reset="subtract", integrator="euler", reset_timing="next_step",
                                       synaptic_delay=4e-3)
    assert [n for n, o in origins(back).items() if o != "file"] == ["refractory"]  # at its default: not stored
    ir.write(tmp_path / "third.nir", back)  # what loading added is not stored
    assert (tmp_path / "again.nir").read_bytes() == (tmp_path / "third.nir").read_bytes()


def _edit(path, field, value):
    with h5py.File(path, "r+") as f:
        grp = f[GROUP]
        if field in grp:
            del grp[field]
        grp[field] = value


@pytest.mark.parametrize("field, value, error, message", [
    ("dt", "0.001", InvalidModel, "dt must be a number of seconds, got str"),
    ("dt", np.array([1e-3, 2e-3]), InvalidModel, r"dt must be a number of seconds, got an array of float64 with shape \(2,\)"),
    ("dt", -1e-3, InvalidModel, "dt must be a positive number"),
    ("reset", "sideways", InvalidModel, "reset must be one of"),
    ("integrator", 3, InvalidModel, "integrator must be a string"),
    ("refractory", 1.5e-3, InvalidModel, "refractory 0.0015 s is not a whole number of steps"),
    ("tau_syn_exc", 5e-3, UnsupportedNode, "unknown field.*tau_syn_exc.*newer neurodeploy"),
])
def test_bad_metadata_is_refused_naming_the_file(exported, field, value, error, message, capsys):
    _edit(exported, field, value)
    with pytest.raises(error, match=message) as e:
        ir.load(exported)
    assert str(exported) in str(e.value)
    assert main(["inspect", str(exported)]) == 3
    assert str(exported) in capsys.readouterr().err


def test_metadata_that_is_not_a_group_is_refused(exported):
    with h5py.File(exported, "r+") as f:
        del f[GROUP]
        f[GROUP] = 1e-3
    with pytest.raises(InvalidModel, match=f"{exported}: metadata 'neurodeploy_semantics' must be a group"):
        ir.read(exported)


def test_writing_bad_metadata_is_refused_and_writes_nothing(tmp_path):
    graph, _ = export(leaky_net(), torch.zeros(1, 4))
    graph.metadata[ir.meta.KEY]["reset"] = "sideways"
    with pytest.raises(InvalidModel, match="reset must be one of"):
        ir.write(tmp_path / "bad.nir", graph)
    assert list(tmp_path.iterdir()) == []


def test_a_subgraph_with_other_semantics_is_refused():
    inner, _ = export(leaky_net(), torch.zeros(1, 4), dt=1e-3)
    outer = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "sub": inner, "output": nir.Output(np.array([3]))},
                         edges=[("input", "sub"), ("sub", "output")], metadata={}, type_check=False)
    with pytest.raises(UnsupportedNode, match="node 'sub' stores semantics that differ from the graph's"):
        ir.normalize(outer)
    outer.metadata = {ir.meta.KEY: dict(inner.metadata[ir.meta.KEY])}
    assert ir.normalize(outer).semantics.dt == 1e-3  # the same semantics twice are fine


def test_the_reference_refuses_fields_it_does_not_model(exported):
    g = ir.load(exported, overrides={"refractory": 1e-3})
    with pytest.raises(UnsupportedSemantics, match="the reference simulator does not model refractory"):
        simulate(g, np.zeros((5, 4)))


def test_an_exported_file_compiles_with_no_flags(tmp_path):
    """snnTorch Leaky with reset to zero and reset_delay=False (a convention SpiNNaker 2 realises)."""
    path = tmp_path / "zero.nir"
    ir.write(path, export(leaky_net(reset_mechanism="zero", reset_delay=False), torch.zeros(1, 4)).graph)
    assert main(["compile", str(path), "--target", "spinnaker2", "-o", str(tmp_path / "a")]) == 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["semantics"] == {"dt": 1e-4, "reset": "zero", "integrator": "euler", "reset_timing": "same_step"}
    # without the file's semantics (NIR's defaults: v_reset, exact) the same graph compiles differently
    bk.compile(ir.load(path, semantics=Semantics()), "spinnaker2", tmp_path / "b")
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["semantics"]["integrator"] == "exact"
