"""The NIR paper's LIF neuron, compiled with the published SpiNNaker 2 flow, against the chip's own trace.

Published flow (neuromorphs/NIR paper/01_lif/lif_spinnaker2.py): weights, bias and threshold x 102.02,
dt = 1e-4, reset to zero, forward Euler, conn_delay 0. The CSV holds the chip voltage / 102.02 and the
chip's output after dropping its first tick (the chip lags one tick).
"""
from __future__ import annotations

import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.semantics import Semantics

SCALE = 102.02


@pytest.fixture(scope="module")
def chip_run(realdata, lif_csv, tmp_path_factory):
    graph = ir.load(realdata / "lif" / "lif_norse.nir", semantics=Semantics(dt=1e-4, reset="zero", integrator="euler"))
    out = tmp_path_factory.mktemp("s2") / "lif"
    bk.compile(graph, "spinnaker2", out, options={"weight_scale": str(SCALE), "steps": "1000"})
    x, v, s = lif_csv("spinnaker2")
    return bk.run(out, x.reshape(-1, 1), record=["output"]), v, s


def test_same_four_spike_steps_as_the_chip(chip_run):
    res, _, s_chip = chip_run
    ours = np.flatnonzero(res.spikes["output"][:, 0, 0])
    assert ours.tolist() == np.flatnonzero(s_chip).tolist()
    assert len(ours) == 4


def test_voltage_within_a_thousandth_relative_of_the_chip(chip_run):
    res, v_chip, _ = chip_run
    ours = res.extra["v_chip"]["output"][:, 0, 0] / SCALE
    np.testing.assert_allclose(ours, v_chip, rtol=1e-3, atol=0)


def test_voltage_in_nir_units(chip_run):
    # NIR units: the chip's v_scale is SCALE * tau/dt = SCALE * 25, so the CSV (v_chip / SCALE) is 25 x NIR v
    res, v_chip, _ = chip_run
    np.testing.assert_allclose(res.v["output"][:, 0, 0] * 25.0, v_chip, rtol=1e-3, atol=1e-9)
