"""The SpiNNaker 2 artifact: byte-identical across compiles, checksummed, self-describing images,
a valid py-spinnaker2 script, and the --report table."""
from __future__ import annotations

import ast

import nir
import numpy as np
import pytest
from rich.console import Console

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.artifact import Artifact
from neurodeploy.errors import TargetError
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate


@pytest.fixture(scope="module")
def braille(realdata):
    return ir.load(realdata / "rnn" / "braille_noDelay_bias_zero.nir", semantics=Semantics(reset="zero", integrator="euler"))


def test_two_compiles_are_byte_identical(braille, tmp_path):
    a = bk.compile(braille, "spinnaker2", tmp_path / "a")
    b = bk.compile(braille, "spinnaker2", tmp_path / "b")
    files = sorted(p.name for p in a.path.iterdir())
    assert files == sorted(p.name for p in b.path.iterdir())
    for name in files:
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes(), name


def test_images_carry_the_header_and_every_pe(braille, tmp_path):
    art = bk.compile(braille, "spinnaker2", tmp_path / "a")
    pes = art.npz("pes.npz")
    blob = np.fromfile(art.file("images.bin"), dtype="<u4")
    assert blob.size == pes["length"].sum()
    for off in pes["offset"]:
        assert blob[off] == 0xAD130AD6 and blob[off + 1] == 0x00010000


def test_changed_file_is_refused(braille, tmp_path):
    art = bk.compile(braille, "spinnaker2", tmp_path / "a")
    data = bytearray(art.file("images.bin").read_bytes())
    data[200] ^= 1
    art.file("images.bin").write_bytes(bytes(data))
    with pytest.raises(TargetError, match="checksum"):
        bk.run(tmp_path / "a", np.zeros((10, 12)))


def test_network_s2_script_is_python_naming_every_population_and_projection(braille, tmp_path):
    art = bk.compile(braille, "spinnaker2", tmp_path / "a")
    src = art.file("network_s2.py").read_text()
    tree = ast.parse(src)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    made = [c.func.attr for c in calls if isinstance(c.func.value, ast.Name) and c.func.value.id == "snn"]
    assert made.count("Population") == 3 and made.count("Projection") == 3
    for name in ("input", "lif1.lif", "lif2", "fc1", "fc2", "lif1.w_rec"):
        assert repr(name) in src or name.replace(".", "_") in src
    assert "hw.run(net" in src and "lif_curr_exp_no_delay" in src
    arrays = np.load(art.file("network_s2.npz"))
    assert any(k.endswith(("/w_dense", "/data")) for k in arrays.files)
    assert any(k.endswith("/v_scale") for k in arrays.files)


def test_report_has_per_pe_and_per_chip_tables(braille, tmp_path):
    art = bk.compile(braille, "spinnaker2", tmp_path / "a")
    con = Console(record=True, width=200)
    con.print(bk.get("spinnaker2").report(Artifact(art.path)))
    text = con.export_text()
    for col in ("neurons", "synapses", "SRAM bytes", "router entries", "cycles/tick", "chip(0,0)/qpe(1,1)/pe0"):
        assert col in text


def two_paths(seed=0) -> Graph:
    """in -> (A, B) -> lif: two dense projections from one source into one population (so synaptic
    rows mix two projections), integer weights so the chip must match the reference exactly."""
    rng = np.random.default_rng(seed)
    n_in, n = 300, 400
    w = [rng.integers(-3, 4, (n, n_in)).astype(np.float32) * (rng.random((n, n_in)) < 0.3) for _ in range(2)]
    nodes = {"in": nir.Input(input_type={"input": np.array([n_in])}),
             "A": nir.Linear(weight=w[0]), "B": nir.Linear(weight=w[1]),
             "lif": nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, 4.0)),
             "out": nir.Output(output_type={"output": np.array([n])})}
    edges = [("in", "A"), ("in", "B"), ("A", "lif"), ("B", "lif"), ("lif", "out")]
    shapes = {"in": (n_in,), "A": (n,), "B": (n,), "lif": (n,), "out": (n,)}
    return Graph(nodes, edges, dict(shapes, A=(n_in,), B=(n_in,)), shapes, semantics=Semantics(dt=1e-4))


@pytest.mark.parametrize("which", ["braille", "two_paths"])
def test_partition_cost_model_is_the_written_image(braille, tmp_path, which):
    """Partitioning counts SRAM without building synaptic rows; the images written later must take
    exactly that many words (plus the run-time state: neuron state and ring buffers)."""
    g = braille if which == "braille" else two_paths()
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"max_atoms_per_core": "37", "record": "all"})
    pe = art.manifest["spinnaker2"]["per_pe"]
    models = {p["name"]: p["model"] for p in art.json("runspec.json")["populations"]}
    state = {"spike_list": 0, "lif_no_delay": 1 + 8, "lif_curr_exp_no_delay": 3 + 8}  # + 8 ring-buffer words
    lengths = art.npz("pes.npz")["length"]
    for s, (pop, n) in enumerate(zip(pe["population"], pe["neurons"])):
        assert pe["sram_bytes"][s] // 4 == lengths[s] + n * state[models[pop]], (pop, s)


def test_two_projections_from_one_source_sum_exactly(tmp_path):
    g = two_paths()
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"weight_scale": "1", "steps": "30"})
    x = (np.random.default_rng(1).random((30, 4, 300)) < 0.1).astype(np.float32)
    chip, ref = bk.run(art.path, x), simulate(g, x)
    assert ref.spikes["out"].sum() > 0
    assert np.array_equal(chip.spikes["out"], ref.spikes["out"])
