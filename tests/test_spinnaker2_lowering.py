"""SpiNNaker 2 on the shared lowering core: the exact CubaLIF, the simulator's own convolution,
recording named nodes, and hardware numbers read from the target file."""
from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy import targets as tg
from neurodeploy.artifact import Artifact
from neurodeploy.backends.spinnaker2 import simulator
from neurodeploy.backends.spinnaker2.simulator import mla_synapses
from neurodeploy.errors import ResourceExceeded, UnsupportedSemantics
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate
from test_spinnaker2_counters import net as counters_net

N_IN, N, T, DT, TS, TM = 20, 8, 60, 1e-3, 3e-3, 5e-3


def cuba_graph(integrator="exact", threshold=1e6) -> Graph:
    rng = np.random.default_rng(0)
    w = rng.integers(-15, 16, (N, N_IN)).astype(np.float32)
    w[:, 0] = 15  # every row's largest |w| is 15 = the 4-bit word's range: tap 0 is exact
    nodes = {"in": nir.Input(input_type={"input": np.array([N_IN])}), "w": nir.Linear(weight=w),
             "c": nir.CubaLIF(tau_syn=np.full(N, TS), tau_mem=np.full(N, TM), r=np.ones(N), v_leak=np.zeros(N),
                              v_threshold=np.full(N, threshold), w_in=np.ones(N)),
             "out": nir.Output(output_type={"output": np.array([N])})}
    sh = {"in": (N_IN,), "w": (N,), "c": (N,), "out": (N,)}
    return Graph(nodes, [("in", "w"), ("w", "c"), ("c", "out")], dict(sh, w=(N_IN,)), sh,
                 semantics=Semantics(dt=DT, integrator=integrator))


def spikes(seed=1) -> np.ndarray:
    return (np.random.default_rng(seed).random((T, 2, N_IN)) < 0.3).astype(np.float32)


def test_exact_cubalif_follows_the_coupled_solution(tmp_path):
    """The reference's exact CubaLIF (coupled current/voltage solution) against the chip's two-tap
    mapping; the old one-tap mapping (current, then v with gain 1 - a_m) is shown to be 3x further off."""
    g, x = cuba_graph(), spikes()
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"conn_delay": "1", "steps": str(T)})
    v_ref = simulate(g, x, record=["c"]).v["c"]
    err = np.abs(bk.run(art.path, x, record=["out"]).v["out"] - v_ref).max() / np.abs(v_ref).max()
    a_s, a_m = np.exp(-DT / TS), np.exp(-DT / TM)
    i, v, one_tap = np.zeros((2, N)), np.zeros((2, N)), []
    for t in range(T):
        i = a_s * i + (1 - a_s) * (x[t] @ np.asarray(g.nodes["w"].weight, np.float64).T)
        v = a_m * v + (1 - a_m) * i
        one_tap.append(v)
    err_one = np.abs(np.array(one_tap) - v_ref).max() / np.abs(v_ref).max()
    assert err < 0.03 and err_one > 3 * err, (err, err_one)
    projs = {p["name"]: p for p in art.manifest["spinnaker2"]["projections"]}
    assert (projs["w"]["delay"], projs["w@tap1"]["delay"]) == (1, 2)


def test_exact_cubalif_without_delays_is_refused(tmp_path):
    with pytest.raises(UnsupportedSemantics, match="CubaLIF") as e:
        bk.compile(cuba_graph(), "spinnaker2", tmp_path / "a")
    assert e.value.where == "c" and "conn_delay" in str(e.value)
    bk.compile(cuba_graph("euler"), "spinnaker2", tmp_path / "b")  # one tap is exact under Euler
    with pytest.raises(ResourceExceeded) as r:  # the second tap needs one more tick than the delay field holds
        bk.compile(cuba_graph(), "spinnaker2", tmp_path / "c", options={"conn_delay": "7"})
    assert r.value.rule == "delay range" and (r.value.needed, r.value.available) == (8, 7)


@pytest.mark.parametrize("pool,stride,pad", [(1, 1, 1), (2, 1, 0), (2, 2, 1)])
def test_simulator_convolution_is_torch(pool, stride, pad):
    rng = np.random.default_rng(2)
    ci, co, h = 2, 3, 8
    kernel = rng.integers(-3, 4, (ci, co, 3, 3)).astype(np.int8)  # MLA order (in_c, out_c, kh, kw)
    x = rng.normal(size=(ci, h, h))
    want = F.conv2d(F.avg_pool2d(torch.tensor(x[None]), pool) * pool * pool,
                    torch.tensor(kernel.swapaxes(0, 1), dtype=torch.float64), stride=stride, padding=pad)[0].numpy()
    p = {"in_height": h, "in_width": h, "pool_y": pool, "pool_x": pool, "stride_y": stride, "stride_x": stride,
         "pad_top": pad, "pad_left": pad, "out_height": want.shape[1], "out_width": want.shape[2], "out_offset": 5}
    n = want.size - 7  # a slice of output atoms 5 .. size - 2
    tgt, col, w = mla_synapses(kernel, p, n)
    got = np.bincount(tgt, w * x.ravel()[col], minlength=n)
    assert np.allclose(got, want.ravel()[5:5 + n])


def test_record_named_nodes(tmp_path):
    g = cuba_graph("euler", threshold=20.0)
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"record": "in,c", "steps": str(T)})
    pops = {p["name"]: p for p in art.json("runspec.json")["populations"]}
    assert pops["in"]["record_spikes"] and pops["c"]["record_v"] and not pops["in"]["record_v"]
    res = bk.run(art.path, spikes(), record=["c"])
    assert res.spikes["c"].shape == (T, 2, N) and res.v["c"].shape == (T, 2, N)
    assert art.json("runspec.json")["steps"] == T


def test_hardware_numbers_come_from_the_target_file(tmp_path):
    text = (tg.TARGETS_DIR / "spinnaker2.toml").read_text()
    assert 'weight_max_int8 = { value = 127' in text and 'router_qpe_y = { value = 3' in text
    own = tmp_path / "s2-variant.toml"
    own.write_text(text.replace('weight_max_int8 = { value = 127', 'weight_max_int8 = { value = 63')
                   .replace('router_qpe_y = { value = 3', 'router_qpe_y = { value = 4')
                   .replace('default_tick = { value = 1e-3', 'default_tick = { value = 2e-3'))
    g = cuba_graph("euler", threshold=20.0)
    art = bk.compile(g, str(own), tmp_path / "a")
    spec = art.json("runspec.json")
    assert spec["router_qpe"] == [4, 4] and spec["tick_s"] == 2e-3 and spec["steps"] == 100
    d = np.load(art.file("network_s2.npz"))
    assert max(int(np.abs(d[k]).max()) for k in d.files if k.endswith(("/w_dense", "/data"))) == 63
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(g, str(own), tmp_path / "b", options={"weight_scale": "10"})
    assert e.value.rule == "weight range" and e.value.available == 63


def test_the_board_target_differs_from_the_chip_only_where_it_says():
    chip, board = tg.load("spinnaker2"), tg.load("spinnaker2-48chip")
    differ = sorted(k for k in set(chip.quantities) | set(board.quantities)
                    if chip.quantities.get(k) != board.quantities.get(k))
    # the router table is used between chips only, so only the board gives its size
    assert differ == ["geometry.boards_max", "geometry.chips_per_board", "geometry.chips_x", "geometry.chips_y",
                      "limits.router_entries", "timing.board_link_latency"]
    assert json.dumps(chip.get("geometry.qpe_absent")) == json.dumps(board.get("geometry.qpe_absent"))


def test_quantized_cnn_is_the_chip_spike_for_spike(realdata, tmp_path):
    """The NIR paper CNN (convolutions on the MLA, pooling, dense layers): the float reference run on
    the artifact's own integer weights and parameters (`quantized_graph`) spikes exactly as the chip."""
    g = ir.load(realdata / "cnn" / "cnn_sinabs.nir", semantics=Semantics(dt=1.0))
    steps, layers = 12, ["1", "3", "6", "10", "12"]
    x = (np.random.default_rng(5).random((steps, 6, 2, 34, 34)) < 0.05).astype(np.float32)
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"steps": str(steps), "record": "all"})
    chip = bk.run(art.path, x, record=layers)
    q = bk.get("spinnaker2").quantized_graph(Artifact(art.path))
    ref = simulate(q, x, record=layers)
    for name in layers:
        assert ref.spikes[name].sum() > 0, name
        assert np.array_equal(chip.spikes[name].reshape(ref.spikes[name].shape), ref.spikes[name]), name


def test_quantized_recurrent_cubalif_is_the_chip_spike_for_spike(realdata, tmp_path):
    """The NIR paper's Braille RNN (CubaLIF, Euler, a recurrent projection) read back as a float model.
    Leaks and biases set to zero: the chip applies i_offset from tick 0, so a population k ticks behind the
    reference has integrated k more ticks of it (simulator.py), which no float model of the graph has."""
    g = ir.load(realdata / "rnn" / "braille_noDelay_bias_zero.nir",
                semantics=Semantics(reset="zero", integrator="euler"))
    for node in g.nodes.values():
        if isinstance(node, nir.CubaLIF):
            node.v_leak = np.zeros_like(node.v_leak)
        if isinstance(node, nir.Affine):
            node.bias = np.zeros_like(node.bias)
    x = (np.random.default_rng(6).random((50, 4, 12)) < 0.3).astype(np.float32)
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"steps": "50", "record": "all"})
    pops = [p["name"] for p in art.json("runspec.json")["populations"] if p["model"] != "spike_list"]
    chip = bk.run(art.path, x, record=pops)
    ref = simulate(bk.get("spinnaker2").quantized_graph(Artifact(art.path)), x, record=pops)
    for name in pops:
        assert ref.spikes[name].sum() > 0, name
        assert np.array_equal(chip.spikes[name], ref.spikes[name]), name


def test_simulator_routing_walk_agrees_with_the_compilers(tmp_path):
    """Two implementations of one spike's traffic across chips: the compiler's (walking the tables it
    built, route.py) and the simulator's (walking the tables read back from routing.npz)."""
    g, _ = counters_net()
    opts = {"steps": "10", "max_atoms_per_core": "1"}
    art = bk.compile(g, "spinnaker2-48chip", tmp_path / "a", options=opts)
    paths = bk.plan(g, "spinnaker2-48chip", opts).decisions.paths
    m = simulator.load(Artifact(art.path))
    first = m.neuron_base  # one neuron per PE: its row is the PE's per-spike traffic
    n = m.n_pe
    for name in simulator.TRAFFIC:
        col = m.counts[:, len(simulator.BLOCKS) * n + simulator.TOTALS.index(name)].toarray().ravel()
        assert np.array_equal(col[first], paths[name]), name
    assert paths["link_hops"].sum() > 0


def test_quantized_exact_cubalif_is_the_chip_spike_for_spike(tmp_path):
    """The two-tap mapping read back (tap 1 behind a one-step delay) spikes exactly as the chip."""
    g, x = cuba_graph(threshold=8.0), spikes()
    art = bk.compile(g, "spinnaker2", tmp_path / "a", options={"conn_delay": "1", "steps": str(T)})
    chip = bk.run(art.path, x, record=["out"])
    ref = simulate(bk.get("spinnaker2").quantized_graph(Artifact(art.path)), x, record=["c"])
    assert ref.spikes["c"].sum() > 0
    assert np.array_equal(chip.spikes["out"], ref.spikes["c"])
