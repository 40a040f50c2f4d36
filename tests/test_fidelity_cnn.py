"""The issue-9 fidelity goal for the NIR paper's N-MNIST CNN (`cnn_sinabs.nir`, Sinabs IF at dt = 1) on
SpiNNaker 2, through `neurodeploy.fidelity.validate`, on 300 of scikit-learn's digits made into
N-MNIST-like event streams (`neurodeploy.data.saccades`, 28x28 digits on a 34x34 sensor, three
saccades of 10 steps).

Measured (2026-12-01): spike-exact against the reference with the chip's int8 weights in all five
layers; decision agreement with the float reference 92.8 % of the 279 samples with a clear
reference decision, below the 99 % goal. The gap is weight rounding alone (the chip equals the
rounded reference exactly): in this non-leaky IF network a moved spike propagates, and on these
digits, which the N-MNIST-trained network classifies poorly (35.7 % accuracy for reference and
chip alike), the output counts are close (19 output spikes per sample over 10 classes), so a
moved spike flips the argmax. Over samples whose reference winner leads by >= 2 spikes the agreement
is 95.3 %. docs/fidelity.md has the table.
"""
from __future__ import annotations

import pytest

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.data import saccades
from neurodeploy.fidelity import validate
from neurodeploy.semantics import Semantics

SAMPLES = 300


@pytest.fixture(scope="module")
def report(realdata, tmp_path_factory):
    x, y = saccades.digits(SAMPLES, **saccades.NMNIST)
    g = ir.load(realdata / "cnn" / "cnn_sinabs.nir", semantics=Semantics(dt=1.0))
    art = bk.compile(g, "spinnaker2", tmp_path_factory.mktemp("cnn") / "a",
                     options={"steps": str(x.shape[0]), "record": "all"})
    return validate(art.path, x, labels=y)


@pytest.mark.slow
def test_spike_exact_against_the_chips_own_weights_in_every_layer(report):
    assert [l.name for l in report.against_quantized.layers] == ["1", "3", "6", "10", "12"]
    for layer in report.against_quantized.layers:
        assert layer.spikes_target > 0
        assert layer.agreement == 1.0 and layer.first_divergence is None, layer.name


@pytest.mark.slow
def test_decision_agreement_with_the_float_reference_as_measured(report):
    f = report.against_float
    assert f.clear_samples > 250
    assert f.decision_agreement == pytest.approx(0.928, abs=0.005)  # measured; the goal is 0.99
    assert f.accuracy_target == pytest.approx(f.accuracy_reference, abs=0.02)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="int8 weight rounding moves spikes in this IF network: 92.8 % (docs/fidelity.md)")
def test_decision_agreement_goal(report):
    assert report.against_float.decision_agreement >= 0.99
