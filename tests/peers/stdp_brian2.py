"""STDP peer: Brian2's standard pair rule (Brian2 docs, "Example: STDP"; Song, Miller & Abbott
2000) on given spike trains. Run with the Brian2 interpreter (.venv-brian2), not imported:

    python stdp_brian2.py IN.npz OUT.npz

IN holds pre (T, B, n_in) and post (T, B, n_out) 0/1 spikes, w0 (n_out, n_in), dt (s) and
tau_plus, tau_minus, a_plus, a_minus, w_min, w_max. OUT gets w (T, B, n_out, n_in): each
sample's weights at the end of every step. The batch is B disjoint copies of the synapse
matrix, so every sample learns on its own weights.
"""
from __future__ import annotations

import sys

import numpy as np
from brian2 import Network, SpikeGeneratorGroup, StateMonitor, Synapses, defaultclock, prefs, second


def main(src: str, dst: str) -> None:
    d = np.load(src)
    pre, post, w0 = d["pre"], d["post"], d["w0"]
    T, B, n_in = pre.shape
    n_out = post.shape[2]
    prefs.codegen.target = "numpy"
    dt = float(d["dt"]) * second
    defaultclock.dt = dt

    def generator(spikes, n):
        t, b, i = np.nonzero(spikes)
        return SpikeGeneratorGroup(B * n, b * n + i, t * dt, dt=dt)

    g_pre, g_post = generator(pre, n_in), generator(post, n_out)
    syn = Synapses(g_pre, g_post, model="""
        w : 1
        dapre/dt = -apre / taupre : 1 (event-driven)
        dapost/dt = -apost / taupost : 1 (event-driven)
        """, on_pre="""
        apre += Apre
        w = clip(w + apost, wmin, wmax)
        """, on_post="""
        apost += Apost
        w = clip(w + apre, wmin, wmax)
        """, namespace=dict(taupre=float(d["tau_plus"]) * second, taupost=float(d["tau_minus"]) * second,
                            Apre=float(d["a_plus"]), Apost=-float(d["a_minus"]),
                            wmin=float(d["w_min"]), wmax=float(d["w_max"])))
    syn.connect(condition=f"i // {n_in} == j // {n_out}")
    si, sj = np.asarray(syn.i[:]), np.asarray(syn.j[:])
    syn.w[:] = w0[sj % n_out, si % n_in]
    mon = StateMonitor(syn, "w", record=True, when="end")
    net = Network(g_pre, g_post, syn, mon)
    net.run(T * dt)
    w = np.zeros((T, B, n_out, n_in))
    w[:, si // n_in, sj % n_out, si % n_in] = np.asarray(mon.w).T  # mon.w: (synapse, T)
    np.savez(dst, w=w)


if __name__ == "__main__":
    main(*sys.argv[1:3])
