"""Event counters equal the events implied by the produced spikes and the artifact's synapses.

For every synapse group, each non-zero source event reads every non-zero synapse of its source
(weights as Lava applies them); the expected count is recomputed here from the recorded spikes and
the artifact's weight files with plain NumPy, independent of the simulator's bookkeeping.
"""
from __future__ import annotations

import numpy as np

from neurodeploy import backend as bk
from neurodeploy.backends.loihi.bitsim import effective_weights

from test_loihi_support import build, random_graph


def test_counters_match_spikes(tmp_path):
    rng = np.random.default_rng(7)
    g, pops = random_graph(rng, recurrent=True, cuba=True, n_in=12, sizes=[30, 9], w_scale=0.6, bias=True)
    art = bk.compile(build(g), "loihi1", tmp_path / "a")
    x = (rng.random((50, 3, 12)) < 0.3).astype(np.int64)
    res = bk.run(art.path, x, record=pops)
    meta = art.json("net.json")
    params = np.load(art.file("params.npz"))
    spikes = {p: res.spikes[p].reshape(50, 3, -1) for p in pops}
    spikes["input"] = x
    expected, per_dst = 0, {p: 0 for p in pops}
    for j, s in enumerate(meta["synapses"]):
        w = effective_weights(params[f"s{j}_weights"], s["sign_mode"], s["num_weight_bits"],
                              meta["chip"]["weight_mant_bits"])
        n = int(((spikes[s["src"]] != 0).sum(axis=(0, 1)) * (w != 0).sum(axis=0)).sum())
        expected += n
        per_dst[s["dst"]] += n
    n_neurons = sum(int(np.prod(p["shape"])) for p in meta["populations"])
    assert expected > 0
    assert res.counters["synaptic_events"] == expected
    assert res.counters["spikes"] == sum(int(res.spikes[p].sum()) for p in pops)
    assert res.counters["neuron_updates"] == 50 * 3 * n_neurons
    assert sum(u["synaptic_events"] for u in res.per_unit.values()) == expected
    for pop in pops:  # per layer (issue #5): events charged to the receiving population
        assert res.per_layer[pop]["synaptic_events"] == per_dst[pop]
        assert res.per_layer[pop]["spikes"] == int(res.spikes[pop].sum())
        assert res.per_layer[pop]["neuron_updates"] == 50 * 3 * int(np.prod(res.spikes[pop].shape[2:]))
    assert res.extra["units_used"] == {"chip": 1, "core": len(art.manifest["loihi"]["cores"])}
    assert res.sim_time_s == 50 * art.manifest["loihi"]["step_time_s"]

