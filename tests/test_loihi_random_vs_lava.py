"""20 random networks: the NumPy engine equals Lava (run for real) in every spike and every voltage.

Feed-forward and recurrent, LIF / CubaLIF / IF layers, mixed-sign weights, random decays and
biases, both mappings (auto: even mixed-sign mantissas and per-group exponents; paper: truncated
odd mantissas whose LSB Lava's Dense drops), both probe conventions, graded inputs, batches.
All 20 run in one Lava runner process, since Lava's start-up dominates such small runs.
"""
from __future__ import annotations

import numpy as np

from neurodeploy import backend as bk
from neurodeploy.backends.loihi import run_lava

from test_loihi_support import build, random_graph, require_lava

N_NETS, STEPS = 20, 40


def _cases():
    rng = np.random.default_rng(2024)
    for i in range(N_NETS):
        paper, graded = i % 5 == 4, i in (3, 13)
        n_in = int(rng.integers(5, 11))
        sizes = [int(rng.integers(6, 16)), int(rng.integers(3, 10))][: 1 + (i % 3 != 0)]
        g, pops = random_graph(rng, recurrent=i % 2 == 1, cuba=i % 4 in (0, 1), n_in=n_in, sizes=sizes,
                               w_scale=0.3 if paper else 0.6, bias=i % 3 != 2, w_max=0.99 if paper else None)
        opts = {"mapping": "paper" if paper else "auto", "v_probe": ("chip", "state")[i % 2],
                "input_bits": "8" if graded else "0"}
        x = (rng.random((STEPS, 2 if i % 7 == 0 else 1, n_in)) < 0.3).astype(np.int64)
        if graded:
            x *= rng.integers(1, 4, x.shape)
        yield g, pops, opts, x


def test_random_networks_identical_on_sim_and_lava(tmp_path):
    require_lava()
    runs = []
    for i, (g, pops, opts, x) in enumerate(_cases()):
        runs.append((bk.compile(build(g), "loihi2", tmp_path / f"net{i}", options=opts), x, pops))
    lava = run_lava(runs)
    odd_mixed = spiking_nets = 0
    for (art, x, pops), ref in zip(runs, lava):
        sim = bk.run(art.path, x, record=pops)
        for p in pops:
            assert np.array_equal(sim.spikes[p], ref.spikes[p]), f"{art.path.name} {p}: spikes differ"
            assert np.array_equal(sim.v[p], ref.v[p]), f"{art.path.name} {p}: voltages differ"
        spiking_nets += any(sim.spikes[p].any() for p in pops)
        w = np.load(art.file("params.npz"))
        odd_mixed += any(k.endswith("weights") and (w[k] < 0).any() and (w[k] % 2 == 1).any() for k in w.files)
    assert spiking_nets == N_NETS  # no silent network passes vacuously
    assert odd_mixed >= 3  # the paper-mapped nets exercise Lava's mixed-sign LSB truncation
