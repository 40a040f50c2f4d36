"""The crossbar backend end to end: neuron types against the reference, bad inputs, the engine's
IR drop and ADC against the exact circuit, energy counters, Monte Carlo statistics, the report."""
from __future__ import annotations

import nir
import numpy as np
import pytest
from rich.console import Console
from scipy import stats

from neurodeploy import backend as bk
from neurodeploy.artifact import Artifact
from neurodeploy.backends.crossbar import irdrop, layout, simulator
from neurodeploy.errors import InvalidModel, ResourceExceeded, UnsupportedNode, UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

T, B = 60, 3


def neuron(kind, n):
    if kind == "LIF":
        return nir.LIF(tau=np.full(n, 3e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, 0.08),
                       v_reset=np.full(n, 0.01))
    if kind == "IF":
        return nir.IF(r=np.full(n, 40.0), v_threshold=np.full(n, 0.1))
    if kind == "CubaLIF":
        return nir.CubaLIF(tau_syn=np.full(n, 2e-3), tau_mem=np.full(n, 5e-3), r=np.ones(n), v_leak=np.zeros(n),
                           v_threshold=np.full(n, 0.03), v_reset=np.zeros(n))
    return nir.LI(tau=np.full(n, 4e-3), r=np.ones(n), v_leak=np.zeros(n))


def net(kinds, sizes, sem=Semantics(), seed=0, recurrent=False) -> Graph:
    rng = np.random.default_rng(seed)
    nodes = {"in": nir.Input(input_type={"input": np.array([sizes[0]])})}
    edges, ins, outs, prev = [], {"in": (sizes[0],)}, {"in": (sizes[0],)}, "in"
    for i, (kind, (a, b)) in enumerate(zip(kinds, zip(sizes[:-1], sizes[1:]))):
        w = rng.uniform(0.2, 1.0, (b, a)) * rng.choice([-1, 1], (b, a)) * (rng.random((b, a)) < 0.7)
        nodes[f"w{i}"] = nir.Affine(weight=w, bias=rng.uniform(0, 0.01, b))
        nodes[f"n{i}"] = neuron(kind, b)
        edges += [(prev, f"w{i}"), (f"w{i}", f"n{i}")]
        ins[f"w{i}"], outs[f"w{i}"], ins[f"n{i}"], outs[f"n{i}"] = (a,), (b,), (b,), (b,)
        prev = f"n{i}"
    if recurrent:
        b = sizes[1]
        nodes["rec"] = nir.Affine(weight=rng.normal(0, 0.3, (b, b)), bias=np.zeros(b))
        edges += [("n0", "rec"), ("rec", "n0")]
        ins["rec"], outs["rec"] = (b,), (b,)
    nodes["out"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((prev, "out"))
    ins["out"] = outs["out"] = (sizes[-1],)
    return Graph(nodes, edges, ins, outs, semantics=sem)


def spikes(n, seed=1, p=0.3):
    return (np.random.default_rng(seed).random((T, B, n)) < p).astype(np.float32)


@pytest.mark.parametrize("kinds,sem,recurrent", [
    (("LIF", "LIF"), Semantics(reset="v_reset"), True),
    (("IF", "CubaLIF"), Semantics(reset="subtract"), False),
    (("CubaLIF", "LI"), Semantics(reset="zero", integrator="euler"), False),
])
def test_ideal_run_equals_the_reference_on_the_quantized_graph(kinds, sem, recurrent, tmp_path):
    g = net(kinds, (24, 40, 10), sem, recurrent=recurrent)
    art = bk.compile(g, "crossbar-rram", tmp_path / "a")
    x = spikes(24)
    names = ["n0", "n1"]
    res = bk.run(art.path, x, record=names)
    ref = simulate(bk.get("crossbar").quantized_graph(Artifact(art.path)), x, record=names)
    assert np.array_equal(res.spikes["n0"] != 0, ref.spikes["n0"] != 0)
    assert int(ref.spikes["n0"].sum()) > 0
    if kinds[1] == "LI":  # a real-valued readout: the fixed-point state within its rounding
        assert np.abs(ref.v["n1"]).max() > 0.01
        assert np.allclose(res.v["n1"], ref.v["n1"], atol=1e-5)
    else:
        assert np.array_equal(res.spikes["n1"] != 0, ref.spikes["n1"] != 0)
        assert int(ref.spikes["n1"].sum()) > 0


def test_non_finite_weights_are_refused_naming_the_node(tmp_path):
    g = net(("LIF",), (4, 3))
    g.nodes["w0"].weight[1, 2] = np.nan
    with pytest.raises(InvalidModel, match="w0.*non-finite"):
        bk.compile(g, "crossbar-rram", tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_a_layer_larger_than_the_macro_is_refused_naming_the_layer(tmp_path):
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(net(("LIF",), (600, 600)), "crossbar-rram", tmp_path / "a")
    assert e.value.rule == "crossbar_tiles_per_layer" and e.value.where == "n0"
    assert e.value.needed == 5 * 10 and e.value.available == 16  # ceil(600/128) x ceil(600/64)


def test_weights_that_miss_the_requested_precision_are_refused_naming_the_layer(tmp_path):
    g = net(("LIF", "LIF"), (20, 30, 5))
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(g, "crossbar-rram", tmp_path / "a", options={"levels": "3", "max_weight_error": "0.01"})
    assert e.value.rule == "weight_precision" and e.value.where == "n0"
    bk.compile(g, "crossbar-rram", tmp_path / "b", options={"max_weight_error": "0.2"})
    with pytest.raises(UsageError, match="levels=300"):
        bk.compile(g, "crossbar-rram", tmp_path / "c", options={"levels": "300"})


def test_other_bad_inputs(tmp_path):
    g = net(("LIF",), (4, 3))
    g.nodes["n0"].v_threshold[:] = -1
    with pytest.raises(InvalidModel, match="n0.*threshold"):
        bk.compile(g, "crossbar-rram", tmp_path / "a")
    with pytest.raises(UsageError, match="unknown crossbar option"):
        bk.compile(net(("LIF",), (4, 3)), "crossbar-rram", tmp_path / "b", options={"tiles": "3"})
    with pytest.raises(UsageError, match="unknown crossbar effect"):
        bk.compile(net(("LIF",), (4, 3)), "crossbar-rram", tmp_path / "c", options={"effects": "heat"})
    with pytest.raises(UnsupportedNode, match="refractory"):
        bk.compile(net(("LIF",), (4, 3), Semantics(refractory=2e-4)), "crossbar-rram", tmp_path / "d")
    with pytest.raises(UsageError, match="reservoir names nx"):
        bk.compile(net(("LIF",), (4, 3)), "crossbar-rram", tmp_path / "e", options={"reservoir": "nx"})


def test_a_drift_time_before_programming_is_refused(tmp_path):
    art = bk.compile(net(("LIF",), (4, 3)), "crossbar-pcm", tmp_path / "a")
    with pytest.raises(UsageError, match="before programming"):
        bk.run(art.path, spikes(4), engine_options={"drift_time": -1.0})


def layer_of(tmp_path, target, n_in, n_out, effects, seed=0):
    g = net(("LIF",), (n_in, n_out), seed=seed)
    art = bk.compile(g, target, tmp_path / "a")
    spec, arrays = layout.read(Artifact(art.path))
    lay = spec["layers"][0]
    return spec, arrays, lay, simulator.Layer(lay, arrays, spec, effects, 0.0, None, {})


def test_engine_ir_drop_counts_follow_the_exact_circuit(tmp_path):
    spec, arrays, lay, L = layer_of(tmp_path, "crossbar-rram", 120, 100, ("ir_drop",))
    c = spec["circuit"]
    step = (spec["device"]["g_max"] - spec["device"]["g_min"]) / (spec["device"]["levels"] - 1)
    x = (np.random.default_rng(3).random(120) < 0.6).astype(float)
    got = L.counts(x[None], {})[0]
    ideal = simulator.Layer(lay, arrays, spec, (), 0.0, None, {}).counts(x[None], {})[0]
    exact = np.zeros(100)
    for a, b in lay["col_blocks"]:  # each tile column block: its own row drivers
        G = np.empty((120, 2 * (b - a)))
        G[:, 0::2], G[:, 1::2] = arrays["n0.gp"][:, a:b], arrays["n0.gn"][:, a:b]
        cur = irdrop.exact(G, x, c["r_row"], c["r_col"])
        exact[a:b] = (cur[0::2] - cur[1::2]) / step
    scale = np.abs(exact).max()
    assert np.abs(got - exact).max() <= 0.01 * scale + 1
    assert np.abs(ideal - exact).max() > 3 * np.abs(got - exact).max()


def test_adc_codes_stay_in_range_and_round_to_its_step(tmp_path):
    spec, arrays, lay, L = layer_of(tmp_path, "crossbar-rram", 200, 30, ("adc",))
    ideal = simulator.Layer(lay, arrays, spec, (), 0.0, None, {})
    x = (np.random.default_rng(4).random((50, 200)) < 0.5).astype(float)
    lsb = lay["adc_lsb"]
    err = L.counts(x, {}) * lsb - ideal.counts(x, {})
    # per physical column rounding of half a code, two columns per pair, per row block
    assert np.abs(err).max() <= len(lay["row_blocks"]) * lsb + 1e-9
    assert lsb > 1  # 5-bit ADC over 128 rows x 15 levels: coarser than one level (the DRC says so)


def test_energy_counters_count_read_pulses_and_conversions(tmp_path):
    g = net(("LIF",), (200, 100))
    art = bk.compile(g, "crossbar-rram", tmp_path / "a")
    x = spikes(200, p=0.1)
    res = bk.run(art.path, x)
    active = x.reshape(T * B, 200) != 0
    blocks = [(0, 128), (128, 200)]  # 128-row tiles; 100 neurons in two 64-pair column tiles
    per_block = np.stack([active[:, a:b].sum(1) for a, b in blocks], 1)
    assert res.counters["cell_reads"] == active.sum() * 200
    assert res.counters["dac_conversions"] == active.sum() * 2
    assert res.counters["adc_conversions"] == np.count_nonzero(per_block) * 200
    assert res.counters["neuron_updates"] == 100 * T * B


def test_monte_carlo_is_seeded_and_reports_intervals(tmp_path):
    g = net(("LIF", "LIF"), (24, 40, 10))
    art = bk.compile(g, "crossbar-pcm", tmp_path / "a", options={"effects": "all"})
    x = spikes(24)
    labels = np.array([0, 1, 2])
    opts = {"samples": 12, "seed": 5, "drift_time": 3600.0, "labels": labels}
    a = bk.run(art.path, x, engine_options=opts).extra["monte_carlo"]
    b = bk.run(art.path, x, engine_options=opts).extra["monte_carlo"]
    c = bk.run(art.path, x, engine_options={**opts, "seed": 6}).extra["monte_carlo"]
    assert a == b and a["spike_agreement"]["values"] != c["spike_agreement"]["values"]
    v = np.array(a["spike_agreement"]["values"])
    assert 0 < v.mean() < 1 and len(v) == 12
    half = stats.t.ppf(0.975, 11) * v.std(ddof=1) / np.sqrt(12)
    assert a["spike_agreement"]["ci95"] == pytest.approx([v.mean() - half, v.mean() + half], rel=1e-9)
    assert [s["spawn_key"] for s in a["seeds"]] == [[k] for k in range(12)]
    assert "accuracy" in a and 0 <= a["accuracy"]["mean"] <= 1


def test_monte_carlo_refuses_labels_that_do_not_fit_the_batch_before_drawing(tmp_path, monkeypatch):
    art = bk.compile(net(("LIF",), (24, 10)), "crossbar-pcm", tmp_path / "a", options={"effects": "all"})
    calls = []
    monkeypatch.setattr(simulator, "simulate", lambda *a, **k: calls.append(1))
    with pytest.raises(UsageError, match="labels have 2 entries, the batch has 3 samples") as e:
        bk.run(art.path, spikes(24), engine_options={"samples": 50, "labels": np.array([0, 1])})
    assert e.value.where == "labels" and not calls


def test_monte_carlo_draws_do_not_depend_on_where_they_run(tmp_path, monkeypatch):
    """Worker processes (the default), threads (where the process cannot fork safely) and one core
    give the same draws, bit for bit."""
    art = bk.compile(net(("LIF", "LIF"), (24, 40, 10)), "crossbar-pcm", tmp_path / "a", options={"effects": "all"})
    opts = {"samples": 7, "seed": 2, "drift_time": 60.0}
    pools = []

    class Pool(simulator.ProcessPoolExecutor):
        def __init__(self, *a, **k):
            pools.append(k["mp_context"].get_start_method())
            super().__init__(*a, **k)

    monkeypatch.setattr(simulator, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(simulator.os, "cpu_count", lambda: 2)
    runs = [bk.run(art.path, spikes(24), engine_options=opts)]
    assert pools == ["fork"]
    monkeypatch.setattr(simulator.sys, "platform", "darwin")  # fork exists there, but is unsafe
    runs.append(bk.run(art.path, spikes(24), engine_options=opts))
    monkeypatch.setattr(simulator.sys, "platform", "linux")
    monkeypatch.setattr(simulator.mp, "get_all_start_methods", lambda: ["spawn"])
    runs.append(bk.run(art.path, spikes(24), engine_options=opts))
    monkeypatch.setattr(simulator.os, "cpu_count", lambda: 1)
    runs.append(bk.run(art.path, spikes(24), engine_options=opts))
    assert pools == ["fork"]
    first = runs[0].extra["monte_carlo"]
    for r in runs[1:]:
        assert r.extra["monte_carlo"] == first
        assert all(np.array_equal(r.spikes[k], runs[0].spikes[k]) for k in runs[0].spikes)


def test_report_lists_layers_and_design_rules(tmp_path):
    art = bk.compile(net(("LIF",), (200, 30)), "crossbar-rram", tmp_path / "a")
    console = Console(record=True, width=160)
    console.print(bk.get("crossbar").report(Artifact(art.path)))
    text = console.export_text()
    assert "n0" in text and "200 x 30" in text and "ADC step" in text and "design rules" in text


def test_cli_runs_a_monte_carlo(tmp_path):
    import subprocess
    import sys

    from neurodeploy import ir

    ir.write(tmp_path / "m.nir", net(("LIF",), (12, 8)))
    np.save(tmp_path / "x.npy", spikes(12))
    py = [sys.executable, "-m", "neurodeploy"]
    subprocess.run(py + ["compile", str(tmp_path / "m.nir"), "--target", "crossbar-pcm", "-o", str(tmp_path / "a"),
                         "-O", "effects=all"], check=True, capture_output=True, timeout=300)
    proc = subprocess.run(py + ["run", str(tmp_path / "a"), "--input", str(tmp_path / "x.npy"), "--samples", "5",
                                "--seed", "1", "--drift-time", "60", "--out", str(tmp_path / "o.npz")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "5 device draws: spike agreement" in proc.stdout
    bad = subprocess.run(py + ["run", str(tmp_path / "a"), "--input", str(tmp_path / "x.npy"), "--drift-time", "-5",
                               "--out", str(tmp_path / "p.npz")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "drift-time" in bad.stderr and "-5" in bad.stderr


def test_read_noise_on_every_read_has_the_stated_spread(tmp_path):
    """Per read, each selected cell adds N(0, (0.005 g_max)^2) (crossbar-rram: 0.05 uS per cell,
    level step 0.6 uS); a pair's count over n rows then has variance 2 n (0.05/0.6)^2 + 1/12 (the
    ADC's rounding to a level)."""
    spec, arrays, lay, _ = layer_of(tmp_path, "crossbar-rram", 100, 20, ())
    L = simulator.Layer(lay, arrays, spec, ("read_noise",), 0.0, np.random.default_rng(0), {})
    x = np.ones((4000, 100))
    counts = L.counts(x, {})
    expect = 2 * 100 * (0.05 / 0.6) ** 2 + 1 / 12
    assert counts.var(0).mean() == pytest.approx(expect, rel=0.05)
