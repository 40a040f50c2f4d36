"""The committed small SpikeGPT (examples/spikegpt): export against the torch model, the split per
target, greedy generation through the deployed pipeline vs the float model, the MAC/AC split."""
from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.artifact import Artifact
from neurodeploy.errors import ResourceExceeded, UnsupportedNode
from neurodeploy.host import EMULATED, HOST, NATIVE, Runner, compile_pipeline, partition
from neurodeploy.sim.reference import simulate

from test_egru_lm import load

EX = Path(__file__).resolve().parents[1] / "examples"
corpus = load(EX / "egru_lm" / "corpus.py", "lm_corpus")
sg_run = load(EX / "spikegpt" / "run.py", "spikegpt_run")
SpikeGPT = load(EX / "spikegpt" / "model.py", "spikegpt_model").SpikeGPT

MB = 1 << 20


def graph_():
    return ir.load(EX / "spikegpt" / "model.nir")


@pytest.fixture(scope="module")
def graph():
    return graph_()


def torch_model():
    cfg = json.loads((EX / "spikegpt" / "train.json").read_text())["config"]
    m = SpikeGPT(len(corpus.VOCAB), cfg["d"], cfg["layers"], cfg["hidden"]).double()
    with np.load(EX / "spikegpt" / "checkpoint.npz") as z:
        m.load_state_dict({k: torch.from_numpy(z[k].astype(np.float64)) for k in z.files})
    return m.eval()


def test_checkpoint_small_and_shape(graph):
    assert (EX / "spikegpt" / "checkpoint.npz").stat().st_size < 5 * MB
    cfg = json.loads((EX / "spikegpt" / "train.json").read_text())["config"]
    assert 2 <= cfg["layers"] <= 4 and 128 <= cfg["d"] <= 256
    assert set(np.unique(graph.nodes["emb"].weight)) <= {0.0, 1.0}  # binarized embedding


def test_exported_nir_equals_the_torch_model(graph):
    """The NIR reference (dialect nodes + NIR LIF under euler/dt 1/reset zero) vs the training model,
    both float64, on validation text: spikes may flip only where v is within rounding of v_th."""
    _, valid = corpus.load()
    tokens = valid[:150]
    with torch.no_grad():
        want, _ = torch_model()(torch.from_numpy(tokens[:, None]))
    got = simulate(graph, tokens[:, None, None].astype(float), record=["head"]).extra["outputs"]["head"]
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-7, atol=1e-7)


def test_split_per_target(graph):
    """SpiNNaker 2's cores run whole blocks (norms, time/channel mix, LIFs, residual adds); Loihi 2
    only the spiking parts; embedding and head stay on the host for both."""
    s2 = partition(graph, bk.get("spinnaker2"), "spinnaker2")
    where = {n: p.where for n, p in s2.placement.items()}
    assert where["b0.att"] == where["b1.ffn"] == where["ln0"] == where["ln_out"] == EMULATED
    assert where["b0.lif1"] == where["b1.res2"] == NATIVE
    assert where["emb"] == where["head"] == HOST and [s.side for s in s2.segments] == ["host", "chip", "host"]
    lo = partition(graph, bk.get("loihi"), "loihi2")
    on_chip = sorted(n for n, p in lo.placement.items() if p.where == NATIVE)
    assert on_chip == ["b0.lif1", "b0.lif2", "b1.lif1", "b1.lif2"]  # only the spiking parts
    assert "leave the chip" in lo.placement["b0.res1"].why and lo.placement["head"].where == HOST
    assert all(len(c.nodes) == 1 for c in lo.chip_segments) and len(lo.chip_segments) == 4


def test_blocks_on_spinnaker2_cores_equal_the_float_model(tmp_path):
    """Host ONNX (float32) + the cores kernel (FP32) against the float64 reference, 40 tokens."""
    compile_pipeline(graph_(), "spinnaker2", tmp_path / "p", options={"tick": "2e-3", "steps": "40"})
    r = Runner(tmp_path / "p")
    _, valid = corpus.load()
    tok = valid[:40, None, None].astype(float)
    got = r.run(tok)["logits"]
    want = simulate(graph_(), tok, record=["head"]).extra["outputs"]["head"]
    np.testing.assert_allclose(got, want, atol=1e-3 * np.abs(want).max())
    chip = r.parts[1].result
    assert chip.extra["units_used"]["pe"] > 10 and chip.counters["s2_core_cycles"] > 0
    assert chip.counters["spikes"] > 0 and r.crossed.values > 0


def test_ops_are_mostly_macs(graph):
    _, valid = corpus.load()
    ops = sg_run.op_split(graph, valid[:60])
    assert ops["macs"] > 0.95 * ops["synaptic_ops"]
    assert ops["per_node"]["emb"]["macs"] == 0 and ops["per_node"]["emb"]["synaptic_events"] > 0


@pytest.mark.slow
def test_greedy_generation_deployed_matches_float_for_64_tokens(tmp_path):
    """SpiNNaker 2 (FP32 on the cores): the same 64 tokens. Loihi 2 (LIFs on the chip, 12-bit
    graded inputs, its fixed-point neuron): mismatches are reported and come from quantization:
    each LIF layer's spikes agree > 98 % with the float model's, and the perplexity moves little."""
    r = sg_run.main(("spinnaker2", "loihi2"), gen=64, out=tmp_path, chars=200, results=None)
    s2, lo = r["deployed"]["spinnaker2"], r["deployed"]["loihi2"]
    assert s2["generation"]["mismatches"] == 0, (r["generation"]["float"], s2["generation"]["deployed"])
    assert s2["valid_ppl_deployed"] == pytest.approx(r["valid_ppl_float"], rel=1e-3)
    assert min(lo["spike_agreement_with_float"].values()) > 0.98 and len(lo["spike_agreement_with_float"]) == 4
    assert lo["valid_ppl_deployed"] == pytest.approx(r["valid_ppl_float"], rel=0.05)
    assert lo["chip"]["parts"] == 4 and lo["chip"]["macs_per_token"] == 0 and lo["crossing_per_token"]["spikes"] > 0


def small_block(extra=None):
    from neurodeploy.ir import dialect

    rng = np.random.default_rng(2)
    d = 8
    nodes = {"x": nir.Input(input_type={"input": np.array([d])}),
             "ln": dialect.LayerNorm(weight=np.ones(d), bias=np.zeros(d)),
             "ffn": dialect.RWKVChannelMix(mu_k=rng.uniform(0, 1, d), mu_r=rng.uniform(0, 1, d),
                                           W_k=rng.normal(0, 1, (16, d)), W_v=rng.normal(0, 1, (d, 16)),
                                           W_r=rng.normal(0, 1, (d, d))),
             "y": nir.Output(output_type={"output": np.array([d])})}
    edges = [("x", "ln"), ("ln", "ffn"), ("ffn", "y")]
    if extra:
        nodes["c"] = extra
        edges = [("x", "ln"), ("ln", "c"), ("c", "ffn"), ("ffn", "y")]
    return ir.normalize(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))


def test_cores_rules_and_unsupported_nodes_are_named(tmp_path):
    g = small_block()
    with pytest.raises(ResourceExceeded, match="cycles per token"):
        bk.compile(g, "spinnaker2", tmp_path / "a", options={"tick": "1e-6"})
    bad = small_block(nir.Threshold(threshold=np.zeros(8)))
    with pytest.raises(UnsupportedNode, match="c: Threshold has no kernel on SpiNNaker 2's cores"):
        bk.compile(bad, "spinnaker2", tmp_path / "b")
    a = bk.compile(g, "spinnaker2", tmp_path / "c")
    q = bk.get("spinnaker2").quantized_graph(Artifact(a.path))
    np.testing.assert_array_equal(q.nodes["ffn"].W_k, g.nodes["ffn"].W_k.astype(np.float32))


def test_cli_compiles_spikegpt_for_spinnaker2_with_the_split(tmp_path, capsys):
    from neurodeploy.cli import main as cli

    assert cli(["compile", str(EX / "spikegpt" / "model.nir"), "--target", "spinnaker2", "-o", str(tmp_path / "p"),
                "-O", "tick=2e-3", "--report"]) == 0
    out = capsys.readouterr().out
    assert "8 native, 10 emulated, 4 host" in out and "emb->ln0: spikes x128" in out
    assert cli(["compile", str(EX / "spikegpt" / "model.nir"), "--target", "spinnaker2", "-o",
                str(tmp_path / "q")]) == 4  # 1 ms tick: the cycles-per-token rule
