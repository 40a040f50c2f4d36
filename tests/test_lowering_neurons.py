"""The current-first form (chips whose current-based neuron adds the updated current to v) runs
the reference simulator's own neuron step for step: exactly with its two taps, and with one tap only
where the reference itself has one (forward Euler)."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy.ir.graph import Graph
from neurodeploy.lowering import coefficients, current_first
from neurodeploy.semantics import Semantics
from neurodeploy.sim.neurons import Neuron

N, T = 6, 200


def graph(node, integrator) -> Graph:
    sh = {"in": (N,), "n": (N,)}
    return Graph({"in": nir.Input(input_type={"input": np.array([N])}), "n": node}, [("in", "n")], sh, sh,
                 semantics=Semantics(dt=1e-3, integrator=integrator))


def cuba(non_spiking=False):
    rng = np.random.default_rng(3)
    p = dict(tau_syn=rng.uniform(2e-3, 9e-3, N), tau_mem=rng.uniform(4e-3, 2e-2, N), r=rng.uniform(0.5, 2, N),
             v_leak=rng.uniform(-0.2, 0.2, N), w_in=rng.uniform(0.5, 1.5, N))
    p["tau_syn"][0] = p["tau_mem"][0]  # the ts == tm limit
    if non_spiking:
        return nir.CubaLI(**p)
    return nir.CubaLIF(**p, v_threshold=np.full(N, 1e9), v_reset=np.zeros(N))


def run_current_first(cf, x):
    """I' = a_s I + t0 x[t] + t1 x[t-1];  V' = a_m V + I' + c  (LIF/IF: V' = a_m V + t0 x + c)."""
    v, i, prev, out = np.zeros(N), np.zeros(N), np.zeros(N), []
    for xt in x:
        if cf.a_s is None:
            v = cf.a_m * v + cf.t0 * xt + cf.c
        else:
            i = cf.a_s * i + cf.t0 * xt + cf.t1 * prev
            v = cf.a_m * v + i + cf.c
        prev = xt
        out.append(v)
    return np.array(out)


def run_reference(g, x):
    nrn = Neuron("n", g.nodes["n"], (N,), g.semantics, 1, np.float64)
    out = []
    for xt in x:
        nrn.step(xt[None])
        out.append(nrn.v[0].copy())
    return np.array(out)


@pytest.mark.parametrize("integrator", ["exact", "euler"])
@pytest.mark.parametrize("kind", ["CubaLIF", "LIF", "IF"])
def test_current_first_runs_the_reference_neuron(kind, integrator):
    n = {"CubaLIF": cuba(), "LIF": nir.LIF(tau=np.full(N, 5e-3), r=np.full(N, 2.0), v_leak=np.full(N, 0.1),
                                            v_threshold=np.full(N, 1e9)),
         "IF": nir.IF(r=np.full(N, 3.0), v_threshold=np.full(N, 1e9))}[kind]
    g = graph(n, integrator)
    x = np.random.default_rng(4).normal(size=(T, N))
    cf = current_first(coefficients(g, "n"))
    assert np.allclose(run_current_first(cf, x), run_reference(g, x), rtol=1e-9, atol=1e-12)
    assert cf.two_taps == (kind == "CubaLIF" and integrator == "exact")


def test_one_tap_keeps_the_steady_state_of_a_constant_input():
    g = graph(cuba(non_spiking=True), "exact")
    cf = current_first(coefficients(g, "n"))
    one = type(cf)(cf.a_m, cf.a_s, cf.c, cf.single_tap, np.zeros(N), None, None)
    x = np.ones((4000, N))
    settled = run_reference(g, x)[-1]
    assert np.allclose(run_current_first(one, x)[-1], settled, rtol=1e-9)
    # the bias gain: per-step membrane drive whose fixed point is the same settled voltage
    assert np.allclose((cf.bias_gain + cf.c) / (1 - cf.a_m), settled, rtol=1e-9)
