"""examples/lsm building blocks: event streams, the branching estimator, NALSM-style tuning and the
ridge readout, each against an independent ground truth."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "lsm"))

import liquid  # noqa: E402
import readout  # noqa: E402
import saccades  # noqa: E402


def test_saccades_make_dvs_events_only_where_the_image_has_edges():
    img = np.zeros((8, 8))
    img[2:6, 2:6] = 16
    ev = saccades.events(np.stack([img, np.zeros((8, 8))]))
    assert ev.shape == (36, 2, 2, 10, 10) and set(np.unique(ev)) <= {0.0, 1.0}
    assert ev[:, 0].sum() > 0 and ev[:, 1].sum() == 0          # a blank image never fires
    assert ev[:, 0, :, 5, 5].sum() == 0                           # inside the uniform square: no change
    assert np.allclose(saccades.path()[-1], 0)                    # three saccades back to the start


def test_branching_estimator_recovers_a_galton_watson_process():
    rng = np.random.default_rng(0)
    for sigma in (0.6, 0.9):
        a = np.zeros((40, 400, 1))
        a[0] = 50
        for t in range(1, 40):
            a[t] = rng.poisson(sigma * a[t - 1])
        assert liquid.branching(a, 0) == pytest.approx(sigma, abs=0.02)


def test_nalsm_tuning_moves_the_liquid_towards_critical():
    from neurodeploy.sim.reference import simulate

    rng = np.random.default_rng(1)
    x = np.concatenate([(rng.random((20, 30, 40)) < 0.15), np.zeros((15, 30, 40))]).astype(np.float32)
    net = liquid.maass(40, seed=2, w_in=0.3)
    before = liquid.branching(simulate(liquid.graph(net, 40), x, record=["liquid"]).spikes["liquid"], 20)
    tuned = liquid.nalsm_tune(net, x)
    after = liquid.branching(simulate(liquid.graph(tuned, 40), x, record=["liquid"]).spikes["liquid"], 20)
    assert before < 0.9 and abs(after - 1) < abs(before - 1) / 2


def test_ridge_readout_equals_scikit_learn():
    lm = pytest.importorskip("sklearn.linear_model", reason="scikit-learn not installed (pip install scikit-learn)")
    rng = np.random.default_rng(3)
    S, y = rng.normal(size=(200, 30)), rng.integers(0, 10, 200)
    ours = readout.train(S, y)
    theirs = lm.Ridge(alpha=readout.RIDGE, fit_intercept=False).fit(S, np.eye(10)[y]).coef_.T
    assert np.allclose(ours, theirs, atol=1e-10)
