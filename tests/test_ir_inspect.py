"""describe(): what `neurodeploy inspect` shows, with totals checked against the raw HDF5 file."""
from __future__ import annotations

import io

import h5py
import numpy as np
from rich.console import Console

from neurodeploy import cli, ir


def render(renderable) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(renderable)
    return buf.getvalue()


def raw_parameter_count(path) -> int:
    """Every float dataset (the parameters) of every non-port node, straight from h5py."""
    total = 0
    with h5py.File(path) as f:
        for node in f["node/nodes"].values():
            if node["type"][()] not in (b"Input", b"Output"):
                total += sum(ds.size for k, ds in node.items()
                             if isinstance(ds, h5py.Dataset) and ds.dtype.kind == "f")
    return total


def totals(text: str) -> dict[str, int]:
    out = {}
    for label in ("nodes", "edges", "neurons", "synapses", "parameters", "recurrent loops"):
        line = next(ln for ln in text.splitlines() if f" {label} " in ln and "│" in ln)
        out[label] = int(line.split("│")[2].strip().replace(",", ""))
    return out


def test_braille_description(realdata):
    path = realdata / "rnn" / "braille_noDelay_bias_zero.nir"
    text = render(ir.describe(ir.load(path)))
    assert "lif1.lif -> lif1.w_rec -> lif1.lif" in text
    assert "delayed (previous step)" in text
    assert "lif1.lif: legacy file without v_reset, set to 0" in text
    t = totals(text)
    assert t["nodes"] == 7 and t["edges"] == 7 and t["recurrent loops"] == 1
    assert t["neurons"] == 38 + 7
    assert t["synapses"] == 12 * 38 + 38 * 38 + 38 * 7
    assert t["parameters"] == raw_parameter_count(path) + 38 + 7  # + the v_reset arrays added


def test_cnn_description(realdata):
    path = realdata / "cnn" / "cnn_sinabs.nir"
    text = render(ir.describe(ir.load(path)))
    assert "(2, 34, 34)" in text and "(8, 4, 4)" in text and "Recurrent loops" not in text
    t = totals(text)
    assert t["neurons"] == 16 * 16 * 16 * 2 + 8 * 8 * 8 + 256 + 10
    # conv connections: output elements x (Cin/groups) x kernel taps
    assert t["synapses"] == 16**3 * 2 * 25 + 16**3 * 16 * 9 + 8**3 * 16 * 9 + 256 * 128 + 10 * 256
    assert t["parameters"] == raw_parameter_count(path) + 16**3 * 2 + 8**3 + 256 + 10


def test_explicit_repairs_argument(realdata):
    g = ir.load(realdata / "lif" / "lif_norse.nir")
    assert "Repairs applied" not in render(ir.describe(g, repairs=[]))
    assert "custom note" in render(ir.describe(g, repairs=["custom note"]))


def test_cli_inspect_exit_codes(realdata, tmp_path, capsys):
    assert cli.main(["inspect", str(realdata / "lif" / "lif_norse.nir")]) == 0
    bad = tmp_path / "bad.nir"
    bad.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    assert cli.main(["inspect", str(bad)]) == 3
    assert "not an HDF5 file" in " ".join(capsys.readouterr().err.split())
