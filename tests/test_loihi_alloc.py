"""Core allocation under the target's per-core limits, and the "does not fit" errors (exit code 4)."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy.errors import ResourceExceeded

from test_loihi_support import build

DT = 1e-4


def _dense(n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    # magnitudes within a factor 2, so no weight rounds to a zero mantissa at 8 bits
    w = rng.choice([-0.1, 0.1], (n_out, n_in)) * rng.uniform(0.5, 1.0, (n_out, n_in))
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([n_in])), "fc": nir.Affine(weight=w, bias=np.zeros(n_out)),
                               "lif": nir.IF(r=np.full(n_out, 1 / DT), v_threshold=np.ones(n_out)),
                               "output": nir.Output(np.array([n_out]))},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


def test_small_network_one_core(tmp_path):
    art = bk.compile(build(_dense(10, 20)), "loihi2", tmp_path / "a")
    (row,) = art.manifest["loihi"]["cores"]
    assert row["neurons"] == 20 and row["synapses"] == 200 and row["input_axons"] == 10
    assert art.manifest["loihi"]["chips"] == 1


def test_neuron_slots_split_populations(tmp_path):
    # Loihi 1: 1,024 neurons per core -> 3,000 neurons need ceil(3000/1024) = 3 cores
    art = bk.compile(build(_dense(2, 3000)), "loihi1", tmp_path / "a")
    assert [r["neurons"] for r in art.manifest["loihi"]["cores"]] == [1024, 1024, 952]


def test_synaptic_memory_splits_populations(tmp_path):
    # 4,000 one-byte synapses per neuron, 128 KB per core -> 32 neurons per core -> 64 neurons on 2 cores
    art = bk.compile(build(_dense(4000, 64)), "loihi1", tmp_path / "a")
    rows = art.manifest["loihi"]["cores"]
    assert [r["neurons"] for r in rows] == [32, 32]
    assert all(r["synapse_bytes"] <= 131072 for r in rows)


def test_fan_in_overflow_names_rule_and_node(tmp_path):
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(build(_dense(5000, 4)), "loihi1", tmp_path / "a")
    assert e.value.rule == "loihi.fan_in_per_neuron" and e.value.where == "lif"
    assert (e.value.needed, e.value.available, e.value.exit_code) == (5000, 4096, 4)
    assert not (tmp_path / "a").exists()


def test_core_overflow(tmp_path):
    # 128 cores x 1,024 neurons on Loihi 1: 140,000 neurons need 137 cores
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(build(_dense(1, 140_000)), "loihi1", tmp_path / "a")
    assert e.value.rule == "loihi.cores" and (e.value.needed, e.value.available) == (137, 128)
