"""The energy model on hand-made counters: every expected number is computed here from the TOML
values (read with tomllib) and the counts, never by calling the code under test."""
from __future__ import annotations

import math
import tomllib

import nir
import numpy as np
import pytest

from neurodeploy import targets as tg
from neurodeploy.energy import baseline, estimate
from neurodeploy.errors import TargetError, UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.result import Result

TOY = """
[target]
name = "toy"
backend = "none"
description = "a made-up chip for the energy tests"
[timing]
tick = { value = 1, unit = "ms", source = "test", confidence = "estimate" }
[energy.dynamic]
synaptic_events = { low = 20, high = 45, unit = "pJ", source = "paper A vs paper B", confidence = "src" }
neuron_updates = { value = 0.05, unit = "nJ", source = "paper C", confidence = "2nd" }
hops = { value = 3, unit = "pJ", source = "paper D", confidence = "src" }
sram_reads = { value = 10, unit = "pJ", source = "Horowitz", confidence = "unverified" }
[energy.static]
idle_power_per_chip = { value = 100, unit = "mW", source = "paper E", confidence = "derived" }
sleep_power_per_pe = { low = 1, high = 3, unit = "mW", source = "paper F", confidence = "derived" }
[energy.assumptions]
voltage = "0.75 V"
"""
T, B = 10, 4


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    return path


def _result(**extra):
    return Result(
        spikes={"lif": np.zeros((T, B, 3))},
        counters={"synaptic_events": 1000, "neuron_updates": 120, "hops": 50, "spikes": 7, "ticks": T},
        per_layer={"fc1": {"synaptic_events": 600, "neuron_updates": 80}, "fc2": {"synaptic_events": 400, "neuron_updates": 40}},
        per_unit={"pe0": {"synaptic_events": 700, "hops": 50}, "pe1": {"synaptic_events": 300}},
        sim_time_s=T * 1e-3, extra={"units_used": {"chip": 1, "pe": 2}, **extra})


def test_totals_breakdown_and_ranges(toy):
    coef = tomllib.loads(TOY)["energy"]
    syn, nu, hop = coef["dynamic"]["synaptic_events"], coef["dynamic"]["neuron_updates"], coef["dynamic"]["hops"]
    idle, sleep = coef["static"]["idle_power_per_chip"], coef["static"]["sleep_power_per_pe"]
    t_run = T * 1e-3
    syn_low, syn_high = 1000 * syn["low"] * 1e-12, 1000 * syn["high"] * 1e-12
    syn_point = 1000 * math.sqrt(syn["low"] * syn["high"]) * 1e-12
    nu_j = 120 * nu["value"] * 1e-9
    hop_j = 50 * hop["value"] * 1e-12
    idle_j = idle["value"] * 1e-3 * 1 * t_run
    sleep_low, sleep_high = sleep["low"] * 1e-3 * 2 * t_run, sleep["high"] * 1e-3 * 2 * t_run
    sleep_point = math.sqrt(sleep["low"] * sleep["high"]) * 1e-3 * 2 * t_run

    rep = estimate(_result(), str(toy))
    assert rep.by_event["synaptic_events"].energy.low == pytest.approx(syn_low)
    assert rep.by_event["synaptic_events"].energy.high == pytest.approx(syn_high)
    assert rep.by_event["synaptic_events"].energy.point == pytest.approx(syn_point)
    assert rep.by_event["neuron_updates"].energy.point == pytest.approx(nu_j)
    assert rep.dynamic.low == pytest.approx(syn_low + nu_j + hop_j)
    assert rep.dynamic.high == pytest.approx(syn_high + nu_j + hop_j)
    assert rep.static.low == pytest.approx(idle_j + sleep_low)
    assert rep.static.high == pytest.approx(idle_j + sleep_high)
    assert rep.total.point == pytest.approx(syn_point + nu_j + hop_j + idle_j + sleep_point)
    assert rep.total.low < rep.total.point < rep.total.high
    # per inference = per sample of the batch; per step = per sample-step
    assert rep.per_inference.high == pytest.approx((syn_high + nu_j + hop_j + idle_j + sleep_high) / B)
    assert rep.per_step.low == pytest.approx((syn_low + nu_j + hop_j + idle_j + sleep_low) / (B * T))
    assert rep.per_token is None
    # per layer / per unit: their own counters x the same coefficients
    assert rep.per_layer["fc1"]["synaptic_events"].high == pytest.approx(600 * syn["high"] * 1e-12)
    assert rep.per_layer["fc2"]["neuron_updates"].point == pytest.approx(40 * nu["value"] * 1e-9)
    assert rep.per_unit["pe0"].low == pytest.approx(700 * syn["low"] * 1e-12 + 50 * hop["value"] * 1e-12)
    # what is and is not counted, said out loud
    assert rep.not_priced == ["spikes"]
    assert rep.not_modelled == ["sram_reads"]
    assert rep.assumptions["voltage"] == "0.75 V"
    assert "1 ms" in rep.assumptions["timing.tick"]
    assert rep.by_event["synaptic_events"].coefficient.source == "paper A vs paper B"
    assert rep.warnings == []


def test_per_run_token_and_count(toy):
    whole = estimate(_result(), str(toy)).total
    assert estimate(_result(), str(toy), per="run").per_inference.point == pytest.approx(whole.point)
    tok = estimate(_result(), str(toy), per="token")
    assert tok.per_token.point == pytest.approx(whole.point / (T * B))
    assert estimate(_result(), str(toy), per=8).per_inference.point == pytest.approx(whole.point / 8)
    with pytest.raises(UsageError, match="per must be"):
        estimate(_result(), str(toy), per="banana")


def test_missing_unit_count_is_a_warning_not_a_guess(toy):
    r = _result()
    r.extra["units_used"] = {"chip": 1}
    rep = estimate(r, str(toy))
    assert "sleep_power_per_pe" not in rep.static_lines
    assert any("sleep_power_per_pe" in w and "'pe'" in w for w in rep.warnings)
    assert rep.static.point == pytest.approx(100e-3 * T * 1e-3)


@pytest.mark.parametrize("bad, match", [
    ('hops = { value = 3, unit = "pJ/bit", source = "x", confidence = "src" }', "energy.dynamic.hops has unit"),
    ('[energy.static]\nidle = { value = 3, unit = "mW", source = "x", confidence = "src" }', "must be named"),
])
def test_bad_coefficients_are_named(tmp_path, bad, match):
    text = TOY.replace('hops = { value = 3, unit = "pJ", source = "paper D", confidence = "src" }', "")
    if bad.startswith("[energy.static]"):
        text = text.replace("[energy.static]", bad)
    else:
        text = text.replace("[energy.dynamic]", "[energy.dynamic]\n" + bad)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(TargetError, match=match):
        estimate(_result(), str(path))


def _ff_graph():
    rng = np.random.default_rng(3)
    w1, w2 = rng.normal(size=(5, 4)), rng.normal(size=(3, 5))
    lif = lambda n: nir.LIF(tau=np.full(n, 2e-3), r=np.full(n, 20.0), v_leak=np.zeros(n),  # noqa: E731
                            v_threshold=np.ones(n))
    nodes = {"input": nir.Input(input_type={"input": np.array([4])}), "fc1": nir.Affine(w1, np.zeros(5)),
             "lif1": lif(5), "fc2": nir.Affine(w2, np.zeros(3)), "lif2": lif(3),
             "output": nir.Output(output_type={"output": np.array([3])})}
    chain = list(nodes)
    out_shape = {"input": (4,), "fc1": (5,), "lif1": (5,), "fc2": (3,), "lif2": (3,), "output": (3,)}
    in_shape = {**out_shape, "fc1": (4,), "fc2": (5,)}
    return Graph(nodes, list(zip(chain, chain[1:])), in_shape, out_shape)


def test_baseline_is_dense_macs_times_published_figures():
    spec = tomllib.loads((tg.TARGETS_DIR / "baselines" / "conventional.toml").read_text())["devices"]
    g = _ff_graph()
    macs = (4 * 5 + 5 * 3) * T * B
    updates = (5 + 3) * T * B
    b = baseline(g, steps=T, batch=B)
    assert b["dense_macs"] == macs and b["neuron_updates"] == updates
    for dev in ("cpu_i7_4960x", "gpu_titan_black", "fp32_mac_45nm"):
        want = (macs * spec[dev]["mac"]["value"] + updates * spec[dev]["neuron_update"]["value"]) * 1e-12
        assert b["devices"][dev]["energy"].point == pytest.approx(want)
    assert "Degnan" in b["devices"]["gpu_titan_black"]["mac_source"]


def test_real_target_file_with_reference_counters():
    """loihi1.toml coefficients x the reference simulator's counters, recomputed by hand."""
    from neurodeploy.sim.reference import simulate

    coef = tomllib.loads((tg.TARGETS_DIR / "loihi1.toml").read_text())["energy"]
    g = _ff_graph()
    x = (np.random.default_rng(0).random((T, B, 4)) < 0.5).astype(float)
    r = simulate(g, x, record=["lif1", "lif2"])
    r.extra["units_used"] = {"chip": 1}
    rep = estimate(r, "loihi1", graph=g, inputs=x)
    low = high = 0.0
    for name, q in coef["dynamic"].items():
        if name in r.counters:
            low += r.counters[name] * q.get("low", q.get("value")) * 1e-12
            high += r.counters[name] * q.get("high", q.get("value")) * 1e-12
    static = sum(q.get("value", q.get("low")) * 1e-3 * T * 1e-4 for q in coef["static"].values())
    assert rep.dynamic.low == pytest.approx(low) and rep.dynamic.high == pytest.approx(high)
    assert rep.total.low == pytest.approx(low + static)
    assert low > 0
    assert rep.neurobench["SynapticOperations"]["Dense"] == (4 * 5 + 5 * 3) * T
    ratio = rep.baseline["devices"]["gpu_titan_black"]["ratio"]
    assert ratio.low <= ratio.point <= ratio.high
