"""Liquid state machines as NIR graphs: Maass's 3-D column and the NALSM variant.

Maass, Natschlaeger & Markram 2002: LIF neurons on an integer 3-D grid, 20 % inhibitory, connection
probability C * exp(-(D/lambda)^2) with C = 0.3 EE, 0.2 EI, 0.4 IE, 0.1 II and lambda = 2 (C values
[unverified] in crossbar.md section 8), tau_m 30 ms. Not expressible in NIR and left out: dynamic
(Tsodyks-Markram) synapses, refractoriness, delays. Threshold 1, reset to 0 (normalised units).

NALSM (Ivanov & Michmizos, NeurIPS 2021) sets the liquid's weights at build time with
astrocyte-modulated STDP. `nalsm_tune` transcribes the equations of the authors' code
(github.com/combra-lab/NALSM, commit d2d303e; files and lines below), written anew in NumPy:

- Start (NALSM_CONSTRUCTOR_MNIST.py 67-73, NALSM_LIF_v1.py 560-571): every liquid synapse, E->E,
  E->I, I->E, I->I and input->liquid, is set to the weight bound W with its sign ("maximal weight
  initialization"); plasticity then only prunes or restores.
- Trace per neuron and per input channel (NALSM_STDP.py 105, 19-20, 36): x <- m (x + a s) after the
  weight update, a = 0.1, m = exp(-dt / 10 ms) (their multiplier fitted to tau = 10 steps of 1 ms).
- STDP on every liquid synapse pre j -> post i, each step (NALSM_STDP.py 147-166; pre/post
  indices NALSM_SIM_SUPPORT.py 70, 83): dw_ij = r+_j x_j s_i + r-_j x_i s_j with, for an
  excitatory or input pre j, r+ = A+ and r- = -A_astro, and for an inhibitory pre j, r+ = -A_astro
  and r- = +A+ (potentiation of E and depression of I at the fixed rate A+, the astrocyte rate
  A_astro on the other side). Bounds (NALSM_STDP.py 169-171, NALSM_RUN_MAIN_SIM_MNIST.py 456,
  476-478): E->* in [0, W], I->* in [-W, 0], input->* in [-W, W]; W = 3.0.
- Astrocyte (NALSM_ASTRO.py 144, mask 49-55): A_astro <- A_astro + (w_astro (sum of liquid spikes -
  sum of input spikes) + b - A_astro) / tau_astro, after the STDP step; it starts at A+ and its bias
  is b = A+ (NALSM_CONSTRUCTOR_MNIST.py 190, NALSM_ASTRO.py 32-34 with offset 0,
  NALSM_RUN_MAIN_SIM_MNIST.py 436); A+ = 0.15 (428), tau_astro = 100 steps of 1 ms (504),
  w_astro = 0.015 for 1000 neurons (Readme_train_LSM_benchmarks.md 23; entered at 438). Our
  input event channels stand for their input neurons. The astrocyte raises the
  depression while the liquid fires more than its input and lowers it while it fires less.
- When (NALSM_CONSTRUCTOR_MNIST.py 1113-1188, NALSM_RUN_MAIN_SIM_MNIST.py 461-465, 494): a build
  phase over the training set in random order (each sample once, batch 1), weights carried from
  sample to sample; the neuron state and the astrocyte are reset per sample, the traces are not;
  no learning-rate decay in this phase. The learned weights are then stored.

Rescaled for this liquid (135 neurons, threshold 1, 5 ms steps, vs their 1000 neurons, threshold
20 (generate_spatial_network.py 57), 1 ms steps): W is NALSM's 3.0 / 20 thresholds times the ratio
of mean E->E fan-ins, 13.8 in NALSM1000 (computed from its construction, 10x10x10 grid, 80 % E,
P = 0.2 exp(-(D/3)^2), spatial_network_builder_lib.py 75, generate_spatial_network.py 47-48) over
this liquid's (about 3.9): the same excitatory drive per neuron with all inputs at the bound. A+
and b keep their ratio to the bound (0.15 / 3.0), w_astro too (0.015 / 3.0), divided by 5 because a
5 ms step holds five 1 ms steps of spikes; a, tau_trace and tau_astro are kept in ms. The samples
are our saccade streams (240 ms with the silent tail) instead of 20 ms MNIST snapshots, so the
phase sees 1204 x 240 ms = 289 s of input against NALSM's 50000 x 20 ms = 1000 s.

Not transcribed: NALSM's main phase also runs the same plasticity during every training and test
sample, from the stored weights, with all rates decaying by 0.99 per ms and the weights restored
after each sample (NALSM_CONSTRUCTOR_MNIST.py 416-457, 778-819); a deployed NIR graph has fixed
weights, so here the build-phase weights are frozen.
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

# NALSM's astrocyte-modulated STDP (sources and rescaling in the module docstring)
NALSM_W_MAX = 3.0 / 20.0      # their weight bound in units of their threshold
NALSM_EE_FANIN = 13.8         # mean E->E synapses per neuron of NALSM1000
LR = 0.15 / 3.0               # A+, astrocyte start and bias, per unit of the bound
W_ASTRO = 0.015 / 3.0 * 1e-3 / DT   # astrocyte weight per spike per step, per unit of the bound
STDP_A = 0.1                  # trace increment per spike
STDP_TAU = 10e-3              # s
TAU_ASTRO = 100e-3            # s


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


NALSM_BF_WINDOW = max(1, round(4e-3 / DT))    # steps: their dt_IN = 4 steps of 1 ms
NALSM_BF_BUFFER = round(25e-3 / DT)           # steps: their buffer_IN = 25 ms


def branching_nalsm(spikes: np.ndarray, synapses: np.ndarray, steps: int, window: int = NALSM_BF_WINDOW,
                    buffer: int = NALSM_BF_BUFFER) -> float:
    """NALSM's branching factor (combra-lab/NALSM d2d303e, compute_branching_factor.py, written anew),
    measured while the input is present: spikes (T, B, n); synapses (post, pre), nonzero where the
    liquid has a synapse (their W_mask: the structure, so pass the untuned weights, a synapse pruned
    to 0 still counts); `steps` the input's length.

    - Only liquid spikes in [buffer, steps - buffer) count (split_spike_data_by_batch, 175-201;
      start and end 50-51); a neuron's presynaptic and postsynaptic sets are liquid neurons only
      (network_pre_post_tuple_lists, 79-96; their W_mask is (post, pre) like `rec`: NALSM_LIF_v1.py
      568 puts the input weights in W[liquid, input]).
    - For each spike of neuron i at t, buffer + window <= t < steps - buffer - window (125-129):
      pre = spikes of i's presynaptic neurons in [t - window, t), post = spikes of i's postsynaptic
      neurons in [t + 1, t + 1 + window) (130-148), ratio = post / max(pre, 1) (151-153; their upper
      clip, n * window + 100, can never bind); b_i = mean ratio over i's spikes (154).
    - Mean of b_i over the neurons that spiked in that range, then over samples
      (get_branching_factor.py 24-34, nanmean: a silent neuron has no b_i).

    At 5 ms steps their 4 ms windows become one step (NALSM_BF_WINDOW; t + 1 is then the step a
    spike reaches its targets here) and the 25 ms buffer 5 steps. They average 20 samples of a batch;
    run.py passes the whole test set."""
    conn = (synapses != 0).astype(float)
    s = spikes[buffer:steps - buffer].reshape(steps - 2 * buffer, -1, conn.shape[0]).astype(float)
    cum = np.concatenate([np.zeros_like(s[:1]), np.cumsum(s, 0)])       # cum[t] = spikes in [0, t)
    t = np.arange(window, s.shape[0] - window)
    pre = (cum[t] - cum[t - window]) @ conn.T          # (t, B, post i): sum over pre j of j's spikes
    post = (cum[t + 1 + window] - cum[t + 1]) @ conn   # (t, B, pre i): sum over post j of j's spikes
    fired = s[t]
    count = fired.sum(0)                                # (B, n) spikes per neuron in range
    per_neuron = (fired * post / np.maximum(pre, 1)).sum(0) / np.maximum(count, 1)
    active = (count > 0).sum(1)
    per_sample = np.where(count > 0, per_neuron, 0.0).sum(1)[active > 0] / active[active > 0]
    return float(per_sample.mean()) if per_sample.size else float("nan")


def weight_bound(net: dict) -> float:
    """NALSM's weight bound W for this liquid (see the module docstring)."""
    exc = net["excitatory"]
    return NALSM_W_MAX * NALSM_EE_FANIN / (net["rec"][np.ix_(exc, exc)] != 0).sum(1).mean()


def at_bound(net: dict) -> dict:
    """NALSM's starting point: every liquid synapse at the bound, with its sign."""
    bound = weight_bound(net)
    rec = np.where(net["rec"] != 0, bound * np.where(net["excitatory"], 1.0, -1.0)[None, :], 0.0)
    return {**net, "rec": rec, "w_in": bound * np.sign(net["w_in"])}


def astro_step(astro: float, liquid_spikes: float, input_spikes: float, bound: float) -> float:
    """One step of NALSM's astrocyte (the depression rate of the STDP): it relaxes with time
    constant TAU_ASTRO towards bound * (W_ASTRO * (liquid spikes - input spikes) + LR)."""
    return astro + (bound * (W_ASTRO * (liquid_spikes - input_spikes) + LR) - astro) * DT / TAU_ASTRO


def nalsm_tune(net: dict, x: np.ndarray, seed: int = 0) -> dict:
    """NALSM's build phase on the samples of x (T, B, n_in), presented one at a time in a seeded
    random order: returns the net with the tuned `rec` and `w_in` (then frozen)."""
    conn, conn_in, exc = net["rec"] != 0, net["w_in"] != 0, net["excitatory"]
    bound = weight_bound(net)
    start = at_bound(net)
    rec, w_in, lr = start["rec"], start["w_in"], LR * bound
    lo, hi = np.where(exc, 0.0, -bound)[None, :], np.where(exc, bound, 0.0)[None, :]
    a_m, m = np.exp(-DT / TAU_M), np.exp(-DT / STDP_TAU)
    n, n_in = rec.shape[0], w_in.shape[1]
    trace, trace_in = np.zeros(n), np.zeros(n_in)
    for b in np.random.default_rng(seed).permutation(x.shape[1]):
        v, s, astro = np.zeros(n), np.zeros(n), lr
        for u in x[:, b]:
            v = a_m * v + (1 - a_m) * (TAU_M / DT) * (w_in @ u + rec @ s)
            s = (v > 1.0).astype(float)
            v = np.where(s > 0, 0.0, v)
            ltp = np.where(exc, lr, -astro)          # rate of (post spike x pre trace), by pre
            ltd = np.where(exc, -astro, lr)          # rate of (pre spike x post trace), by pre
            rec = np.where(conn, np.clip(rec + np.outer(s, trace) * ltp + np.outer(trace, s) * ltd, lo, hi), 0.0)
            w_in = np.where(conn_in, np.clip(w_in + lr * np.outer(s, trace_in) - astro * np.outer(trace, u),
                                             -bound, bound), 0.0)
            trace, trace_in = m * (trace + STDP_A * s), m * (trace_in + STDP_A * u)
            astro = astro_step(astro, s.sum(), u.sum(), bound)
    return {**net, "rec": rec, "w_in": w_in}
