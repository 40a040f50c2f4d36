"""Neuron discretisation for chips, from the reference's own coefficients.

Every backend starts from `neurodeploy.sim.neurons.discretise` (the equations the reference
simulator runs), so a chip and the reference share one definition of each neuron type under the
`Semantics`. The reference step is

    i' = a_s*i + g_s*x ;  v' = a_m*v + c + k_i*i + k_x*x          (i: the current before the step)

Chips with a current-based neuron (SpiNNaker 2 ``lif_curr_exp``, Loihi's CUBA LIF) run instead the
*current-first* form, where the membrane adds the updated current:

    I' = a_s*I + in ;  V' = a_m*V + I' + offset

Substituting ``I := k_i*i + k_x*x`` (the reference's drive into v) gives the reference exactly when
the chip's input is a two-tap filter of the spikes (proof: expand ``k_i*i' + k_x*x'``):

    in[t] = t0*x[t] + t1*x[t-1],   t0 = k_x,   t1 = k_i*g_s - a_s*k_x

`CurrentFirst` holds (a_m, a_s, c, t0, t1). Forward Euler gives t1 = 0 (snnTorch ``Synaptic``: one
tap, exact). The exact integrator's coupled solution has t1 != 0: a chip with synaptic delays
realises it with a second synapse one step later; a chip without them can only keep the DC gain with
one tap of ``t0 + t1`` (`single_tap`), which is what the steady state needs but not the transient.
LIF/IF have no current: ``V' = a_m*V + c + k_x*x`` (t0 = k_x, t1 = 0, a_s None). A constant input
(a bias b) reaches the membrane as ``(t0 + t1)*b/(1 - a_s)`` per step once the current has settled
(`bias_gain`); chips without a current bias add it to the membrane offset from the first step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import meta
from ..ir.graph import Graph
from ..sim.neurons import Coefficients, discretise

ROUNDOFF = 1e-12  # relative size of float64 rounding residue in a difference of two products


def coefficients(graph: Graph, name: str) -> Coefficients:
    """The reference's update coefficients of neuron `name` under its semantics (the graph's, with
    the node's own reset fields)."""
    return discretise(name, graph.nodes[name], tuple(graph.out_shape[name]), meta.node_semantics(graph, name))


@dataclass(frozen=True)
class CurrentFirst:
    """A neuron in the current-first form (module docstring), flat float64 arrays per neuron."""

    a_m: np.ndarray
    a_s: np.ndarray | None  # None: no synaptic current (LIF, IF)
    c: np.ndarray           # membrane offset per step (leak target)
    t0: np.ndarray          # gain of this step's input
    t1: np.ndarray          # gain of the previous step's input (0 unless exact CubaLIF)
    theta: np.ndarray | None
    v_reset: np.ndarray | None

    @property
    def two_taps(self) -> bool:
        return bool(np.any(self.t1 != 0))

    @property
    def single_tap(self) -> np.ndarray:
        """One-tap gain with the same steady state as (t0, t1)."""
        return self.t0 + self.t1

    @property
    def bias_gain(self) -> np.ndarray:
        """Membrane drive per step of a constant unit input, once the current has settled."""
        return self.single_tap if self.a_s is None else self.single_tap / (1.0 - self.a_s)


def current_first(co: Coefficients) -> CurrentFirst:
    flat = lambda a: None if a is None else np.asarray(a, np.float64).ravel()  # noqa: E731
    a_m, k_x = flat(co.a_m), flat(co.k_x)
    c = np.zeros_like(a_m) if co.c is None else flat(co.c)
    if co.a_s is None:
        return CurrentFirst(a_m, None, c, k_x, np.zeros_like(k_x), flat(co.theta), flat(co.v_reset))
    a_s = flat(co.a_s)
    via_i, direct = flat(co.k_i) * flat(co.g_s), a_s * k_x
    t1 = via_i - direct  # zero in exact arithmetic for Euler; its rounding residue is not a second tap
    t1 = np.where(np.abs(t1) <= ROUNDOFF * (np.abs(via_i) + np.abs(direct)), 0.0, t1)
    return CurrentFirst(a_m, a_s, c, k_x, t1, flat(co.theta), flat(co.v_reset))
