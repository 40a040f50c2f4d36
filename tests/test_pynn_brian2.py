"""neurodeploy.pynn (reference) vs PyNN 0.13 on Brian2 running the same scripts
(tests/pynn_scenarios.py, examples/hippocampal_cam/cam.py) through tests/peers/pynn_brian2.py in
.venv-brian2. Tolerances: weights and voltages 1e-9 (both are exact discretisations of the same
linear ODEs and the same pair rule; only float rounding differs); spikes and recalled bits equal."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neurodeploy.pynn as sim
import pynn_scenarios
from conftest import require_brian2

REPO = Path(__file__).resolve().parents[1]
CAM = REPO / "examples" / "hippocampal_cam"
TOL = 1e-9


def brian2(tmp_path, script, function, **kw):
    """FUNCTION(pyNN.brian2 with the dialect, **kw) run by the Brian2 interpreter (conftest.require_brian2)."""
    python = require_brian2()
    args, dst = tmp_path / "args.json", tmp_path / "out.npz"
    args.write_text(json.dumps(kw))
    proc = subprocess.run([str(python), str(REPO / "tests" / "peers" / "pynn_brian2.py"),
                           str(script), function, str(args), str(dst)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(np.load(dst))


@pytest.fixture(autouse=True)
def fresh():
    yield
    sim.state.end()


@pytest.mark.slow
def test_stdp_weight_trajectory_matches_pynn_brian2(tmp_path):
    kw = {"pre_times": [[2, 9, 15, 21], [5, 12, 18]], "post_times": [[4, 10, 20], [7, 13, 22]]}
    peer = brian2(tmp_path, REPO / "tests" / "pynn_scenarios.py", "stdp_trajectory", **kw)
    ours = pynn_scenarios.stdp_trajectory(sim, **kw)
    np.testing.assert_array_equal(ours["post_spikes"], peer["post_spikes"])
    assert np.ptp(peer["w"]) > 0.02  # the weights did move
    np.testing.assert_allclose(ours["w"], peer["w"], rtol=0, atol=TOL)


@pytest.mark.slow
def test_cell_responses_match_pynn_brian2(tmp_path):
    peer = brian2(tmp_path, REPO / "tests" / "pynn_scenarios.py", "responses")
    ours = pynn_scenarios.responses(sim)
    np.testing.assert_array_equal(ours["spikes"], peer["spikes"])
    # Brian2's monitor samples v before each step's update, ours after: one sample apart; at a
    # spike step ours keeps the crossing value (the reference's next_step_hold), Brian2 the reset
    assert ours["spikes"].any()
    keep = ~ours["spikes"]
    np.testing.assert_allclose(ours["v"][keep], peer["v"][1:][keep], rtol=0, atol=TOL)


class _Axonal:
    """neurodeploy.pynn with axonal STDP delays by default: the only kind pyNN.brian2 runs."""

    def __getattr__(self, name):
        return getattr(sim, name)

    @staticmethod
    def STDPMechanism(*args, **kw):
        kw.setdefault("dendritic_delay_fraction", 0)
        return sim.STDPMechanism(*args, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["basic", "stress"])  # grid: run by hand (50 s more, same code path)
def test_cam_protocols_match_pynn_brian2(tmp_path, protocol):
    sys.path.insert(0, str(CAM))
    import cam
    peer = brian2(tmp_path, CAM / "cam.py", "run_named", protocol=protocol)
    ours = cam.run_named(_Axonal(), protocol)
    for layer in cam.LAYERS:
        np.testing.assert_array_equal(ours[layer], peer[layer], err_msg=layer)
    np.testing.assert_array_equal(ours["recalled"], peer["recalled"])
    np.testing.assert_allclose(ours["cue_cont"], peer["cue_cont"], rtol=0, atol=TOL)
    np.testing.assert_allclose(ours["cont_cue"], peer["cont_cue"], rtol=0, atol=TOL)
