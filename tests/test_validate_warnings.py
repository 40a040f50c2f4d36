"""Implausible runs are said on stderr as warnings (exit 0), never silently: no output spikes at all,
a decay that rounds to no decay (float reference or target), τ far shorter than dt."""
from __future__ import annotations

import numpy as np

from contract.conftest import chain
from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.cli import main

T, B = 30, 2


def _events(shape, seed=0):
    return (np.random.default_rng(seed).random((T, B) + shape) < 0.3).astype(np.float32)


def _simulate(graph, tmp_path, capsys) -> str:
    ir.write(tmp_path / "m.nir", graph)
    np.save(tmp_path / "x.npy", _events(graph.out_shape[graph.inputs[0]]))
    assert main(["simulate", str(tmp_path / "m.nir"), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "o.npz")]) == 0
    return capsys.readouterr().err


def _with_tau(tau):
    g = chain((12, 20, 8))
    for n in ("n0", "n1"):
        g.nodes[n].tau = np.full(g.nodes[n].tau.shape, tau)
    return g


def test_a_plausible_run_warns_nothing(tmp_path, capsys):
    assert _simulate(chain((12, 20, 8)), tmp_path, capsys) == ""


def test_sinabs_cnn_at_the_default_dt_gives_no_spikes_and_says_why(realdata, tmp_path, capsys):
    """The NIR paper's CNN at dt = 1e-4 (the project default): each IF step adds 1e-4 of its input."""
    np.save(tmp_path / "x.npy", _events((2, 34, 34))[:10])
    assert main(["simulate", str(realdata / "cnn" / "cnn_sinabs.nir"), "--input", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "o.npz")]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: no output spikes at all") and "check --dt" in err


def test_tau_far_shorter_than_dt(tmp_path, capsys):
    g = _with_tau(1e-6)  # dt = 1e-4: exp(-100) of the state survives a step
    err = _simulate(g, tmp_path, capsys)
    assert "n0: tau = 1e-06 s is far shorter than dt = 0.0001 s" in err and "n1: tau" in err


def test_a_decay_that_rounds_to_one_in_float64(tmp_path, capsys):
    err = _simulate(_with_tau(1e14), tmp_path, capsys)  # exp(-1e-18) == 1.0 in float64
    assert "n0: its decay per step rounds to 1 (no decay)" in err


def test_a_decay_the_target_cannot_hold(tmp_path, capsys):
    """τ = 1e4 s at dt = 1e-4: the decay 1 - 1e-8 is 1 in SpiNNaker 2's float32 neuron parameters
    (Loihi refuses such a decay at compile time, naming it)."""
    a = bk.compile(_with_tau(1e4), "spinnaker2", tmp_path / "a", options={"steps": str(T)})
    np.save(tmp_path / "x.npy", _events((12,)))
    assert main(["run", str(a.path), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "o.npz")]) == 0
    err = capsys.readouterr().err
    assert "n0: its decay per step" in err and "rounds to no decay on spinnaker2" in err


def test_validate_warns_too(tmp_path, capsys):
    g = chain((12, 20, 8))
    for n in ("w0", "w1"):
        g.nodes[n].weight = -np.abs(g.nodes[n].weight)  # inhibitory only: nothing ever fires
    a = bk.compile(g, "spinnaker2", tmp_path / "a", options={"steps": str(T)})
    np.save(tmp_path / "x.npy", _events((12,)))
    assert main(["validate", str(a.path), "--input", str(tmp_path / "x.npy")]) == 0
    assert "warning: no output spikes at all" in capsys.readouterr().err
