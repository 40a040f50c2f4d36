"""Error printing (issue 10, probe "418 bad CLI inputs": `[/x]` in any name crashed the error printer
(rich markup); a newline in a node name forged an `error:` line) and the top-level catch: an
unexpected exception prints "internal error", a reproducer path, exit 1."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurodeploy import cli
from neurodeploy.cli import main

FORGED = "lif1\nerror: forged line"


@pytest.fixture
def braille(realdata):
    return str(realdata / "rnn" / "braille_noDelay_bias_zero.nir")


@pytest.fixture
def x(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 12), np.float32))
    return str(tmp_path / "x.npy")


@pytest.mark.parametrize("name", ["[/x]", "[bold]x[/bold]", FORGED, "tab\there\x1b[31m"])
def test_a_user_supplied_name_is_printed_literally_on_one_line(braille, x, tmp_path, capsys, name):
    code = main(["simulate", braille, "--input", x, "--record", name, "--out", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert name.replace("\n", "\\n").replace("\t", "\\t").replace("\x1b", "\\x1b") in err
    assert "\nerror: forged" not in err


def test_a_node_name_with_a_newline_in_a_model_file_cannot_forge_a_line(tmp_path, capsys):
    with h5py.File(tmp_path / "m.nir", "w") as f:  # NIR 1.0 layout; the node's tau is NaN
        f["version"] = b"1.0.8"
        g = f.create_group("node")
        g["type"] = b"NIRGraph"
        g["edges"] = np.array([[b"in", FORGED.encode()], [FORGED.encode(), b"out"]])
        for name, typ in (("in", b"Input"), ("out", b"Output")):
            g.create_group(f"nodes/{name}")["type"] = typ
            g[f"nodes/{name}/shape"] = np.array([2])
        lif = g["nodes"].create_group(FORGED)
        lif["type"] = b"LIF"
        for k, v in (("tau", np.nan), ("r", 1.0), ("v_leak", 0.0), ("v_threshold", 1.0), ("v_reset", 0.0)):
            lif[k] = np.full(2, v)
    assert main(["inspect", str(tmp_path / "m.nir")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lif1\\nerror: forged line" in err


def test_markup_in_an_output_path_is_printed_not_parsed(braille, x, tmp_path, capsys):
    (tmp_path / "[").mkdir()
    out = tmp_path / "[" / "x].npz"  # the path's text contains `[/x]`
    assert main(["simulate", braille, "--input", x, "--out", str(out)]) == 0
    assert f"-> {out}" in capsys.readouterr().out and out.is_file()


def test_on_a_terminal_the_message_is_styled_but_still_literal(braille, x, tmp_path, monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["simulate", braille, "--input", x, "--record", "[/x]", "--out", str(tmp_path / "o.npz")]) == 2
    assert "[/x]" in tty.getvalue() and "error:" in tty.getvalue()


def test_argparse_errors_are_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["simulate"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--input" in err


def test_an_unexpected_exception_is_an_internal_error_with_a_reproducer(tmp_path, capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("boom\nerror: forged")
    monkeypatch.setattr(cli, "cmd_targets", broken)
    monkeypatch.setenv("NEURODEPLOY_CRASH_DIR", str(tmp_path))
    assert main(["targets"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("internal error: RuntimeError: boom\\nerror: forged") and err.count("\n") == 1
    report = Path(err.rstrip().split()[-1])
    assert report.parent == tmp_path
    text = report.read_text()
    assert "command: neurodeploy targets" in text and "Traceback" in text and "RuntimeError" in text


def test_the_installed_command_prints_no_traceback_on_stderr(tmp_path):
    """A fresh process with a pipe as stderr (not a terminal): one line, right exit code."""
    bad = tmp_path / "bad.nir"
    bad.write_text("not HDF5 [/x]")
    proc = subprocess.run([sys.executable, "-m", "neurodeploy", "inspect", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 3 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_run_on_a_missing_artifact_says_so(tmp_path, x, capsys):
    assert main(["run", str(tmp_path / "no" / "art"), "--input", x, "--out", str(tmp_path / "o.npz")]) == 2
    assert "is not an artifact" in capsys.readouterr().err
