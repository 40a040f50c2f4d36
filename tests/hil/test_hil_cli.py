"""`neurodeploy hil info|run|replay` and `neurodeploy run --engine hil --port` against the emulator."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neurodeploy.cli import main
from neurodeploy.hil import commands as cmd

from hil_examples import examples  # noqa: F401 (fixture)


@pytest.mark.hil
def test_info_names_the_board_and_its_targets(hil_port, capsys):
    assert main(["hil", "info", "--port", hil_port]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["hello"]["protocol"] == "%d.%d" % cmd.PROTOCOL_VERSION
    assert {"spinnaker2", "loihi2"} <= set(shown["info"]["targets"])
    assert shown["info"]["limits"]["max_payload"] >= 64


def _load(path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.hil(target="loihi2")
def test_run_records_and_replays_the_exchange(examples, hil_port, tmp_path, capsys):
    d, x, sim = examples["loihi2"]
    np.save(tmp_path / "x.npy", x)
    rec, out = tmp_path / "link.jsonl", tmp_path / "out.npz"
    assert main(["hil", "run", str(d), "--port", hil_port, "--input", str(tmp_path / "x.npy"),
                 "--out", str(out), "--record", str(rec)]) == 0
    got = _load(out)
    for k, v in sim.spikes.items():
        assert np.array_equal(got[f"{k}.spikes"], v)
    assert main(["hil", "replay", str(rec)]) == 0  # a fresh emulator answers as recorded
    shown = capsys.readouterr().out
    assert "answers as recorded" in shown and "differs" not in shown
    assert f"{len(x)} output ticks compared" in shown

    lines = rec.read_text().splitlines()
    for i, line in enumerate(lines):  # damage one output tick in the recording
        e = json.loads(line)
        if e["dir"] == "rx" and e["name"] == "TICKS" and cmd.TICKS_REPLY.unpack_from(bytes.fromhex(e["payload"]), 1)[2]:
            p = bytearray.fromhex(e["payload"])
            p[-1] ^= 0x01
            e["payload"] = p.hex()
            lines[i] = json.dumps(e)
            break
    rec.write_text("\n".join(lines) + "\n")
    assert main(["hil", "replay", str(rec)]) == 2
    assert "differs output tick" in capsys.readouterr().out


@pytest.mark.hil(target="spinnaker2")
def test_core_run_with_engine_hil_and_port(examples, hil_port, tmp_path):
    d, x, sim = examples["spinnaker2"]
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(d), "--engine", "hil", "--port", hil_port, "--input", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "o.npz")]) == 0
    got = _load(tmp_path / "o.npz")
    for k, v in sim.spikes.items():
        assert np.array_equal(got[f"{k}.spikes"], v)


def test_engine_hil_without_a_port_says_what_to_pass(examples):
    from neurodeploy import backend as bk
    from neurodeploy.errors import UsageError

    d, x, _ = examples["loihi2"]
    with pytest.raises(UsageError, match="needs the board's serial port"):
        bk.run(d, x, engine="hil")


@pytest.mark.hil(target="loihi2")
def test_validate_on_the_board(examples, hil_port, tmp_path):
    d, x, _ = examples["loihi2"]
    np.save(tmp_path / "x.npy", x)
    assert main(["validate", str(d), "--engine", "hil", "--port", hil_port, "--input", str(tmp_path / "x.npy"),
                 "--format", "json", "-o", str(tmp_path / "fid.json")]) == 0
    rep = json.loads((tmp_path / "fid.json").read_text())
    assert rep["engine"] == "hil" and rep["target"] == "loihi2"
    layers = rep["against_quantized"]["layers"]  # the board runs the chip's own quantized model
    assert {layer["name"] for layer in layers} == {"n0", "n1"}
    assert all(layer["agreement"] == 1.0 and layer["first_divergence"] is None for layer in layers)
