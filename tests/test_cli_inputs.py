"""Every CLI argument is checked before work starts, and input-driven memory is bounded (issue 10,
probes "418 bad CLI inputs: 64 tracebacks" and "a 20 KB .nir declaring a 2^26-wide input with scalar
parameters: inspect takes 2.76 GB and exits 0")."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from fake_artifact import make
from neurodeploy.cli import main

ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


@pytest.fixture
def braille(realdata):
    return str(realdata / "rnn" / "braille_noDelay_bias_zero.nir")


@pytest.fixture
def x(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, (np.random.default_rng(0).random((20, 12)) < 0.2).astype(np.float32))
    return str(path)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _simulate(braille, inp, tmp_path, *extra):
    return main(["simulate", braille, "--input", inp, "--out", str(tmp_path / "o.npz"), *extra])


@pytest.mark.parametrize("name, array, says", [
    ("x.npz", None, ".npy"),  # probe: `.npz` as --input
    ("c.npy", np.zeros((5, 12), np.complex64), "complex"),  # probe: complex input accepted silently
    ("s.npy", np.array([["a"] * 12] * 5), "dtype"),
    ("n.npy", np.full((5, 12), np.nan, np.float32), "NaN"),
    ("v.npy", np.zeros(12, np.float32), "shape"),
    ("e.npy", np.zeros((0, 12), np.float32), "shape"),
])
def test_bad_input_arrays_are_refused_with_exit_2(braille, tmp_path, capsys, name, array, says):
    path = tmp_path / name
    if array is None:
        np.savez(path, x=np.zeros((5, 12), np.float32))
    else:
        np.save(path, array)
    assert _simulate(braille, str(path), tmp_path) == 2
    assert says in _one_error_line(capsys) and not (tmp_path / "o.npz").exists()


def test_an_object_array_and_a_truncated_file_are_refused(braille, tmp_path, capsys):
    np.save(tmp_path / "o.npy", np.array([[{}] * 12] * 5, dtype=object), allow_pickle=True)
    assert _simulate(braille, str(tmp_path / "o.npy"), tmp_path) == 2
    assert "dtype object" in _one_error_line(capsys)
    np.save(tmp_path / "t.npy", np.zeros((50, 12)))
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:300])
    assert _simulate(braille, str(tmp_path / "t.npy"), tmp_path) == 2
    _one_error_line(capsys)


@pytest.mark.parametrize("steps", ["-1", "0", "1e9", "ten", "1000000001"])
def test_steps_must_be_a_positive_bounded_integer(braille, x, tmp_path, capsys, steps):
    """probe: `--steps -1` or `1e9`."""
    with pytest.raises(SystemExit) as e:
        _simulate(braille, x, tmp_path, "--steps", steps)
    assert e.value.code == 2
    assert "steps" in _one_error_line(capsys)


def test_a_billion_steps_is_refused_by_the_budget_before_allocating(braille, x, tmp_path, capsys):
    """probe: `--steps 1e9` asked for an 89 GiB allocation."""
    t0 = time.monotonic()
    assert _simulate(braille, x, tmp_path, "--steps", "1000000000") == 2
    assert "memory budget" in _one_error_line(capsys) and time.monotonic() - t0 < 10


def test_run_checks_steps_against_the_budget_before_running(x, tmp_path, capsys):
    make(tmp_path / "art")
    assert main(["run", str(tmp_path / "art"), "--input", x, "--steps", "1000000000", "--out",
                 str(tmp_path / "o.npz")]) == 2
    assert "memory budget" in _one_error_line(capsys)


def test_the_budget_is_an_option_and_an_environment_variable(braille, x, tmp_path, capsys, monkeypatch):
    assert _simulate(braille, x, tmp_path, "--memory-budget", "1K") == 2
    assert "above the memory budget of 1.0 KiB" in _one_error_line(capsys)
    monkeypatch.setenv("NEURODEPLOY_MEMORY_BUDGET", "1K")
    assert _simulate(braille, x, tmp_path) == 2
    _one_error_line(capsys)
    assert _simulate(braille, x, tmp_path, "--memory-budget", "64M") == 0  # the flag wins
    with pytest.raises(SystemExit):
        _simulate(braille, x, tmp_path, "--memory-budget", "lots")
    assert "not a size" in _one_error_line(capsys)


@pytest.mark.parametrize("option", ["x=inf", "x=nan", "x=-inf", "x=1e999", "=3", "x", "a b=1"])
def test_backend_options_must_be_finite_key_value_pairs(braille, tmp_path, capsys, option):
    """probe: `-O x=inf` or `nan`."""
    assert main(["compile", braille, "--target", "spinnaker2", "-o", str(tmp_path / "a"), "-O", option]) == 2
    _one_error_line(capsys)
    assert not (tmp_path / "a").exists()


def test_an_option_given_twice_is_refused(braille, tmp_path, capsys):
    assert main(["compile", braille, "--target", "spinnaker2", "-o", str(tmp_path / "a"),
                 "-O", "seed=1", "-O", "seed=2"]) == 2
    assert "twice" in _one_error_line(capsys)


def test_labels_must_exist_and_be_integers(braille, x, tmp_path, capsys):
    """probe: a missing `--labels` file."""
    base = ["energy", braille, "--target", "spinnaker2", "--input", x, "-o", str(tmp_path / "e.md")]
    assert main([*base, "--labels", str(tmp_path / "missing.npy")]) == 2
    assert "missing.npy" in _one_error_line(capsys)
    np.save(tmp_path / "f.npy", np.array([0.5, 1.5]))
    assert main([*base, "--labels", str(tmp_path / "f.npy")]) == 2
    assert "integers" in _one_error_line(capsys)
    assert not (tmp_path / "e.md").exists()


WIDE = 2**26


def _wide_model(path) -> None:
    """A 20 KB .nir (written with h5py, NIR 1.0 layout): a 2^26-wide Input, a LIF whose five
    parameters are scalars (to be broadcast to 2^26 each: 2.5 GiB in float64), an Output."""
    with h5py.File(path, "w") as f:
        f["version"] = b"1.0.8"
        g = f.create_group("node")
        g["type"] = b"NIRGraph"
        g["edges"] = np.array([[b"in", b"lif"], [b"lif", b"out"]])
        nodes = g.create_group("nodes")
        for name, typ in (("in", b"Input"), ("out", b"Output")):
            nodes.create_group(name)["type"] = typ
            nodes[name]["shape"] = np.array([WIDE])
        lif = nodes.create_group("lif")
        lif["type"] = b"LIF"
        for k, v in (("tau", 0.01), ("r", 1.0), ("v_leak", 0.0), ("v_threshold", 1.0), ("v_reset", 0.0)):
            lif[k] = np.float64(v)


def test_inspect_of_a_huge_declared_width_stays_within_the_budget(tmp_path):
    _wide_model(tmp_path / "wide.nir")
    assert (tmp_path / "wide.nir").stat().st_size < 64_000
    # The peak of this process's own memory (VmHWM, reset by exec), not ru_maxrss: that one keeps the
    # forking pytest process's size across exec, so it grew with the suite run before this test.
    wrapper = ("import sys\nfrom neurodeploy.cli import main\ncode = main(sys.argv[1:])\n"
               "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
               "sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", wrapper, "inspect", str(tmp_path / "wide.nir")],
                          capture_output=True, text=True, env=ENV, timeout=120)
    peak_mib = int(proc.stdout.split()[-1]) / 1024
    assert proc.returncode == 2, proc.stderr
    assert "lif" in proc.stderr and "memory budget of 2.0 GiB" in proc.stderr and "2.5 GiB" in proc.stderr
    assert peak_mib < 512, peak_mib


@pytest.mark.parametrize("flag, value", [("--samples", "0"), ("--samples", "-3"), ("--samples", "1e3"),
                                         ("--seed", "-1"), ("--drift-time", "inf"), ("--drift-time", "nan"),
                                         ("--drift-time", "-1")])
def test_run_engine_flags_are_checked(x, tmp_path, capsys, flag, value):
    make(tmp_path / "art")
    with pytest.raises(SystemExit) as e:
        main(["run", str(tmp_path / "art"), "--input", x, "--out", str(tmp_path / "o.npz"), flag, value])
    assert e.value.code == 2
    _one_error_line(capsys)
