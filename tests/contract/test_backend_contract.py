"""Every installed backend, every target: the checks of issue #8's contract suite (see conftest)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy.artifact import Artifact
from neurodeploy.errors import ResourceExceeded, TargetError
from neurodeploy.sim.reference import simulate

from .conftest import NEURONS, T, huge


def tree(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_recompile_is_byte_identical(target, net, options, tmp_path):
    a = bk.compile(net, target, tmp_path / "a", options=options)
    b = bk.compile(net, target, tmp_path / "b", options=options)
    assert tree(a.path) == tree(b.path)


def test_failed_compile_leaves_nothing(target, tmp_path):
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(huge(), target, tmp_path / "a")
    assert e.value.rule and e.value.needed > e.value.available  # a named rule with its numbers
    assert list(tmp_path.iterdir()) == []  # no artifact, no staging directory


def test_a_fresh_process_reloads_and_runs_the_artifact(target, net, options, spikes_in, tmp_path):
    art = bk.compile(net, target, tmp_path / "a", options=options)
    np.save(tmp_path / "x.npy", spikes_in)
    here = bk.run(art.path, spikes_in, record=NEURONS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.run([sys.executable, "-m", "neurodeploy", "run", str(art.path), "--input",
                           str(tmp_path / "x.npy"), "--record", *NEURONS, "--out", str(tmp_path / "o.npz")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "o.npz") as z:
        for n in NEURONS:
            assert np.array_equal(z[f"{n}.spikes"], here.spikes[n])


def test_a_tampered_artifact_is_refused(target, net, options, spikes_in, tmp_path):
    art = bk.compile(net, target, tmp_path / "a", options=options)
    data = max((p for p in art.path.rglob("*") if p.is_file() and p.name != "manifest.json"),
               key=lambda p: p.stat().st_size)  # the largest data file: weights
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    with pytest.raises(TargetError):
        bk.run(art.path, spikes_in)


def test_counters_are_consistent_with_the_spikes(target, net, options, spikes_in, tmp_path):
    art = bk.compile(net, target, tmp_path / "a", options=options)
    res = bk.run(art.path, spikes_in, record=NEURONS)
    q = bk.get(art.backend).quantized_graph(Artifact(art.path))
    assert sum(int(res.spikes[n].sum()) for n in NEURONS) > 0
    assert res.counters["spikes"] == sum(int(res.spikes[n].sum()) for n in NEURONS)
    # each spike of a source reaches every non-zero synapse of its row once
    sources = {"w0": spikes_in, "w1": res.spikes["n0"]}
    expected = sum(int((s.reshape(-1, s.shape[-1]) != 0).sum(0) @ (np.asarray(q.nodes[w].weight) != 0).sum(0))
                   for w, s in sources.items())
    assert res.counters["synaptic_events"] == expected


def test_run_matches_the_reference_with_the_targets_own_parameters(target, net, options, spikes_in, tmp_path):
    art = bk.compile(net, target, tmp_path / "a", options=options)
    res = bk.run(art.path, spikes_in, record=NEURONS)
    q = bk.get(art.backend).quantized_graph(Artifact(art.path))
    ref = simulate(q, spikes_in, steps=T, record=NEURONS)
    for n in NEURONS:
        assert res.spikes[n].shape == ref.spikes[n].shape, n
        assert np.array_equal(res.spikes[n] != 0, ref.spikes[n] != 0), n
    assert sum(int(ref.spikes[n].sum()) for n in NEURONS) > 0
