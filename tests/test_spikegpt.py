"""The committed small SpikeGPT (examples/spikegpt): export against the torch model, the split per
target, greedy generation through the deployed pipeline vs the float model, the MAC/AC split."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neurodeploy import backend as bk
from neurodeploy import ir
from neurodeploy.host import EMULATED, HOST, NATIVE, partition
from neurodeploy.sim.reference import simulate

from test_egru_lm import load

EX = Path(__file__).resolve().parents[1] / "examples"
corpus = load(EX / "egru_lm" / "corpus.py", "lm_corpus")
sg_run = load(EX / "spikegpt" / "run.py", "spikegpt_run")
SpikeGPT = load(EX / "spikegpt" / "model.py", "spikegpt_model").SpikeGPT

MB = 1 << 20


@pytest.fixture(scope="module")
def graph():
    return ir.load(EX / "spikegpt" / "model.nir")


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
    s2 = partition(graph, bk.get("spinnaker2"), "spinnaker2")
    where = {n: p.where for n, p in s2.placement.items()}
    assert where["b0.att"] == where["b1.ffn"] == where["emb"] == where["ln_out"] == HOST
    # the LIFs read time/channel-mix values from the host: the spike-only rule keeps them there too
    assert where["b0.lif1"] == HOST and "spikes only" in s2.placement["b0.lif1"].why
    lo = partition(graph, bk.get("loihi"), "loihi2")
    assert lo.placement["b0.lif1"].where == NATIVE and lo.placement["b0.att"].where == HOST
    assert EMULATED not in {p.where for p in lo.placement.values()}


def test_ops_are_mostly_macs(graph):
    _, valid = corpus.load()
    ops = sg_run.op_split(graph, valid[:60])
    assert ops["macs"] > 0.95 * ops["synaptic_ops"]
    assert ops["per_node"]["emb"]["macs"] == 0 and ops["per_node"]["emb"]["synaptic_events"] > 0


@pytest.mark.slow
def test_greedy_generation_deployed_matches_float_for_64_tokens(tmp_path):
    r = sg_run.main("spinnaker2", gen=64, out=tmp_path, chars=200)
    g = r["generation"]
    assert g["mismatches"] == 0, (g["float"], g["deployed"])
    assert r["valid_ppl_deployed"] == pytest.approx(r["valid_ppl_float"], rel=1e-3)
