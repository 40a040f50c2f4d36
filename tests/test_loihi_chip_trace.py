"""Ground truth: the NIR paper's single LIF neuron measured on a Loihi 2 chip (and in Lava's CPU model).

lif_norse.nir compiled with the paper's nir_to_lava fixed point (-O mapping=paper, forward Euler as
the paper used: dv = int(dt/tau * 4095)) must reproduce every one of the 1000 integer voltages and
the 4 spikes of lif_lava_loihi_fixed.csv on both engines. The chip's probe reads 128 at a spike
step (the voltage register counts the refractory period, lava-nc/lava#282), which the default
``v_probe=chip`` reports; with ``v_probe=state`` the same artifact gives Lava's CPU trace
(lif_lava_cpu_fixed.csv, v = 0 at spike steps) exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy.artifact import Artifact
from neurodeploy.ir import load
from neurodeploy.semantics import Semantics
from neurodeploy.backends.loihi import run_lava

from test_loihi_support import require_lava


@pytest.fixture(scope="module")
def artifacts(realdata, tmp_path_factory):
    g = load(realdata / "lif" / "lif_norse.nir", semantics=Semantics(integrator="euler"))
    out = tmp_path_factory.mktemp("chip")
    return {probe: bk.compile(g, "loihi2", out / probe, options={"mapping": "paper", "v_probe": probe})
            for probe in ("chip", "state")}


def _trace(result):
    return result.v["1"][:, 0, 0], result.spikes["1"][:, 0, 0]


def test_paper_fixed_point_parameters(artifacts):
    # the NIR paper notebook (paper/01_lif/lif_sim_lava.ipynb) printed: dv 163, du 4095, vthr 25, w [[10]]
    q = artifacts["chip"].manifest["loihi"]["quantization"]["1"]
    assert (q["dv"], q["du"], q["vth"]) == (163, 4095, 25)
    meta_w = np.load(artifacts["chip"].file("params.npz"))["s0_weights"]
    assert meta_w.tolist() == [[10]] and q["weights"]["input"]["weight_exp"] == 0


def test_sim_reproduces_loihi2_chip_trace(artifacts, lif_csv):
    x, v_chip, s_chip = lif_csv("lava_loihi_fixed")
    v, s = _trace(bk.run(artifacts["chip"].path, x[:, None], record=["1"]))
    assert s.sum() == 4 and np.array_equal(s, s_chip)
    assert np.array_equal(v, v_chip), np.flatnonzero(v != v_chip)


def test_sim_state_probe_reproduces_lava_cpu_trace(artifacts, lif_csv):
    x, v_cpu, s_cpu = lif_csv("lava_cpu_fixed")
    v, s = _trace(bk.run(artifacts["state"].path, x[:, None], record=["1"]))
    assert np.array_equal(s, s_cpu) and np.array_equal(v, v_cpu)


def test_lava_reproduces_loihi2_chip_and_cpu_traces(artifacts, lif_csv):
    require_lava()
    x, v_chip, s_chip = lif_csv("lava_loihi_fixed")
    _, v_cpu, _ = lif_csv("lava_cpu_fixed")
    chip, state = run_lava([(Artifact(artifacts[p].path), x[:, None], ["1"]) for p in ("chip", "state")])
    v, s = _trace(chip)
    assert s.sum() == 4 and np.array_equal(s, s_chip)
    assert np.array_equal(v, v_chip), np.flatnonzero(v != v_chip)
    assert np.array_equal(_trace(state)[0], v_cpu)
