"""The SpiNNaker 2 artifact: byte-identical across compiles, checksummed, self-describing images,
a valid py-spinnaker2 script, and the --report table."""
from __future__ import annotations

import ast

import numpy as np
import pytest
from rich.console import Console

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.artifact import Artifact
from neurodeploy.errors import TargetError
from neurodeploy.semantics import Semantics


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
    assert any(k.endswith("/w") for k in arrays.files)


def test_report_has_per_pe_and_per_chip_tables(braille, tmp_path):
    art = bk.compile(braille, "spinnaker2", tmp_path / "a")
    con = Console(record=True, width=200)
    con.print(bk.get("spinnaker2").report(Artifact(art.path)))
    text = con.export_text()
    for col in ("neurons", "synapses", "SRAM bytes", "router entries", "cycles/tick", "chip(0,0)/qpe(1,1)/pe0"):
        assert col in text
