"""The NIR paper's N-MNIST CNN (Sinabs) on SpiNNaker 2: compiles, and the chip model's spikes against
the exact float reference on synthetic sparse event frames.

Inputs (the N-MNIST data set is not in this repository): 300 random event frames of shape (2, 34, 34),
30 steps, 100 samples each at 1 %, 2 % and 5 % event density (seeds 0, 1, 2). The graph runs at
dt = 1 (Sinabs' IF adds its input once per step).
"""
from __future__ import annotations

import copy

import nir
import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.fidelity import output_fidelity as fidelity
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

STEPS, PER_DENSITY, DENSITIES = 30, 100, (0.01, 0.02, 0.05)
LAYERS = ["1", "3", "6", "10", "12"]


def events() -> np.ndarray:
    x = [(np.random.default_rng(seed).random((STEPS, PER_DENSITY, 2, 34, 34)) < rate)
         for seed, rate in enumerate(DENSITIES)]
    return np.concatenate(x, axis=1).astype(np.float32)


def load(realdata):
    return ir.load(realdata / "cnn" / "cnn_sinabs.nir", semantics=Semantics(dt=1.0))


def rounded(graph, per_neuron: bool, w_max: int = 127):
    """The graph with each weight rounded as int8 on the chip: w -> rint(w*s)/s, s = w_max/max|w| per
    output channel / output neuron (per_neuron) or per layer. Written from the documented rule,
    independently of the backend (bench_spinnaker2.py reuses it with wider integers)."""
    g = copy.deepcopy(graph)
    for node in g.nodes.values():
        if isinstance(node, (nir.Conv2d, nir.Affine)):
            w = np.asarray(node.weight, np.float64)
            peak = np.abs(w).max(axis=tuple(range(1, w.ndim)), keepdims=True) if per_neuron else np.abs(w).max()
            s = w_max / peak
            node.weight = np.rint(w * s) / s
    return g


@pytest.fixture(scope="module")
def cnn(realdata):
    return load(realdata)


@pytest.fixture(scope="module")
def x():
    return events()


@pytest.fixture(scope="module")
def ref(cnn, x):
    return simulate(cnn, x, record=LAYERS).spikes


@pytest.fixture(scope="module")
def chips(cnn, x, tmp_path_factory):
    """Per weight-scaling mode: (artifact, recorded spikes of every layer)."""
    out = {}
    for mode in ("per_neuron", "per_layer"):
        art = bk.compile(cnn, "spinnaker2", tmp_path_factory.mktemp(mode) / "a",
                         options={"steps": str(STEPS), "weight_scaling": mode, "record": "all"})
        out[mode] = art, bk.run(art.path, x, record=LAYERS).spikes
    return out


def test_compiles_on_one_chip(chips):
    info = chips["per_neuron"][0].manifest["spinnaker2"]
    assert 10 < info["pes"] <= 148  # 2312 inputs + 8970 neurons; the paper's run fit one chip too
    assert all(r["ok"] for r in info["rules"])
    assert {"0", "2", "5", "9", "11"} <= set(info["quantization"])


@pytest.mark.parametrize("mode", ["per_neuron", "per_layer"])
def test_chip_equals_reference_run_with_the_int8_rounded_weights(realdata, chips, x, mode):
    """All of the chip's disagreement with the float reference is weight rounding: with the same
    rounding applied to the float graph, every layer matches spike for spike (conv expansion, pooling,
    per-neuron threshold scaling, routing and pipeline lag are exact; float32 changes nothing here)."""
    ref_q = simulate(rounded(load(realdata), mode == "per_neuron"), x, record=LAYERS).spikes
    chip = chips[mode][1]
    for name in LAYERS:
        assert ref_q[name].sum() > 0
        assert np.array_equal(chip[name], ref_q[name].reshape(chip[name].shape)), name


def test_per_neuron_scaling_is_finer_than_py_spinnaker2s_per_layer_rule(chips, ref):
    q_n = chips["per_neuron"][0].manifest["spinnaker2"]["quantization"]
    q_l = chips["per_layer"][0].manifest["spinnaker2"]["quantization"]
    for layer in q_n:
        assert q_n[layer]["rel_rms_error"] < q_l[layer]["rel_rms_error"], layer
    f_n = fidelity(chips["per_neuron"][1]["12"], ref["12"].reshape(chips["per_neuron"][1]["12"].shape))
    f_l = fidelity(chips["per_layer"][1]["12"], ref["12"].reshape(chips["per_layer"][1]["12"].shape))
    assert f_n["clear_samples"] > 200
    assert f_n["spikes"] > f_l["spikes"] and f_n["counts"] > f_l["counts"] and f_n["class"] > f_l["class"]


def test_exact_when_weights_are_integers(realdata, tmp_path, x):
    """With weights that int8 holds exactly the chip model must equal the float reference spike for
    spike in every layer."""
    g = load(realdata)
    for node in g.nodes.values():
        if isinstance(node, (nir.Conv2d, nir.Affine)):
            node.weight = np.round(np.asarray(node.weight) * 20).astype(np.float32)
        if isinstance(node, nir.IF):
            node.v_threshold = np.asarray(node.v_threshold) * 20
    art = bk.compile(g, "spinnaker2", tmp_path / "int", options={"steps": str(STEPS), "weight_scale": "1",
                                                                 "record": "all"})
    chip = bk.run(art.path, x[:, :40], record=LAYERS)
    ref = simulate(g, x[:, :40], record=LAYERS)
    for name in LAYERS:
        assert ref.spikes[name].sum() > 0
        assert np.array_equal(chip.spikes[name], ref.spikes[name].reshape(chip.spikes[name].shape)), name


@pytest.mark.xfail(strict=True, reason="int8 weights: per-neuron scaling reaches 97.3 % (per-layer 97.0 %); "
                                       "the float reference with its own weights rounded to 12 bits reaches "
                                       "only 98.5 %. See bench/spinnaker2.md (CNN fidelity)")
def test_output_spikes_agree_with_float_reference(chips, ref):
    chip = chips["per_neuron"][1]["12"]
    assert ref["12"].sum() > 0
    assert fidelity(chip, ref["12"].reshape(chip.shape))["spikes"] >= 0.99
