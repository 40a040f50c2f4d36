"""`neurodeploy validate` on a crossbar artifact reports the Monte Carlo over device draws: the
samples/seed/drift time reach the engine, and the distribution of agreement (and accuracy with
labels) is printed with its confidence interval. Draw 0 is recomputed independently from a plain
single-draw run and the ideal-device run (no Monte Carlo code involved)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from neurodeploy import backend as bk
from neurodeploy import fidelity

from test_crossbar_backend import net, spikes


def _compiled(tmp_path):
    return bk.compile(net(("LIF", "LIF"), (24, 40, 10)), "crossbar-pcm", tmp_path / "a", options={"effects": "all"})


def test_validate_reports_the_device_draws(tmp_path):
    art = _compiled(tmp_path)
    x, labels = spikes(24), np.array([0, 1, 2])
    rep = fidelity.validate(art.path, x, labels=labels, engine_options={"samples": 6, "seed": 3, "drift_time": 60.0})
    mc = rep.monte_carlo
    assert mc["samples"] == 6 and mc["seed"] == 3 and mc["drift_time"] == 60.0
    assert len(mc["spike_agreement"]["values"]) == 6 and len(mc["accuracy"]["values"]) == 6
    # draw 0 by hand: the single draw of seed 3 against the ideal devices, on the run validate made
    steps = rep.steps + max(rep.lag.values(), default=0)
    xp = np.concatenate([x, np.zeros((steps - x.shape[0],) + x.shape[1:], x.dtype)])
    one = bk.run(art.path, xp, engine_options={"seed": 3, "drift_time": 60.0}).spikes["out"]
    ideal = bk.run(art.path, xp, engine_options={"effects": "none"}).spikes["out"]
    assert mc["spike_agreement"]["values"][0] == np.mean((one != 0) == (ideal != 0))
    assert mc["accuracy"]["values"][0] == np.mean(one.sum(0).argmax(1) == labels)
    lo, hi = mc["decision_agreement"]["ci95"]
    assert lo <= mc["decision_agreement"]["mean"] <= hi
    assert json.loads(fidelity_json(rep))["monte_carlo"]["samples"] == 6


def fidelity_json(rep) -> str:
    from neurodeploy.report import fidelity as report

    return report.render(rep, "json")


def test_cli_validate_prints_the_distribution(tmp_path):
    _compiled(tmp_path)
    np.save(tmp_path / "x.npy", spikes(24))
    np.save(tmp_path / "y.npy", np.array([0, 1, 2]))
    py = [sys.executable, "-m", "neurodeploy", "validate", str(tmp_path / "a"), "--input", str(tmp_path / "x.npy")]
    proc = subprocess.run(py + ["--labels", str(tmp_path / "y.npy"), "--samples", "4", "--seed", "2",
                                "--drift-time", "3600"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Device draws: 4 (seed 2, drift time 3600 s" in proc.stdout
    for row in ("output spike agreement", "decision agreement", "| accuracy |", "accuracy, ideal devices"):
        assert row in proc.stdout, row
    short = subprocess.run(py + ["--samples", "3", "-o", str(tmp_path / "r.md")], capture_output=True, text=True,
                           timeout=300)
    assert short.returncode == 0, short.stderr
    assert "3 device draws: output spike agreement" in short.stdout and "95% CI" in short.stdout
    bad = subprocess.run(py + ["--samples", "0"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "samples" in bad.stderr
