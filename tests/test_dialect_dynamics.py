"""Each dialect node's step function against an independent implementation (tests/peers/):
PyTorch transcriptions of the published equations, torch.nn.functional, and Brian2 for STDP."""
from __future__ import annotations

import subprocess
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neurodeploy import ir
from neurodeploy.errors import InvalidModel
from neurodeploy.ir import dialect
from neurodeploy.ops.dialect import STATES, STDPState
from neurodeploy.semantics import Semantics
from neurodeploy.sim.reference import simulate

from conftest import require_brian2
from peers import egru_torch, rwkv_torch, two_point_torch
from test_dialect import port

REPO = Path(__file__).resolve().parents[1]
SEM = Semantics()
rng = np.random.default_rng(11)


def tt(a):
    return torch.from_numpy(np.asarray(a, np.float64))


def state(node, batch, in_shapes=None, dtype=np.float64):
    cls = STATES[type(node).__name__]
    in_shapes = in_shapes or {"input": tuple(node.input_type["input"])}
    return cls("n", node, in_shapes, tuple(node.output_type["output"]), SEM, batch, dtype)


def run(st, xs):
    """Step a state over xs (T, B, ...) -> outputs (T, B, ...)."""
    return np.stack([np.array(st.step(x)) for x in xs])


def test_egru_matches_torch_equations():
    T, B, n, h = 120, 3, 5, 7
    W = rng.normal(0, 0.8, (3 * h, n)) * (rng.random((3 * h, n)) > 0.3)  # pruned: zero weights
    R = rng.normal(0, 0.8, (3 * h, h))
    b_W, b_R = rng.normal(0, 0.3, 3 * h), rng.normal(0, 0.3, 3 * h)
    thr = rng.uniform(0.05, 0.4, h)
    node = dialect.EGRU(W=W, R=R, b_W=b_W, b_R=b_R, threshold=thr)
    x = rng.normal(0, 1, (T, B, n)) * (rng.random((T, B, n)) > 0.5)
    st = state(node, B)
    ys, cs = [], []
    for t in range(T):
        ys.append(st.step({"input": x[t]}).copy())
        cs.append(st.v.copy())
    y_ref, c_ref = (a.numpy() for a in egru_torch.egru(tt(x), tt(W), tt(R), tt(b_W), tt(b_R), tt(thr)))
    events = y_ref != 0
    assert 0.02 < events.mean() < 0.9  # graded events and resets both exercised
    np.testing.assert_allclose(np.array(ys), y_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.array(cs), c_ref, rtol=0, atol=1e-12)
    # counters from the peer's activity: non-zero inputs x their non-zero weights, and each
    # event of the previous step x its column of R (events are graded: MACs)
    fan_w, fan_r = np.count_nonzero(W, axis=0), np.count_nonzero(R, axis=0)
    in_events = int(((x != 0).sum(axis=(0, 1)) * fan_w).sum())
    rec_events = int(((y_ref[:-1] != 0).sum(axis=(0, 1)) * fan_r).sum())
    assert st.counters() == {"synaptic_events": in_events + rec_events, "macs": in_events + rec_events,
                             "neuron_updates": T * B * h, "spikes": int(events.sum())}


def test_egru_binary_input_counts_accumulates_not_macs():
    """0/1 spikes into W are accumulates; the graded events through R stay MACs."""
    T, B, n, h = 30, 2, 4, 3
    node = dialect.EGRU(W=rng.normal(0, 1, (3 * h, n)), R=rng.normal(0, 1, (3 * h, h)), b_W=np.zeros(3 * h),
                        b_R=np.zeros(3 * h), threshold=np.full(h, 0.05))
    x = (rng.random((T, B, n)) < 0.4).astype(float)
    st = state(node, B)
    run(st, x)
    y_ref = egru_torch.egru(tt(x), *(tt(getattr(node, k)) for k in ("W", "R", "b_W", "b_R", "threshold")))[0].numpy()
    rec_events = int(np.count_nonzero(y_ref[:-1])) * 3 * h
    c = st.counters()
    assert rec_events > 0 and c["macs"] == rec_events and c["synaptic_events"] == int(x.sum()) * 3 * h + rec_events


def test_egru_event_at_exact_threshold_is_not_emitted():
    """H(0) = 0 (EvNN's torch.heaviside(x, x)): c equal to the threshold emits nothing."""
    h = 1
    # u = sigmoid(-inf-ish) -> 0, z~ = tanh(atanh(0.5)) = 0.5 exactly reachable: use R = 0
    node = dialect.EGRU(W=np.zeros((3, 1)), R=np.zeros((3, 1)), b_W=np.array([-800.0, 0.0, np.arctanh(0.5)]),
                        b_R=np.zeros(3), threshold=np.array([np.tanh(np.arctanh(0.5))]))
    st = state(node, 1)
    y = st.step(np.zeros((1, 1)))
    assert y[0, 0] == 0 and st.v[0, 0] == node.threshold[0] and st.counters()["spikes"] == 0


def timemix_node(d, a, k_scale=1.0):
    return dialect.RWKVTimeMix(
        mu_k=rng.uniform(0, 1, d), mu_v=rng.uniform(0, 1, d), mu_r=rng.uniform(0, 1, d),
        W_k=rng.normal(0, k_scale, (a, d)), W_v=rng.normal(0, 1, (a, d)), W_r=rng.normal(0, 1, (a, d)),
        W_o=rng.normal(0, 1, (d, a)), time_decay=rng.normal(-1, 1, a), time_first=rng.normal(0, 1, a))


def timemix_peer(node, x):
    f = [tt(getattr(node, k)) for k in ("mu_k", "mu_v", "mu_r", "W_k", "W_v", "W_r", "W_o",
                                       "time_decay", "time_first")]
    return rwkv_torch.time_mix(tt(x).transpose(0, 1), *f).transpose(0, 1).numpy()


def test_rwkv_time_mix_matches_spikegpt_formulas_over_256_steps():
    T, B, d, a = 300, 2, 8, 6
    node = timemix_node(d, a)
    x = rng.normal(0, 1, (T, B, d))
    st = state(node, B)
    y = run(st, x)
    np.testing.assert_allclose(y, timemix_peer(node, x), rtol=1e-9, atol=1e-10)
    dense = T * B * (3 * a * d + d * a)  # every operand is real-valued and non-zero here
    assert st.counters() == {"synaptic_events": dense, "macs": dense}


def test_rwkv_time_mix_stable_in_float32_where_the_naive_form_overflows():
    """k up to ~100: e^k overflows float32 (max ~e^88); the running-max form stays finite and
    agrees with the naive float64 sums."""
    T, B, d, a = 256, 1, 4, 4
    node = timemix_node(d, a, k_scale=30.0)
    x = rng.normal(0, 1, (T, B, d))
    k = np.abs(np.einsum("ad,tbd->tba", node.W_k, x))
    assert k.max() > 90
    y = run(state(node, B, dtype=np.float32), x.astype(np.float32))
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    ref = timemix_peer(node, x)
    np.testing.assert_allclose(y, ref, rtol=2e-3, atol=2e-3 * np.abs(ref).max())


def test_rwkv_channel_mix_matches_spikegpt_formulas_over_256_steps():
    T, B, d, f = 260, 2, 6, 24
    node = dialect.RWKVChannelMix(mu_k=rng.uniform(0, 1, d), mu_r=rng.uniform(0, 1, d),
                                  W_k=rng.normal(0, 1, (f, d)), W_v=rng.normal(0, 1, (d, f)),
                                  W_r=rng.normal(0, 1, (d, d)))
    x = rng.normal(0, 1, (T, B, d))
    st = state(node, B)
    buf = np.empty((B, d))  # one input buffer rewritten every step, as the simulator reuses outputs
    y = np.stack([st.step(np.copyto(buf, x[t]) or buf).copy() for t in range(T)])
    ref = rwkv_torch.channel_mix(tt(x).transpose(0, 1), *(tt(getattr(node, k)) for k in
                                 ("mu_k", "mu_r", "W_k", "W_v", "W_r"))).transpose(0, 1).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-10)
    # value product: only the positive keys (squared ReLU zeros are skipped)
    keys = np.maximum(np.einsum("fd,tbd->tbf", node.W_k,
                                x * node.mu_k + np.concatenate([np.zeros((1, B, d)), x[:-1]]) * (1 - node.mu_k)), 0)
    n = T * B * (f * d + d * d) + int(np.count_nonzero(keys)) * d
    assert st.counters() == {"synaptic_events": n, "macs": n}


def test_layernorm_matches_torch():
    B, d = 5, 9
    node = dialect.LayerNorm(weight=rng.normal(1, 0.3, d), bias=rng.normal(0, 0.3, d), eps=1e-3)
    x = rng.normal(2, 3, (B, d))
    ref = F.layer_norm(tt(x), (d,), tt(node.weight), tt(node.bias), eps=1e-3).numpy()
    np.testing.assert_allclose(state(node, B).step(x), ref, rtol=0, atol=1e-13)


def test_embedding_matches_torch_and_refuses_bad_indices():
    V, d, B = 11, 4, 3
    node = dialect.Embedding(weight=rng.normal(0, 1, (V, d)) * (rng.random((V, d)) > 0.3))
    idx = np.array([[0.0], [10.0], [4.0]])
    st = state(node, B)
    ref = F.embedding(torch.tensor([0, 10, 4]), tt(node.weight)).numpy()
    np.testing.assert_array_equal(st.step(idx), ref)
    assert st.counters() == {"synaptic_events": int(np.count_nonzero(ref)), "macs": 0}
    for bad in (1.5, -1.0, 11.0, np.nan, np.inf):
        with pytest.raises(InvalidModel, match=r"^tok: token index .* not an integer in \[0, 11\)"):
            STATES["Embedding"]("tok", node, {"input": (1,)}, (d,), SEM, 1, np.float64).step(np.array([[bad]]))


def test_two_point_matches_torch_formula():
    T, B, n = 20, 3, 6
    node = dialect.TwoPointCell(k1=rng.uniform(0, 1, n), k2=rng.uniform(0.5, 2, n), apical=("ctx",))
    r, c = rng.normal(0, 1, (T, B, n)), rng.normal(0, 1, (T, B, n))
    st = state(node, B, {"basal": (n,), "apical": (n,)})
    y = np.stack([st.step({"basal": r[t], "apical": c[t]}) for t in range(T)])
    ref = two_point_torch.transfer(tt(r), tt(c), tt(node.k1), tt(node.k2)).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-13, atol=1e-13)
    assert st.counters() == {"neuron_updates": T * B * n}
    with pytest.raises(InvalidModel, match="unknown port"):
        st.step({"input": r[0]})


STDP_CASES = {
    # hippocampal CAM (models.md section 5): tau 3 ms, A+- 6, w in [0, 6], dt 1 ms: saturating
    "cam": dict(dt=1e-3, tau_plus=3e-3, tau_minus=3e-3, a_plus=6.0, a_minus=6.0, w_min=0.0, w_max=6.0, p=0.15),
    # soft: small steps, unequal taus, bounds rarely reached
    "soft": dict(dt=1e-4, tau_plus=2e-3, tau_minus=3.5e-3, a_plus=0.01, a_minus=0.012, w_min=-0.5, w_max=1.0,
                 p=0.05),
}


def brian2_weights(tmp_path, pre, post, w0, dt, params):
    """Brian2's weight trajectory (T, B, out, in) for these spike trains (tests/peers/stdp_brian2.py
    run by the .venv-brian2 interpreter); conftest.require_brian2 says what happens without it."""
    python = require_brian2()
    src, dst = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(src, pre=pre, post=post, w0=w0, dt=dt, **params)
    proc = subprocess.run([str(python), str(REPO / "tests" / "peers" / "stdp_brian2.py"), str(src), str(dst)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(dst)["w"]


@pytest.mark.parametrize("case", STDP_CASES)
def test_stdp_weight_trajectory_matches_brian2(case, tmp_path):
    """Tolerance 1e-9 x (w_max - w_min): both sides compute in float64 on the same spike trains;
    Brian2 decays its event-driven traces with exp(-(t - t_last)/tau) where the reference
    multiplies by exp(-dt/tau) each step, which differ by rounding only (~1e-16 per step)."""
    p = dict(STDP_CASES[case])
    dt, prob = p.pop("dt"), p.pop("p")
    T, B, n_in, n_out = 400, 2, 5, 4
    pre = (rng.random((T, B, n_in)) < prob).astype(float)
    post = (rng.random((T, B, n_out)) < prob).astype(float)
    pre[7, 0, 1] = post[7, 0, 2] = 1.0  # a coincident pair, sample 0
    w0 = rng.uniform(p["w_min"], p["w_max"], (n_out, n_in))
    w_ref = brian2_weights(tmp_path, pre, post, w0, dt, p)

    st = STDPState("stdp", dialect.STDP(weight="w", **p), w0, Semantics(dt=dt), B, np.float64)
    w = np.stack([st.step(pre[t], post[t]).copy() for t in range(T)])
    assert np.abs(w - w0).max() > 0.1 * (p["w_max"] - p["w_min"])  # the weights did move
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-9 * (p["w_max"] - p["w_min"]))
    assert st.counters() == {"weight_updates": int(pre.sum()) * n_out + int(post.sum()) * n_in}


def test_stdp_coincident_spikes_potentiate_only():
    """Same-step pre and post (Brian2 runs on_pre before on_post): +a_plus, no depression."""
    node = dialect.STDP(weight="w", tau_plus=1e-3, tau_minus=1e-3, a_plus=0.25, a_minus=0.5, w_min=0.0, w_max=1.0)
    st = STDPState("stdp", node, np.full((1, 1), 0.5), SEM, 1, np.float64)
    assert st.step(np.ones((1, 1)), np.ones((1, 1)))[0, 0, 0] == 0.75


def test_stdp_refuses_non_spike_input():
    node = dialect.STDP(weight="w", tau_plus=1e-3, tau_minus=1e-3, a_plus=0.1, a_minus=0.1, w_min=0.0, w_max=1.0)
    st = STDPState("plastic", node, np.zeros((2, 3)), SEM, 1, np.float64)
    with pytest.raises(InvalidModel, match="^plastic: STDP pre-synaptic input must be 0/1 spikes"):
        st.step(np.full((1, 3), 0.5), np.zeros((1, 2)))


# --- the same states run by the reference simulator through a neurodeploy graph ---------------

def graph(nodes, edges, sem=None):
    return ir.normalize(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), sem)


def test_egru_graph_in_the_reference():
    T, B, n, h = 60, 2, 4, 5
    W, R = rng.normal(0, 1, (3 * h, n)), rng.normal(0, 1, (3 * h, h))
    b_W, b_R, thr = rng.normal(0, 0.3, 3 * h), rng.normal(0, 0.3, 3 * h), rng.uniform(0.05, 0.3, h)
    g = graph({"in": port("in", n), "egru": dialect.EGRU(W=W, R=R, b_W=b_W, b_R=b_R, threshold=thr),
               "out": port("out", h)}, [("in", "egru"), ("egru", "out")])
    x = rng.normal(0, 1, (T, B, n))
    res = simulate(g, x, record=["egru"])
    y_ref, c_ref = (a.numpy() for a in egru_torch.egru(tt(x), tt(W), tt(R), tt(b_W), tt(b_R), tt(thr)))
    np.testing.assert_allclose(res.extra["outputs"]["egru"], y_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.v["egru"], c_ref, rtol=0, atol=1e-12)
    assert res.per_layer["egru"]["spikes"] == int(np.count_nonzero(y_ref)) > 0


def test_spikegpt_dialect_chain_in_the_reference_over_256_steps():
    """tokens -> Embedding -> LayerNorm -> TimeMix, (+ embedding) -> LayerNorm -> ChannelMix,
    against the composition of the torch peers."""
    T, B, V, d, f = 256, 2, 13, 6, 12
    emb = dialect.Embedding(weight=rng.normal(0, 1, (V, d)))
    ln1 = dialect.LayerNorm(weight=rng.normal(1, 0.2, d), bias=rng.normal(0, 0.2, d))
    ln2 = dialect.LayerNorm(weight=rng.normal(1, 0.2, d), bias=rng.normal(0, 0.2, d), eps=1e-6)
    att = timemix_node(d, d)
    ffn = dialect.RWKVChannelMix(mu_k=rng.uniform(0, 1, d), mu_r=rng.uniform(0, 1, d), W_k=rng.normal(0, 1, (f, d)),
                                 W_v=rng.normal(0, 1, (d, f)), W_r=rng.normal(0, 1, (d, d)))
    g = graph({"tok": port("in", 1), "emb": emb, "ln1": ln1, "att": att, "ln2": ln2, "ffn": ffn, "out": port("out", d)},
              [("tok", "emb"), ("emb", "ln1"), ("ln1", "att"), ("att", "ln2"), ("emb", "ln2"), ("ln2", "ffn"),
               ("ffn", "out")])
    tokens = rng.integers(0, V, (T, B))
    res = simulate(g, tokens[:, :, None].astype(float), record=["att", "ffn"])

    x = F.embedding(torch.from_numpy(tokens.T), tt(emb.weight))  # (B, T, d)
    a = rwkv_torch.time_mix(F.layer_norm(x, (d,), tt(ln1.weight), tt(ln1.bias), 1e-5),
                            *(tt(getattr(att, k)) for k in ("mu_k", "mu_v", "mu_r", "W_k", "W_v", "W_r", "W_o",
                                                           "time_decay", "time_first")))
    y = rwkv_torch.channel_mix(F.layer_norm(x + a, (d,), tt(ln2.weight), tt(ln2.bias), 1e-6),
                               *(tt(getattr(ffn, k)) for k in ("mu_k", "mu_r", "W_k", "W_v", "W_r")))
    np.testing.assert_allclose(res.extra["outputs"]["att"], a.transpose(0, 1).numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.extra["outputs"]["ffn"], y.transpose(0, 1).numpy(), rtol=1e-9, atol=1e-9)


def test_stdp_graph_in_the_reference_matches_brian2(tmp_path):
    """Input spikes -> plastic Linear -> IF neurons: the reference's weight trajectory against
    Brian2 fed the same pre (input) and post (IF output) spike trains; tolerance as above."""
    T, B, n_in, n_out = 300, 2, 6, 3
    p = dict(tau_plus=2e-3, tau_minus=3e-3, a_plus=0.04, a_minus=0.05, w_min=0.0, w_max=1.0)
    w0 = rng.uniform(0.2, 0.6, (n_out, n_in))
    g = graph({"in": port("in", n_in), "w": nir.Linear(weight=w0), "post": nir.IF(
        r=np.full(n_out, 1e4), v_threshold=np.ones(n_out), v_reset=np.zeros(n_out)),
        "stdp": dialect.STDP(weight="w", **p), "out": port("out", n_out)},
        [("in", "w"), ("w", "post"), ("post", "out")])
    pre = (rng.random((T, B, n_in)) < 0.15).astype(float)
    res = simulate(g, pre, record=["post", "stdp"])
    post = res.spikes["post"]
    assert 0 < post.mean() < 0.5
    w_ref = brian2_weights(tmp_path, pre, post, w0, g.semantics.dt, p)
    np.testing.assert_allclose(res.extra["weights"]["stdp"], w_ref, rtol=0, atol=1e-9)
    assert res.per_layer["stdp"] == {"weight_updates": int(pre.sum()) * n_out + int(post.sum()) * n_in}
