"""A biased network on SpiNNaker 2 runs its reference timeline: each population starts at its lag tick,
so a bias does not integrate before the population's first input could arrive (a chip run equals the
reference on the chip's own quantized parameters, biases included)."""
from __future__ import annotations

import numpy as np

from neurodeploy import backend as bk
from neurodeploy.artifact import Artifact
from neurodeploy.sim.reference import simulate

from contract.conftest import chain

T = 40


def test_biased_layers_match_the_reference_on_quantized_parameters(tmp_path):
    g = chain((12, 20, 8), seed=4)
    for w in ("w0", "w1"):
        g.nodes[w].bias = np.linspace(-0.02, 0.03, g.nodes[w].bias.size).astype(np.float32)
    x = (np.random.default_rng(5).random((T, 2, 12)) < 0.25).astype(np.float32)
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"steps": str(T), "record": "all"})
    res = bk.run(art.path, x, record=["n0", "n1"])
    ref = simulate(bk.get("spinnaker2").quantized_graph(Artifact(art.path)), x, steps=T, record=["n0", "n1"])
    assert res.extra["lag_ticks"]["n1"] > res.extra["lag_ticks"]["n0"] > 0  # the layers do run behind
    for n in ("n0", "n1"):
        assert ref.spikes[n].sum() > 0
        assert np.array_equal(res.spikes[n] != 0, ref.spikes[n] != 0), n
