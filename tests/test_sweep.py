"""`neurodeploy sweep`: grid expansion, content-addressed points, determinism over 1 and 2 Dask
workers, resume, failures recorded per point, the Pareto front and the CLI. Real backends (loihi1,
crossbar-pcm) on a 4-5-3 LIF network; the Pareto front against a brute-force check."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neurodeploy import ir
from neurodeploy import targets as tg
from neurodeploy.cli import main
from neurodeploy.errors import UsageError
from neurodeploy.sweep import load, plot, sweep, table
from neurodeploy.sweep.run import points_dir

from test_energy_model import _ff_graph  # noqa: E402  (tests/ is on sys.path under pytest)

SPEC = """
[sweep]
model = "model.nir"
labels = "labels.npy"
samples = 2
replicates = 2
[sweep.options.crossbar-pcm]
effects = "all"
[grid]
target = ["loihi1", "crossbar-pcm", "{tiny}", "no-such-target"]
input = "x.npy"
drift_time = [0.0, 3600.0]
"""


@pytest.fixture
def spec_dir(tmp_path):
    ir.write(tmp_path / "model.nir", _ff_graph())
    np.save(tmp_path / "x.npy", (np.random.default_rng(2).random((20, 3, 4)) < 0.5).astype(float))
    np.save(tmp_path / "labels.npy", np.array([0, 1, 2]))
    tiny = tmp_path / "loihi_tiny.toml"  # 2 neurons on 1 core: the 5-neuron layer cannot fit
    tiny.write_text((tg.TARGETS_DIR / "loihi1.toml").read_text()
                    .replace("neurons_per_core = { value = 1024", "neurons_per_core = { value = 2")
                    .replace("cores_per_chip = { value = 128", "cores_per_chip = { value = 1"))
    (tmp_path / "s.toml").write_text(SPEC.replace("{tiny}", str(tiny)))
    return tmp_path


def test_grid_order_keys_and_seeds(spec_dir):
    pts = load(spec_dir / "s.toml").points()
    assert len(pts) == 4 * 1 * 2 * 2
    assert [p.params["target"] for p in pts[:5]] == ["loihi1"] * 4 + ["crossbar-pcm"]
    assert [(p.params["drift_time"], p.params["replicate"]) for p in pts[:4]] == [(0.0, 0), (0.0, 1), (3600.0, 0), (3600.0, 1)]
    assert len({p.key for p in pts}) == len({p.seed for p in pts}) == len(pts)
    assert all(0 <= p.seed < 2**63 for p in pts)
    assert [p.key for p in load(spec_dir / "s.toml").points()] == [p.key for p in pts]
    g = _ff_graph()
    g.nodes["fc1"].weight[0, 0] += 1.0  # another model: every key and seed changes
    ir.write(spec_dir / "model.nir", g)
    other = load(spec_dir / "s.toml").points()
    assert not {p.key for p in other} & {p.key for p in pts}


@pytest.mark.parametrize("text, words", [
    ("[grid]\ntarget='loihi1'\ninput='x.npy'\n", "names no model"),
    ("[sweep]\nmodel='m.nir'\n[grid]\ntarget='loihi1'\ninput='x.npy'\nvoltage=[1]\n", "unknown axis voltage"),
    ("[sweep]\nmodel='m.nir'\n[grid]\ntarget=[]\ninput='x.npy'\n", "axis target has no value"),
    ("[sweep]\nmodel='m.nir'\n[grid]\ntarget='loihi1'\ninput='x.npy'\ndrift_time=[-1]\n", "drift_time must be"),
    ("[sweep]\nmodel='m.nir'\n[grid]\ntarget='loihi1'\ninput='x.npy'\n[grid.semantics]\nvolts=[1]\n", "unknown field"),
    ("[sweep]\nmodel='m.nir'\n[grid]\ntarget='loihi1'\ninput='x.npy'\n[grid.options]\nseed=['1']\n", "seeds from"),
    ("[sweep\n", "not valid TOML"),
    ("[sweep]\nmodel='m.nir'\nengine=1\n[grid]\ntarget='loihi1'\ninput='x.npy'\n", "engine must be a string"),
])
def test_bad_spec_is_a_usage_error_naming_the_file(tmp_path, text, words):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(UsageError, match=words) as e:
        load(tmp_path / "bad.toml")
    assert "bad.toml" in str(e.value)


@pytest.mark.slow
def test_same_table_on_one_and_two_workers_failures_recorded(spec_dir):
    spec = load(spec_dir / "s.toml")
    _, one = sweep(spec, workers=1)
    two_dir = spec_dir / "two"
    two_dir.mkdir()
    _, two = sweep(load(spec_dir / "s.toml", out=two_dir / "t.parquet"), workers=2)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]  # noqa: E731
    assert drop(one) == drop(two) == drop(table.read(spec.out))
    by = {(r["target"], r["drift_time"], r["replicate"]): r for r in one}
    ok = [r for r in one if r["target"] in ("loihi1", "crossbar-pcm")]
    assert all(r["status"] == "ok" and r["exit_code"] == 0 and r["energy_low_j"] <= r["energy_point_j"]
               <= r["energy_high_j"] and r["energy_point_j"] > 0 for r in ok if r["drift_time"] == 0)
    # loihi has no drifting devices: a drift time is refused for that point only (usage, exit 2)
    assert {(r["status"], r["exit_code"]) for r in one if r["target"] == "loihi1" and r["drift_time"]} == {("error", 2)}
    # the 2-neuron core: the design rule (exit 4); an unknown target name: usage (exit 2); both named
    tiny = [r for r in one if r["target"].endswith("loihi_tiny.toml")]
    assert {r["exit_code"] for r in tiny} == {4} and all("loihi.cores" in r["error"] for r in tiny)
    unknown = [r for r in one if r["target"] == "no-such-target"]
    assert {r["exit_code"] for r in unknown} == {2} and all("no-such-target" in r["error"] for r in unknown)
    # device draws follow the point's seed: replicates differ, drift lowers agreement with ideal devices
    cb = {k[1:]: r["device_agreement"] for k, r in by.items() if k[0] == "crossbar-pcm"}
    assert cb[(0.0, 0)] != cb[(0.0, 1)] and max(cb[(3600.0, 0)], cb[(3600.0, 1)]) < 1
    loihi = table.resources(by[("loihi1", 0.0, 0)])["rules"]["loihi.cores"]
    assert list(loihi) == [2, 128]  # a core per layer (5 and 3 neurons, 1,024 per core) of loihi1's 128 per chip


@pytest.mark.slow
def test_resume_skips_finished_points_and_cli_plots(spec_dir, monkeypatch):
    spec_dir.joinpath("s.toml").write_text(SPEC.replace('"{tiny}", "no-such-target"', "")
                                           .replace("replicates = 2", "replicates = 1"))
    assert main(["sweep", str(spec_dir / "s.toml"), "--workers", "1"]) == 0
    pts = load(spec_dir / "s.toml").points()
    keep = points_dir(spec_dir / "s.parquet")
    marked = json.loads((keep / f"{pts[0].key}.json").read_text())
    marked["accuracy"] = 0.125  # a finished point is read back, never recomputed
    (keep / f"{pts[0].key}.json").write_text(json.dumps(marked))
    (keep / f"{pts[-1].key}.json").unlink()  # as if interrupted before the last point
    assert main(["sweep", str(spec_dir / "s.toml"), "--workers", "1", "--plot"]) == 0
    rows = table.read(spec_dir / "s.parquet")
    assert rows[0]["accuracy"] == 0.125 and rows[-1]["status"] == "ok" and rows[-1]["accuracy"] != 0.125
    html = (spec_dir / "s.html").read_text()
    assert "data:image/png;base64," in html and "crossbar-pcm" in html
    import distributed  # a finished sweep starts no cluster at all

    monkeypatch.setattr(distributed, "LocalCluster", None)
    assert main(["sweep", str(spec_dir / "s.toml")]) == 0


def _dominated_brute(points):
    return [i for i, (f, e) in enumerate(points)
            if not any((f2 >= f and e2 <= e) and (f2 > f or e2 < e) for f2, e2 in points)]


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        pts = [(float(f), float(e)) for f, e in zip(rng.integers(0, 5, 12) / 4, rng.integers(1, 6, 12))]
        got = plot.front(pts)
        assert sorted(set(pts[i] for i in got)) == sorted(set(pts[i] for i in _dominated_brute(pts)))
    assert plot.front([(0.5, 1.0), (1.0, 2.0), (0.9, 3.0), (1.0, 2.0)]) == [0, 1]
