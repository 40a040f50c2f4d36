"""examples/hippocampal_cam: sPyMem's CA3 `Memory` (unchanged, from PyPI) through neurodeploy.pynn.
The SpiNNaker 2 simulator recalls the same bits as the reference on every protocol (every layer's
spikes equal); the memory behaves as published on the basic protocol (recall by cue gives the
stored content, recall by a content fragment gives its cue)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import neurodeploy.pynn as sim

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "hippocampal_cam"))
import cam  # noqa: E402

S2 = {"timestep": 1.0, "target": "spinnaker2"}


@pytest.fixture(autouse=True)
def fresh():
    yield
    sim.state.end()


@pytest.mark.parametrize("protocol", ["basic", "stress", "grid"])
def test_spinnaker2_recalls_what_the_reference_recalls(protocol):
    ref = cam.run_named(sim, protocol)
    chip = cam.run_named(sim, protocol, setup=S2)
    for layer in cam.LAYERS:
        np.testing.assert_array_equal(chip[layer], ref[layer], err_msg=layer)
    np.testing.assert_array_equal(chip["recalled"], ref["recalled"])
    assert ref["recalled"].any(axis=1).all()  # every operation made the output spike
    res = chip["result"]
    assert res.extra["overruns"] == 0 and res.counters["weight_updates"] > 0


def test_basic_protocol_recalls_as_published():
    p = cam.basic()
    bits = cam.run_named(sim, "basic")["recalled"]
    cue, cont = p["cue"], p["cont"]
    stored = {op[2]: op[3] for op in p["ops"][:3]}
    by_cue = bits[3]  # recall by cue 1 at 30 ms
    assert by_cue[1] == 1 and list(by_cue[cue:]) == list(stored[1])
    for k in (4, 5):  # recall by content fragments of memories 0 and 2: their cue
        owner = next(c for c, content in stored.items() if np.all(content >= p["ops"][k][3]))
        assert bits[k][owner] == 1 and list(bits[k][cue:]) == list(p["ops"][k][3])
    assert len(bits[0]) == cue + cont
