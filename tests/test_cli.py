"""The CLI contract: commands, outputs and exit codes (0 ok, 2 usage, 3 invalid model, 4 no fit, 5 target)."""
from __future__ import annotations

import numpy as np
import pytest

from neurodeploy.cli import main


@pytest.fixture
def braille(realdata):
    return str(realdata / "rnn" / "braille_noDelay_bias_zero.nir")


def test_inspect_real_recurrent_graph(braille, capsys):
    assert main(["inspect", braille]) == 0
    text = capsys.readouterr().out
    assert "lif1.w_rec" in text and "CubaLIF" in text and "delayed" in text


def test_inspect_not_hdf5_is_invalid_model(tmp_path, capsys):
    bad = tmp_path / "bad.nir"
    bad.write_text("this is not HDF5")
    assert main(["inspect", str(bad)]) == 3
    assert "bad.nir" in capsys.readouterr().err


def test_unknown_target_is_usage_error(braille, tmp_path, capsys):
    assert main(["compile", braille, "--target", "nosuchchip", "-o", str(tmp_path / "a")]) == 2
    assert "known targets" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_bad_semantics_flag_is_usage_error(braille):
    with pytest.raises(SystemExit) as e:
        main(["inspect", braille, "--reset", "sideways"])
    assert e.value.code == 2


def test_simulate_writes_requested_records(braille, tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((50, 3, 12)) < 0.2).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    code = main(["simulate", braille, "--input", str(tmp_path / "x.npy"), "--record", "lif1.lif", "lif2",
                 "--out", str(out)])
    assert code == 0
    with np.load(out) as z:
        assert z["lif1.lif.spikes"].shape == (50, 3, 38)
        assert z["lif2.v"].shape == (50, 3, 7)


def test_simulate_wrong_input_shape_names_expected_shape(braille, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((10, 5), np.float32))
    assert main(["simulate", braille, "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "o.npz")]) == 2
    assert "12" in capsys.readouterr().err


def test_targets_lists_every_toml(capsys):
    assert main(["targets"]) == 0
    text = capsys.readouterr().out
    for name in ("spinnaker2", "loihi2"):
        assert name in text
