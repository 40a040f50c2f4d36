"""Run-time run spec (issue 9): steps and recorded nodes are chosen when running. Loihi, crossbar
and FPGA engines take them per run; SpiNNaker 2 resizes its recording regions and re-checks its
SRAM rule per run (backends/spinnaker2/runtime.py)."""
from __future__ import annotations

import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy.errors import ResourceExceeded, UsageError
from tests.contract.conftest import chain

X = (np.random.default_rng(1).random((30, 2, 12)) < 0.25).astype(np.float32)


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """Compiled for 10 steps, recording only the outputs."""
    return bk.compile(chain((12, 20, 8)), "spinnaker2", tmp_path_factory.mktemp("rs") / "a", options={"steps": "10"})


def test_longer_run_and_hidden_layer_without_recompiling(short, tmp_path):
    res = bk.run(short.path, X, steps=30, record=["n0", "n1"])
    # the same run compiled for it: 30 steps, both layers recorded
    full = bk.compile(chain((12, 20, 8)), "spinnaker2", tmp_path / "b", options={"steps": "30", "record": "n0,n1"})
    ref = bk.run(full.path, X, steps=30, record=["n0", "n1"])
    for n in ("n0", "n1"):
        assert res.spikes[n].shape == (30, 2, 20 if n == "n0" else 8)
        np.testing.assert_array_equal(res.spikes[n], ref.spikes[n])
        np.testing.assert_array_equal(res.v[n], ref.v[n])  # hidden-layer voltage recorded, not dropped
    assert ref.spikes["n0"].sum() > 0


def test_a_run_that_does_not_fit_fails_with_the_sram_rule(short):
    with pytest.raises(ResourceExceeded, match=r"n0\[0:20\]: design rule 'SRAM per PE \(bytes\)' violated") as e:
        bk.run(short.path, X, steps=9000, record=["n0"])  # 3 words of spikes per tick, 23552 words of SRAM
    assert e.value.needed > e.value.available
    assert bk.run(short.path, X, steps=600, record=["n0"]).v["n0"].shape == (600, 2, 20)  # fewer steps fit


def test_an_unknown_name_is_refused_by_name(short):
    with pytest.raises(UsageError, match="cannot record 'hidden': no such population or output"):
        bk.run(short.path, X, steps=10, record=["hidden"])


@pytest.mark.parametrize("target", ["loihi2", "crossbar-rram", "fpga-zcu102"])
def test_other_targets_take_steps_and_records_per_run(target, tmp_path):
    a = bk.compile(chain((12, 20, 8)), target, tmp_path / "a", options={"steps": "10"})
    res = bk.run(a.path, X, steps=30, record=["n0"])
    assert res.spikes["n0"].shape == (30, 2, 20) and res.v["n0"].shape == (30, 2, 20)


def test_a_membrane_that_does_not_fit_is_left_out_and_said_so(short):
    """The spikes of n0 fit 1000 ticks, its membrane too would not (21 more words per tick): spikes
    recorded, v named as left out; n1's membrane fits."""
    with pytest.warns(UserWarning, match="n0: its membrane does not fit the rule 'SRAM per PE"):
        res = bk.run(short.path, X, steps=1000, record=["n0", "n1"])
    assert res.spikes["n0"].shape == (1000, 2, 20) and "n0" not in res.v and "n1" in res.v
    assert set(res.extra["not_recorded"]) == {"n0"}
