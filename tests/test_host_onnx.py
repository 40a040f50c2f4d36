"""Host segments exported to ONNX and run with onnxruntime, against independent implementations:
the torch peers (EGRU, RWKV), torch's layer_norm/embedding, and the NumPy reference (NIR neurons)."""
from __future__ import annotations

import nir
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from neurodeploy import ir
from neurodeploy.errors import UnsupportedNode, UnsupportedSemantics
from neurodeploy.host.onnx_export import export
from neurodeploy.host.placement import Segment
from neurodeploy.ir import dialect
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

from peers import egru_torch, rwkv_torch
from test_dialect import port

rng = np.random.default_rng(5)


def graph(nodes, edges, sem=None):
    return ir.normalize(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), sem)


def whole(g):
    """The whole graph as one host segment."""
    return Segment(0, "host", tuple(g.order), (), tuple(g.outputs))


def run_onnx(part, xs: dict, batch: int):
    """Step the ONNX graph over (T, B, ...) inputs keyed by node name; outputs (T, B, ...)."""
    sess = ort.InferenceSession(part.model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    state = {k: np.repeat(v, batch, axis=0) for k, v in part.state0.items()}
    T = len(next(iter(xs.values())))
    outs = {n: [] for n in part.outputs}
    for t in range(T):
        feed = {f"in:{k}": v[t] for k, v in xs.items()}
        res = dict(zip(names, sess.run(names, {**feed, **state})))
        state = {"state:" + k[5:]: v for k, v in res.items() if k.startswith("next:")}
        for n in part.outputs:
            outs[n].append(res[f"out:{n}"])
    return {n: np.stack(v) for n, v in outs.items()}


def tt(a):
    return torch.from_numpy(np.asarray(a, np.float64))


def test_spikegpt_chain_matches_torch_peers_in_float64():
    T, B, V, d, f = 40, 2, 11, 6, 12
    emb = dialect.Embedding(weight=rng.normal(0, 1, (V, d)))
    ln = dialect.LayerNorm(weight=rng.normal(1, 0.2, d), bias=rng.normal(0, 0.2, d))
    att = dialect.RWKVTimeMix(mu_k=rng.uniform(0, 1, d), mu_v=rng.uniform(0, 1, d), mu_r=rng.uniform(0, 1, d),
                              W_k=rng.normal(0, 1, (d, d)), W_v=rng.normal(0, 1, (d, d)), W_r=rng.normal(0, 1, (d, d)),
                              W_o=rng.normal(0, 1, (d, d)), time_decay=rng.normal(-1, 1, d), time_first=rng.normal(0, 1, d))
    ffn = dialect.RWKVChannelMix(mu_k=rng.uniform(0, 1, d), mu_r=rng.uniform(0, 1, d), W_k=rng.normal(0, 1, (f, d)),
                                 W_v=rng.normal(0, 1, (d, f)), W_r=rng.normal(0, 1, (d, d)))
    g = graph({"tok": port("in", 1), "emb": emb, "ln": ln, "att": att, "ffn": ffn, "out": port("out", d)},
              [("tok", "emb"), ("emb", "ln"), ("ln", "att"), ("att", "ffn"), ("ffn", "out")])
    part = export(g, whole(g), np.float64)
    tokens = rng.integers(0, V, (T, B))
    y = run_onnx(part, {"tok": tokens[:, :, None].astype(float)}, B)["out"]
    x = F.embedding(torch.from_numpy(tokens.T), tt(emb.weight))
    a = rwkv_torch.time_mix(F.layer_norm(x, (d,), tt(ln.weight), tt(ln.bias), 1e-5),
                            *(tt(getattr(att, k)) for k in ("mu_k", "mu_v", "mu_r", "W_k", "W_v", "W_r", "W_o",
                                                           "time_decay", "time_first")))
    want = rwkv_torch.channel_mix(a, *(tt(getattr(ffn, k)) for k in ("mu_k", "mu_r", "W_k", "W_v", "W_r")))
    np.testing.assert_allclose(y, want.transpose(0, 1).numpy(), rtol=1e-9, atol=1e-9)
    # dense host work: every weight matrix once per step
    assert part.macs_per_step == 4 * d * d + 2 * d * f + d * d


def test_egru_matches_torch_peer():
    T, B, n, h = 50, 3, 4, 6
    W, R = rng.normal(0, 1, (3 * h, n)), rng.normal(0, 1, (3 * h, h))
    b_W, b_R, thr = rng.normal(0, 0.3, 3 * h), rng.normal(0, 0.3, 3 * h), rng.uniform(0.05, 0.3, h)
    g = graph({"in": port("in", n), "egru": dialect.EGRU(W=W, R=R, b_W=b_W, b_R=b_R, threshold=thr),
               "out": port("out", h)}, [("in", "egru"), ("egru", "out")])
    x = rng.normal(0, 1, (T, B, n))
    y = run_onnx(export(g, whole(g), np.float64), {"in": x}, B)["out"]
    y_ref, _ = egru_torch.egru(tt(x), tt(W), tt(R), tt(b_W), tt(b_R), tt(thr))
    np.testing.assert_allclose(y, y_ref.numpy(), rtol=0, atol=1e-12)
    assert 0 < np.count_nonzero(y) < y.size


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_affine_lif_recurrent_matches_reference(reset):
    T, B, n, h = 80, 2, 5, 7
    nodes = {"in": port("in", n), "fc": nir.Affine(weight=rng.normal(0, 1, (h, n)), bias=rng.normal(0, 0.1, h)),
             "lif": nir.LIF(tau=np.full(h, 0.02), r=np.ones(h), v_leak=np.zeros(h), v_threshold=np.full(h, 0.5)),
             "rec": nir.Linear(weight=rng.normal(0, 0.5, (h, h))), "out": port("out", h)}
    g = graph(nodes, [("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")],
              Semantics(dt=1e-3, reset=reset))
    x = rng.normal(0, 3, (T, B, n))
    y = run_onnx(export(g, whole(g), np.float64), {"in": x}, B)["out"]
    want = simulate(g, x).spikes["out"]
    assert want.sum() > 10
    np.testing.assert_array_equal(y, want)


def test_unsupported_host_node_and_semantics_are_named():
    g = graph({"in": port("in", 2), "tp": dialect.TwoPointCell(k1=np.full(2, .5), k2=np.ones(2), apical=("in",)),
               "out": port("out", 2)}, [("in", "tp"), ("tp", "out")])
    with pytest.raises(UnsupportedNode, match="tp"):
        export(g, whole(g))
    g2 = graph({"in": port("in", 2), "fc": nir.Linear(weight=np.eye(2)),
                "lif": nir.LIF(tau=np.full(2, .02), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)),
                "out": port("out", 2)}, [("in", "fc"), ("fc", "lif"), ("lif", "out")],
               Semantics(dt=1e-3, reset_timing="next_step"))
    with pytest.raises(UnsupportedSemantics, match="lif.*reset_timing"):
        export(g2, whole(g2))
