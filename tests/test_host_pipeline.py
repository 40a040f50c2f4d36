"""The host/chip partition and the pipeline runner: a real-valued first layer goes to the host for
a spike-only target (SpiNNaker 2), host ONNX -> chip simulator -> host per step, crossings counted."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.errors import TargetError, UsageError
from neurodeploy.host import EMULATED, HOST, NATIVE, Runner, compile_pipeline, partition
from neurodeploy.ir import dialect
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

from test_dialect import port

rng = np.random.default_rng(3)
DT = 1e-3


def snn(n=6, h=8, o=4):
    """Input (real) -> fc1 -> if1 -> fc2 -> if2 -> out, IF neurons with k_x = dt*r = 1 and integer
    weights and thresholds: exactly representable as SpiNNaker 2 int8 words (weight_scaling=none)."""
    IF = lambda k: nir.IF(r=np.full(k, 1 / DT), v_threshold=np.full(k, 40.0))  # noqa: E731
    nodes = {"in": port("in", n), "fc1": nir.Affine(weight=rng.normal(0, 1, (h, n)), bias=np.zeros(h)),
             "if1": IF(h), "fc2": nir.Linear(weight=rng.integers(-20, 40, (o, h)).astype(float)), "if2": IF(o),
             "out": port("out", o)}
    edges = [("in", "fc1"), ("fc1", "if1"), ("if1", "fc2"), ("fc2", "if2"), ("if2", "out")]
    return ir.normalize(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False),
                        Semantics(dt=DT, reset="subtract"))


class Declared:
    """A backend described only by the capability attributes the partition reads."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def test_real_valued_first_layer_goes_to_the_host_for_a_spike_only_target():
    g = snn()
    split = partition(g, Declared(spike_inputs_only=True), "t", real_input=True)
    where = {n: p.where for n, p in split.placement.items()}
    assert where == {"in": HOST, "fc1": HOST, "if1": HOST, "fc2": NATIVE, "if2": NATIVE, "out": NATIVE}
    assert "spikes only" in split.placement["fc1"].why
    assert [s.side for s in split.segments] == ["host", "chip"]
    assert [(c.src, c.dst, c.kind, c.width) for c in split.crossings] == [("if1", "fc2", "spikes", 8)]
    # spike input, or a target that takes values: everything on the chip
    assert not partition(g, Declared(spike_inputs_only=True), "t").needs_host
    assert not partition(g, Declared(), "t", real_input=True).needs_host


def test_dialect_ops_host_unless_the_target_declares_them():
    h, V, d = 5, 7, 4
    g = ir.normalize(nir.NIRGraph(nodes={
        "tok": port("in", 1), "emb": dialect.Embedding(weight=rng.normal(0, 1, (V, d))),
        "egru": dialect.EGRU(W=rng.normal(0, 1, (3 * h, d)), R=rng.normal(0, 1, (3 * h, h)), b_W=np.zeros(3 * h),
                             b_R=np.zeros(3 * h), threshold=np.full(h, .1)),
        "head": nir.Affine(weight=rng.normal(0, 1, (V, h)), bias=np.zeros(V)), "out": port("out", V)},
        edges=[("tok", "emb"), ("emb", "egru"), ("egru", "head"), ("head", "out")], type_check=False))
    plain = partition(g, Declared(spike_inputs_only=True), "t")
    assert {n: p.where for n, p in plain.placement.items() if n != "head"} == dict.fromkeys(
        ("tok", "emb", "egru", "out"), HOST)
    # head is fed by EGRU values from the host: moved there too on a spike-only target
    assert plain.placement["head"].where == HOST and not plain.chip_segments
    em = partition(g, Declared(spike_inputs_only=True, emulated_ops=("EGRU",)), "t")
    assert [(n, em.placement[n].where) for n in ("emb", "egru")] == [("emb", HOST), ("egru", EMULATED)]
    assert [s.side for s in em.segments] == ["host", "chip", "host"]
    assert [c.kind for c in em.crossings] == ["values", "values"]


def test_pipeline_on_spinnaker2_equals_the_float_reference(tmp_path):
    g = snn()
    split = compile_pipeline(g, "spinnaker2", tmp_path / "p", real_input=True, dtype=np.float64,
                             options={"weight_scaling": "none"})
    assert split.counts() == {NATIVE: 3, EMULATED: 0, HOST: 3}
    T = 30
    x = rng.normal(0, 60, (T, 1, 6))
    want = simulate(g, x, record=["if1", "out"])
    assert want.spikes["out"].sum() > 5
    r = Runner(tmp_path / "p")
    np.testing.assert_array_equal(r.run(x)["out"], want.spikes["out"])
    assert r.crossed.spikes == int(want.spikes["if1"].sum()) and r.crossed.values == 0
    # step by step (the chip part replayed on its input history) gives the same
    r.reset()
    steps = np.stack([r.step(x[t])["out"] for t in range(T)])
    np.testing.assert_array_equal(steps, want.spikes["out"])
    assert r.crossed.steps == T


def test_pipeline_directory_is_checked(tmp_path):
    g = snn()
    compile_pipeline(g, "spinnaker2", tmp_path / "p", real_input=True, options={"weight_scaling": "none"})
    with pytest.raises(UsageError, match="--force"):
        compile_pipeline(g, "spinnaker2", tmp_path / "p", real_input=True)
    (tmp_path / "p" / "host_0.onnx").write_bytes(b"tampered")
    with pytest.raises(TargetError, match="host_0.onnx.*checksum"):
        Runner(tmp_path / "p")
    # the chip part alone still fails on real-valued input, as before
    chip = tmp_path / "p" / "chip_1"
    with pytest.raises(UsageError, match="binary"):
        bk.run(chip, rng.normal(0, 1, (5, 1, 8)))


def test_split_report_and_token_energy(tmp_path):
    from rich.console import Console

    from neurodeploy.host.report import host_energy, split_table, token_energy

    g = snn()
    compile_pipeline(g, "spinnaker2", tmp_path / "p", real_input=True, options={"weight_scaling": "none"})
    r = Runner(tmp_path / "p")
    con = Console(width=200, record=True)
    con.print(split_table(r.m))
    text = con.export_text()
    assert "fc1" in text and "spikes only" in text and "if1->fc2: spikes x8" in text
    r.run(rng.normal(0, 60, (20, 1, 6)))
    e = token_energy(r)
    # host: fc1 (8x6 MACs) + 8 IF updates per token at the i7 figure (8.6 nJ per op, conventional.toml)
    assert e["host"].point == pytest.approx((8 * 6 + 8) * 8.6e-9)
    assert e["chip"].point > 0 and e["total"].point == pytest.approx(e["host"].point + e["chip"].point)
    assert host_energy(r.m, 1, "gpu_titan_black")[0].point == pytest.approx((8 * 6 + 8) * 0.3e-9)
    with pytest.raises(UsageError, match="no host device"):
        host_energy(r.m, 1, "abacus")


def test_cli_compiles_and_runs_a_split_model(tmp_path, capsys):
    from neurodeploy.cli import main

    g = snn()
    ir.write(tmp_path / "m.nir", g)
    cmd = ["compile", str(tmp_path / "m.nir"), "--target", "spinnaker2", "-o", str(tmp_path / "p"),
           "-O", "weight_scaling=none"]
    assert main(cmd + ["-O", "input=sideways"]) == 2
    assert main(cmd + ["-O", "input=real", "--report"]) == 0
    text = capsys.readouterr().out
    assert "3 native, 0 emulated, 3 host" in text and "host/chip split" in text
    assert main(cmd + ["-O", "input=real"]) == 2  # exists
    assert main(cmd + ["-O", "input=real", "--force"]) == 0
    x = rng.normal(0, 60, (25, 1, 6))
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(tmp_path / "p"), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "o.npz")]) == 0
    with np.load(tmp_path / "o.npz") as z:
        np.testing.assert_array_equal(z["out.out"], simulate(g, x).spikes["out"])
    # without input=real the graph fits the chip: a plain artifact, as before
    assert main(["compile", str(tmp_path / "m.nir"), "--target", "spinnaker2", "-o", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "manifest.json").is_file()


def test_runner_checks_inputs_and_takes_a_batch(tmp_path):
    g = snn()
    compile_pipeline(g, "spinnaker2", tmp_path / "p", real_input=True, dtype=np.float64,
                     options={"weight_scaling": "none"})
    r = Runner(tmp_path / "p")
    with pytest.raises(UsageError, match="in: input has shape"):
        r.run(np.zeros((5, 1, 7)))
    with pytest.raises(UsageError, match="no model input named nope"):
        r.run({"nope": np.zeros((5, 6))})
    x = rng.normal(0, 60, (20, 3, 6))
    np.testing.assert_array_equal(r.run(x)["out"], simulate(g, x).spikes["out"])
    assert r.batch == 3


def test_values_into_an_integer_event_chip_are_quantized_at_the_boundary(tmp_path):
    """LayerNorm (host) -> LIF on Loihi 2: the host sends round(x/q) as graded events, q folded into
    the LIF's r, the chip's one-step synapse delay compensated; spikes as the float model's."""
    d = 16
    g = ir.normalize(nir.NIRGraph(nodes={
        "x": port("in", d), "ln": dialect.LayerNorm(weight=rng.uniform(0.5, 2, d), bias=rng.normal(0, .3, d)),
        "lif": nir.LIF(tau=np.full(d, 2.0), r=np.ones(d), v_leak=np.zeros(d), v_threshold=np.full(d, 0.8)),
        "out": port("out", d)}, edges=[("x", "ln"), ("ln", "lif"), ("lif", "out")], type_check=False),
        Semantics(dt=1.0, integrator="euler", reset="zero"))
    x = rng.normal(0, 1, (60, 1, d))
    with pytest.raises(UsageError, match="integer events.*-O input_bits"):
        compile_pipeline(g, "loihi2", tmp_path / "a", calibration=x)
    with pytest.raises(UsageError, match="calibration"):
        compile_pipeline(g, "loihi2", tmp_path / "a", options={"input_bits": "12"})
    compile_pipeline(g, "loihi2", tmp_path / "a", options={"input_bits": "12"}, calibration=x)
    r = Runner(tmp_path / "a")
    assert r.parts[1].lag == 1 and r.m["segments"][1]["scale"]["ln"] > 0
    want = simulate(g, x).spikes["out"]
    got = r.run(x)["out"]
    assert want.sum() > 100 and (got == want).mean() > 0.98
