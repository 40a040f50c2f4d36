"""`quantized_graph`: the float model a Loihi artifact realises, run on the reference simulator
(neurodeploy.sim.reference, whose neuron equations bitsim does not share), equals the bit-accurate
engine spike for spike on random feed-forward and recurrent LIF/IF/CubaLIF networks with biases, under
both mappings, as long as no voltage saturates (the one chip effect a float model cannot hold; the
test checks that precondition instead of assuming it). Voltages differ only by the per-step
truncation of the decay products."""
from __future__ import annotations

import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy import targets as tg
from neurodeploy.artifact import Artifact
from neurodeploy.sim.reference import simulate

from test_loihi_support import build, random_graph

V_LIMIT = 2**23 - 1  # Loihi's 24-bit voltage register (targets/loihi1.toml state_bits)
D = 4096  # 2**decay_bits (targets/loihi1.toml)


def truncation_bound(du: int, dv: int) -> float:
    """Largest |v_chip - v_float| the truncated decay products can build up: u loses < 1 LSB a step
    (none when du = D - 1: u is reloaded), which settles below D/(du+1); v loses < 1 LSB plus u's
    error a step, which settles below (1 + that) * D/dv (none for dv = 0: v*D >> 12 is exact)."""
    e_u = 0.0 if du == D - 1 else D / (du + 1)
    return 0.0 if dv == 0 else (1 + e_u) * D / dv


@pytest.mark.parametrize("seed", range(8))
def test_float_model_of_the_artifact_spikes_like_the_chip(seed, tmp_path):
    rng = np.random.default_rng(seed)
    recurrent, cuba, bias = bool(seed % 2), seed % 4 < 2 or seed == 6, seed % 3 == 0
    mapping = "paper" if seed in (2, 7) else "auto"
    g, pops = random_graph(rng, recurrent=recurrent, cuba=cuba, n_in=10, sizes=[12, 8, 6], w_scale=0.4, bias=bias,
                           w_max=0.9 if mapping == "paper" else None)
    art = bk.compile(build(g), "loihi2", tmp_path / "a",
                     options={"v_probe": "state", "mapping": mapping, "headroom_bits": "8"})
    x = (rng.random((100, 4, 10)) < 0.3).astype(np.int64)
    chip = bk.run(art.path, x, record=pops)
    q = bk.get("loihi").quantized_graph(Artifact(art.path))
    ref = simulate(q, x, record=pops)
    quant = art.manifest["loihi"]["quantization"]
    for p in pops:
        assert (np.abs(chip.v[p]) < V_LIMIT).all(), "precondition: no saturation"
        assert chip.spikes[p].sum() > 0
        assert np.array_equal(chip.spikes[p].reshape(ref.spikes[p].shape) != 0, ref.spikes[p] != 0), p
        bound = truncation_bound(quant[p]["du"], quant[p]["dv"])
        assert np.abs(chip.v[p].reshape(ref.v[p].shape) - ref.v[p]).max() <= bound + 1e-6, p


def test_fixed_point_widths_come_from_the_target_file(tmp_path):
    """A board file that changes Loihi's decay width and state shift: the compiler, the run spec the
    engine reads and the engine itself all follow the file (the float model of the artifact still
    spikes like the chip), and nothing falls back to Loihi's 12 and 6."""
    variant = tmp_path / "loihi-narrow.toml"
    variant.write_text('[target]\nextends = "loihi2"\nname = "loihi-narrow"\n[fixed_point]\n'
                       'decay_bits = { value = 10, unit = "bit", source = "test variant", confidence = "estimate" }\n'
                       'state_shift = { value = 4, unit = "bit", source = "test variant", confidence = "estimate" }\n')
    rng = np.random.default_rng(3)
    g, pops = random_graph(rng, recurrent=True, cuba=True, n_in=10, sizes=[12, 8, 6], w_scale=0.4, bias=True)
    graph = build(g)  # forward Euler: a_m = 1 - dt/tau
    art = bk.compile(graph, tg.load(str(variant)), tmp_path / "a", options={"v_probe": "state", "headroom_bits": "8"})
    assert art.json("net.json")["chip"] == {"decay_bits": 10, "state_bits": 24, "state_shift": 4, "weight_mant_bits": 8}
    tau = graph.nodes["n2"].tau[0]  # n2 is the LIF (random_graph: CubaLIF, IF, LIF): dv = (1 - a_m) * 2**10
    assert art.manifest["loihi"]["quantization"]["n2"]["dv"] == round(graph.semantics.dt / tau * 1024)
    x = (rng.random((100, 4, 10)) < 0.3).astype(np.int64)
    chip = bk.run(art.path, x, record=pops)
    ref = simulate(bk.get("loihi").quantized_graph(Artifact(art.path)), x, record=pops)
    for p in pops:
        assert (np.abs(chip.v[p]) < V_LIMIT).all() and chip.spikes[p].sum() > 0
        assert np.array_equal(chip.spikes[p] != 0, ref.spikes[p] != 0), p
