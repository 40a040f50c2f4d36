"""Neuron dynamics of the reference simulator: one update rule for every NIR neuron type.

With x the node's summed input for the step (held constant over it), every neuron is

    i' = a_s*i + g_s*x                      (CubaLI/CubaLIF only: synaptic current)
    v' = a_m*v + c + k_i*i + k_x*x          (i is the current *before* this step's update)

and the coefficients encode the node type and the integrator (dt = Semantics.dt):

| node       | exact (input held over the step)                      | euler                         |
|------------|-------------------------------------------------------|-------------------------------|
| LI, LIF    | a_m = e^(-dt/tau), c = (1-a_m)v_leak, k_x = (1-a_m)R  | a_m = 1-dt/tau, c = dt/tau*v_leak, k_x = dt/tau*R |
| I, IF      | a_m = 1, k_x = dt*R (exact for a held input)          | same                          |
| CubaLI(F)  | a_s = e^(-dt/ts), g_s = (1-a_s)w_in, a_m = e^(-dt/tm), | a_s = 1-dt/ts, g_s = dt/ts*w_in; the membrane |
|            | q = ts/(ts-tm)*(a_s-a_m) (= dt/tm*a_m if ts = tm),    | uses the updated current: a_m = 1-dt/tm,       |
|            | k_i = R*q, k_x = R*w_in*(1-a_m-q), c = (1-a_m)v_leak  | k_i = dt/tm*R*a_s, k_x = dt/tm*R*g_s, c = dt/tm*v_leak |

The exact CubaLIF row is the closed-form solution of the two coupled linear ODEs over one step
(checked against a fine-step integration in tests); the euler row is snnTorch ``Synaptic``'s
order (current first), which gives v' = beta*v + i' for snnTorch's exported parameters.

Spiking types (LIF, IF, CubaLIF) then emit s = v' > v_threshold and reset per
`Semantics.reset` and `Semantics.reset_timing` (see `neurodeploy.semantics`). A spiking node
outputs s; LI, CubaLI and I output v'. State starts at zero.
"""
from __future__ import annotations

import nir
import numpy as np

from ..errors import InvalidModel
from ..semantics import Semantics

SPIKING = (nir.LIF, nir.IF, nir.CubaLIF)


def _param(node, field, shape, dtype=np.float64, default=None):
    val = getattr(node, field, None)
    if val is None:
        val = default
    return np.broadcast_to(np.asarray(val, dtype=dtype), shape)


def _decay(name, tau, dt, integrator, field):
    if not np.all(tau > 0):
        raise InvalidModel(f"{field} must be positive, got min {tau.min()}", where=name)
    if integrator == "exact":
        a = np.exp(-dt / tau)
        return a, 1.0 - a
    if integrator == "euler" and np.any(dt / tau > 1):
        raise InvalidModel(f"forward Euler with dt={dt} > {field}={tau.min()} is unstable",
                           where=name, hint="use --integrator exact or a smaller --dt")
    return 1.0 - dt / tau, dt / tau


class Neuron:
    """State and coefficients of one neuron node, for a batch of B samples."""

    def __init__(self, name: str, node, shape: tuple, sem: Semantics, batch: int, dtype):
        dt, integ = sem.dt, sem.integrator
        p = lambda f, d=None: _param(node, f, shape, default=d)  # noqa: E731
        a_s = g_s = k_i = None
        c = 0.0
        if isinstance(node, (nir.LI, nir.LIF)):
            a_m, f = _decay(name, p("tau"), dt, integ, "tau")
            c, k_x = f * p("v_leak", 0.0), f * p("r")
        elif isinstance(node, (nir.I, nir.IF)):
            a_m, k_x = np.ones(shape), dt * p("r")
        elif isinstance(node, (nir.CubaLI, nir.CubaLIF)):
            ts, tm, r, w_in = p("tau_syn"), p("tau_mem"), p("r"), p("w_in", 1.0)
            a_s, f_s = _decay(name, ts, dt, integ, "tau_syn")
            a_m, f_m = _decay(name, tm, dt, integ, "tau_mem")
            g_s, c = f_s * w_in, f_m * p("v_leak", 0.0)
            if integ == "exact":
                with np.errstate(divide="ignore", invalid="ignore"):
                    q = np.where(np.isclose(ts, tm, rtol=1e-9, atol=0), dt / tm * a_m,
                                 ts / (ts - tm) * (a_s - a_m))
                k_i, k_x = r * q, r * w_in * (1.0 - a_m - q)
            else:
                k_i, k_x = f_m * r * a_s, f_m * r * g_s
        else:
            raise InvalidModel(f"{type(node).__name__} is not a neuron type", where=name)
        cast = lambda a: None if a is None else np.ascontiguousarray(a, dtype=dtype)  # noqa: E731
        self.a_m, self.k_x, self.a_s, self.g_s, self.k_i = map(cast, (a_m, k_x, a_s, g_s, k_i))
        self.c = cast(c) if np.any(c) else None
        self.spiking = isinstance(node, SPIKING)
        self.v = np.zeros((batch,) + tuple(shape), dtype=dtype)
        self.i = np.zeros_like(self.v) if a_s is not None else None
        if self.spiking:
            self.theta = cast(p("v_threshold"))
            self.mode, self.timing = sem.reset, sem.reset_timing
            self.v_reset = cast(p("v_reset", 0.0)) if sem.reset == "v_reset" else np.zeros((), dtype)
            self.s = np.zeros(self.v.shape, dtype=bool)
        self.dtype = dtype

    def step(self, x: np.ndarray) -> np.ndarray:
        v = self.v
        late = self.spiking and self.timing != "same_step"
        if late and self.timing == "next_step" and self.mode != "subtract":
            v = np.where(self.s, self.v_reset, v)
        vn = self.a_m * v + self.k_x * x
        if self.c is not None:
            vn += self.c
        if self.i is not None:
            vn += self.k_i * self.i
            self.i = self.a_s * self.i + self.g_s * x
        if not self.spiking:
            self.v = vn
            return vn
        if late:
            if self.mode == "subtract":
                vn -= self.s * self.theta
            elif self.timing == "next_step_hold":
                vn = np.where(self.s, self.v_reset, vn)
        s = vn > self.theta
        if not late:
            if self.mode == "subtract":
                vn -= s * self.theta
            else:
                vn = np.where(s, self.v_reset, vn)
        self.v, self.s = vn, s
        return s.astype(self.dtype)


class Delay:
    """NIR ``Delay``: y[t] = x[t - round(delay/dt)] per element, zeros before the line fills."""

    spiking = False

    def __init__(self, name: str, node, shape: tuple, sem: Semantics, batch: int, dtype):
        delay = _param(node, "delay", shape)
        steps = np.rint(delay / sem.dt).astype(np.int64)
        if np.any(steps < 0) or not np.allclose(steps * sem.dt, delay, rtol=1e-6, atol=1e-12):
            raise InvalidModel(f"delays must be non-negative multiples of dt={sem.dt}", where=name)
        self.buf = np.zeros((int(steps.max()) + 1, batch) + tuple(shape), dtype=dtype)
        self.steps, self.t = steps, 0

    def step(self, x: np.ndarray) -> np.ndarray:
        n = len(self.buf)
        self.buf[self.t % n] = x
        idx = np.broadcast_to((self.t - self.steps) % n, self.buf.shape[1:])[None]
        self.t += 1
        return np.take_along_axis(self.buf, idx, axis=0)[0]
