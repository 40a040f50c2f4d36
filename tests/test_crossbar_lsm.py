"""examples/lsm building blocks: event streams, the branching estimator, NALSM's astrocyte-modulated STDP and the
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


def test_nalsm_astrocyte_two_steps_by_hand():
    # NALSM_ASTRO.py 144: A <- A + (w_astro (liquid - input spikes) + b - A) / tau, with b = A+ = 0.15,
    # w_astro = 0.015 per 1 ms step, tau = 100 ms, on a bound of 3.0; here 5 ms steps (w_astro / 5, tau 20 steps)
    a1 = liquid.astro_step(0.15, 30, 10, 3.0)        # target 0.003 * 20 + 0.15 = 0.21
    a2 = liquid.astro_step(a1, 0, 20, 3.0)           # target 0.003 * -20 + 0.15 = 0.09
    assert a1 == pytest.approx(0.15 + (0.21 - 0.15) / 20, rel=1e-12)
    assert a2 == pytest.approx(0.153 + (0.09 - 0.153) / 20, rel=1e-12)


def test_nalsm_stdp_depresses_an_anticausal_excitatory_pair_by_the_astrocyte_rate():
    # two excitatory neurons, 0 -> 1; input channel 1 fires neuron 1 at step 0, channel 0 fires neuron 0
    # at step 1: pre spike after post spike -> dw = -A_astro * a * m with the post trace a * m
    net = {"rec": np.array([[0.0, 0.0], [0.3, 0.0]]), "w_in": np.eye(2), "excitatory": np.array([True, True])}
    x = np.zeros((2, 1, 2))
    x[0, 0, 1] = x[1, 0, 0] = 1
    tuned = liquid.nalsm_tune(net, x)
    bound = 0.15 * 13.8 / 0.5                         # 3/20 thresholds x fan-in ratio (E->E fan-in 0.5 here)
    astro = 0.05 * bound                              # one liquid and one input spike at step 0: unchanged
    assert tuned["rec"][1, 0] == pytest.approx(bound - astro * 0.1 * np.exp(-5 / 10), rel=1e-12)
    assert np.allclose(tuned["w_in"], bound * np.eye(2))     # no input spike ever met a trace


def _spikes_per_step(net, x, steps):
    from neurodeploy.sim.reference import simulate

    return simulate(liquid.graph(net, x.shape[-1]), x, record=["liquid"]).spikes["liquid"][:steps].sum(-1).mean()


def test_nalsm_astrocyte_brings_liquid_activity_towards_input_activity():
    rng = np.random.default_rng(1)
    x = np.concatenate([(rng.random((20, 60, 40)) < 0.15), np.zeros((15, 60, 40))]).astype(np.float32)
    net = liquid.maass(40, seed=2)
    inp = x[:20].sum(-1).mean()
    start = _spikes_per_step(liquid.at_bound(net), x, 20)          # all weights at the bound: far above the input
    tuned = _spikes_per_step(liquid.nalsm_tune(net, x), x, 20)
    assert start > 2 * inp and inp < tuned < start - 0.25 * (start - inp)


def test_ridge_readout_equals_scikit_learn():
    lm = pytest.importorskip("sklearn.linear_model", reason="scikit-learn not installed (pip install scikit-learn)")
    rng = np.random.default_rng(3)
    S, y = rng.normal(size=(200, 30)), rng.integers(0, 10, 200)
    ours = readout.train(S, y)
    theirs = lm.Ridge(alpha=readout.RIDGE, fit_intercept=False).fit(S, np.eye(10)[y]).coef_.T
    assert np.allclose(ours, theirs, atol=1e-10)


def test_nalsm_branching_estimator_by_hand():
    # 0 -> 1, 0 -> 2, 1 -> 2 (rec is (post, pre)); window 1 step, buffer 1 step, 6 steps: spikes at
    # steps 1..4 count, ratios at steps 2 and 3 (compute_branching_factor.py 125-154)
    rec = np.zeros((3, 3))
    rec[1, 0] = rec[2, 0] = rec[2, 1] = 1.0
    s = np.zeros((6, 2, 3))
    # sample 0: neuron 0 at 2: no pre -> 0 clipped to 1, post 1 and 2 at 3 -> 2 / 1 = 2
    #           neuron 1 at 2: pre 0 at 1 -> 1, post 2 at 3 -> 1 / 1 = 1; at 3: pre 0 at 2, post 2 at 4: 0 / 1
    #           neuron 2 at 3: pre 0 and 1 at 2 -> 2, no post -> 0
    #           b = (2, (1 + 0) / 2, 0) -> 5/6; the spikes at steps 0 and 5 are in the buffer
    for t, i in ((0, 1), (1, 0), (2, 0), (2, 1), (3, 1), (3, 2), (5, 2)):
        s[t, 0, i] = 1
    # sample 1: neuron 0 at 2: post 1 at 3 -> 1; neuron 1 at 3: pre 0 at 2, no post at 4 -> 0; 2 silent
    s[2, 1, 0] = s[3, 1, 1] = 1
    assert liquid.branching_nalsm(s, rec, 6, window=1, buffer=1) == pytest.approx((5 / 6 + 1 / 2) / 2, rel=1e-12)


def test_nalsm_branching_estimator_is_one_on_a_ring_with_one_spike_circulating():
    # ring 0 -> 1 -> 2 -> 3 -> 0, one spike going round: each spike has one presynaptic spike
    # before it and one postsynaptic spike after it, for both window lengths
    rec = np.roll(np.eye(4), 1, axis=0)              # rec[i, i - 1] = 1
    s = np.zeros((20, 1, 4))
    s[np.arange(20), 0, np.arange(20) % 4] = 1
    for window in (1, 2):
        assert liquid.branching_nalsm(s, rec, 20, window=window, buffer=2) == 1.0
