"""Liquid state machines as NIR graphs: Maass's 3-D column and the NALSM variant.

Maass, Natschlaeger & Markram 2002: LIF neurons on an integer 3-D grid, 20 % inhibitory, connection
probability C * exp(-(D/lambda)^2) with C = 0.3 EE, 0.2 EI, 0.4 IE, 0.1 II and lambda = 2 (C values
[unverified] in crossbar.md section 8), tau_m 30 ms. Not expressible in NIR and left out: dynamic
(Tsodyks-Markram) synapses, refractoriness, delays. Threshold 1, reset to 0 (normalised units).

NALSM (Ivanov & Michmizos, NeurIPS 2021) tunes the liquid towards the critical branching factor with
astrocyte-gated STDP at build time. `nalsm_tune` here is a simplified rule in that spirit, stated
exactly: a pair-based STDP on the E->E weights (pre/post traces, additive, weights kept in
[0, 2 w0]) whose sign and size are set by an astrocyte that low-passes the network's branching
ratio b(t) = A(t+1)/A(t) (A = spikes per step) on steps without input, with time constant tau_astro:
dw = eta * (1 - b_astro) * (post_trace x pre spike + pre_trace x post spike), i.e. potentiation
while the liquid is subcritical, depression while supercritical. NALSM's own astrocyte integrates
input and liquid activity with w_astro; this is not a transcription of its equations.
"""
from __future__ import annotations

import nir
import numpy as np

from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics

DT = 5e-3                 # s per step
TAU_M = 30e-3             # s, Maass 2002
LAMBDA = 2.0
C = {("E", "E"): 0.3, ("E", "I"): 0.2, ("I", "E"): 0.4, ("I", "I"): 0.1}


def grid(shape=(15, 3, 3)) -> np.ndarray:
    return np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), -1).reshape(-1, 3).astype(float)


def maass(n_in: int, shape=(15, 3, 3), w_rec: float = 0.3, w_in: float = 0.15, p_in: float = 0.1,
          seed: int = 0) -> dict:
    """Weights of a Maass column: `rec` (post, pre), `w_in` (post, in), `excitatory` mask."""
    rng = np.random.default_rng(seed)
    pos = grid(shape)
    n = len(pos)
    exc = rng.permutation(n) >= int(round(0.2 * n))
    kind = np.where(exc, "E", "I")
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    c = np.array([[C[(kind[pre], kind[post])] for pre in range(n)] for post in range(n)])
    conn = (rng.random((n, n)) < c * np.exp(-(d / LAMBDA) ** 2)) & ~np.eye(n, dtype=bool)
    mag = rng.uniform(0.5, 1.5, (n, n)) * w_rec
    rec = np.where(conn, mag * np.where(exc, 1.0, -2.0)[None, :], 0.0)  # inhibition twice as strong
    inp = np.where(rng.random((n, n_in)) < p_in, rng.uniform(0.5, 1.5, (n, n_in)) * w_in, 0.0)
    return {"rec": rec, "w_in": inp, "excitatory": exc}


def graph(net: dict, n_in: int) -> Graph:
    """input -> w_in -> liquid (LIF) with liquid -> rec -> liquid; the liquid is the output (a
    digital readout is trained on its spikes)."""
    n = net["rec"].shape[0]
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "w_in": nir.Affine(weight=net["w_in"], bias=np.zeros(n)),
             "rec": nir.Affine(weight=net["rec"], bias=np.zeros(n)),
             "liquid": nir.LIF(tau=np.full(n, TAU_M), r=np.full(n, TAU_M / DT), v_leak=np.zeros(n),
                               v_threshold=np.ones(n), v_reset=np.zeros(n)),
             "output": nir.Output(output_type={"output": np.array([n])})}
    edges = [("input", "w_in"), ("w_in", "liquid"), ("liquid", "rec"), ("rec", "liquid"), ("liquid", "output")]
    ins = {"input": (n_in,), "w_in": (n_in,), "rec": (n,), "liquid": (n,), "output": (n,)}
    outs = {"input": (n_in,), "w_in": (n,), "rec": (n,), "liquid": (n,), "output": (n,)}
    return Graph(nodes, edges, ins, outs, semantics=Semantics(dt=DT))


def branching(spikes: np.ndarray, start: int) -> float:
    """Branching factor of the liquid's own dynamics: sum A(t+1) / sum A(t) over the silent steps
    from `start` on (no input: every spike descends from liquid spikes), pooled over samples
    (spikes: (T, B, n); the descendants-per-ancestor estimator of Beggs & Plenz 2003)."""
    a = spikes[start:].reshape(spikes.shape[0] - start, -1, spikes[0, 0].size).sum(-1)
    den = a[:-1].sum()
    return float(a[1:].sum() / den) if den > 0 else 0.0


def nalsm_tune(net: dict, x: np.ndarray, epochs: int = 3, eta: float = 0.2, tau_trace: float = 20e-3,
               tau_astro: float = 50e-3) -> dict:
    """E->E weights tuned by astrocyte-gated STDP on inputs x (T, B, n_in); float, NumPy."""
    rec, w_in, exc = net["rec"].copy(), net["w_in"], net["excitatory"]
    ee = (rec != 0) & exc[None, :] & exc[:, None]
    w0 = np.abs(rec[ee]).mean()
    a_m, a_tr, a_as = np.exp(-DT / TAU_M), np.exp(-DT / tau_trace), np.exp(-DT / tau_astro)
    T, B, _ = x.shape
    n = rec.shape[0]
    for _ in range(epochs):
        v = np.zeros((B, n))
        s = np.zeros((B, n))
        pre = np.zeros((B, n))
        post = np.zeros((B, n))
        b_astro, prev = 1.0, None
        for t in range(T):
            drive = x[t] @ w_in.T + s @ rec.T
            v = a_m * v + (1 - a_m) * (TAU_M / DT) * drive
            s = (v > 1.0).astype(float)
            v = np.where(s > 0, 0.0, v)
            pre = a_tr * pre + s
            post = a_tr * post + s
            active = s.sum()
            if prev is not None and prev > 0 and not x[t].any():  # the liquid's own propagation
                b_astro = a_as * b_astro + (1 - a_as) * (active / prev)
            prev = active
            dw = eta * (1 - b_astro) * (s.T @ pre + post.T @ s) / B   # (post, pre)
            rec[ee] = np.clip(rec[ee] + dw[ee], 0.0, 2 * w0)
    return {**net, "rec": rec}
