"""`--target all`: compile, run and estimate per target; a target the model does not fit gets its
design rule as the reason. Uses the real Loihi backend and loihi1.toml."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy import targets as tg
from neurodeploy.artifact import digest
from neurodeploy.energy import compare_targets, estimate_artifact

from test_energy_model import _ff_graph  # noqa: E402  (tests/ is on sys.path under pytest)

pytestmark = pytest.mark.skipif("loihi" not in bk.installed(), reason="Loihi backend not installed")


def _x():
    return (np.random.default_rng(2).random((20, 3, 4)) < 0.5).astype(float)


def test_compare_fits_and_does_not_fit(tmp_path):
    tiny = tmp_path / "loihi_tiny.toml"
    text = (tg.TARGETS_DIR / "loihi1.toml").read_text()
    tiny.write_text(text.replace("neurons_per_core = { value = 1024", "neurons_per_core = { value = 2")
                    .replace("cores_per_chip = { value = 128", "cores_per_chip = { value = 1"))
    rows = dict(compare_targets(_ff_graph(), _x(), targets=["loihi1", str(tiny)], labels=np.array([0, 1, 2])))
    rep = rows["loihi1"]
    assert rep.target == "loihi1" and rep.dynamic.point > 0 and rep.static.point > 0
    assert rep.by_event["synaptic_events"].count > 0
    assert rep.neurobench["SynapticOperations"]["Dense"] == (4 * 5 + 5 * 3) * 20
    assert rep.baseline["dense_macs"] == (4 * 5 + 5 * 3) * 20 * 3
    assert rep.accuracy is not None
    assert isinstance(rows[str(tiny)], str) and "does not fit" in rows[str(tiny)]
    assert "core" in rows[str(tiny)]


def test_estimate_artifact_uses_the_model_it_carries(tmp_path):
    art = bk.compile(_ff_graph(), "loihi1", tmp_path / "art")
    rep = estimate_artifact(art.path, _x())
    assert rep.dynamic.point > 0
    assert rep.neurobench["SynapticOperations"]["Dense"] == (4 * 5 + 5 * 3) * 20


def test_estimate_artifact_without_model_says_so(tmp_path):
    art = bk.compile(_ff_graph(), "loihi1", tmp_path / "art")
    manifest = json.loads((art.path / "manifest.json").read_text())
    del manifest["model"]
    manifest["digest"] = digest(manifest)  # an edit made the way a tool would: with the digest renewed
    (art.path / "manifest.json").write_text(json.dumps(manifest))
    rep = estimate_artifact(art.path, _x())
    assert rep.dynamic.point > 0 and rep.neurobench is None
    assert any("carries no model" in w for w in rep.warnings)
