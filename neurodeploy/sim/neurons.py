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
`Semantics.reset` and `Semantics.reset_timing` (see `neurodeploy.semantics`; ``same_step_double``
tests v' - v_threshold instead where the v stored after the last step's reset was still above
v_threshold). A node may carry its own reset fields (`neurodeploy.ir.meta.node_semantics`); the
caller passes the node's `Semantics`. A spiking node
outputs s; LI, CubaLI and I output v'. State starts at zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidModel
from ..semantics import Semantics

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


@dataclass(frozen=True)
class Coefficients:
    """One neuron node's per-step update under a `Semantics` (arrays of the node's shape).

    ``i' = a_s*i + g_s*x``; ``v' = a_m*v + c + k_i*i + k_x*x``; spiking types emit ``v' > theta``
    and reset to ``v_reset`` (zeros unless the semantics' reset is ``v_reset``). Fields that do not
    apply are None (``a_s``, ``g_s``, ``k_i`` without a synaptic current; ``c`` without a leak
    target; ``theta``, ``v_reset`` for non-spiking types). Every backend discretises through this,
    so chips and the reference share one set of equations (`neurodeploy.lowering`)."""

    a_m: np.ndarray
    k_x: np.ndarray
    c: np.ndarray | None = None
    a_s: np.ndarray | None = None
    g_s: np.ndarray | None = None
    k_i: np.ndarray | None = None
    theta: np.ndarray | None = None
    v_reset: np.ndarray | None = None

    @property
    def spiking(self) -> bool:
        return self.theta is not None


def leaky(name: str, node, shape: tuple, sem: Semantics) -> dict:
    """LI, LIF: the first row of the table."""
    a_m, f = _decay(name, _param(node, "tau", shape), sem.dt, sem.integrator, "tau")
    return dict(a_m=a_m, c=f * _param(node, "v_leak", shape, default=0.0), k_x=f * _param(node, "r", shape))


def integrator(name: str, node, shape: tuple, sem: Semantics) -> dict:
    """I, IF: no leak, exact for a held input under both integrators."""
    return dict(a_m=np.ones(shape), k_x=sem.dt * _param(node, "r", shape))


def current_based(name: str, node, shape: tuple, sem: Semantics) -> dict:
    """CubaLI, CubaLIF: the coupled synaptic current and membrane."""
    p = lambda f, d=None: _param(node, f, shape, default=d)  # noqa: E731
    dt, integ = sem.dt, sem.integrator
    ts, tm, r, w_in = p("tau_syn"), p("tau_mem"), p("r"), p("w_in", 1.0)
    a_s, f_s = _decay(name, ts, dt, integ, "tau_syn")
    a_m, f_m = _decay(name, tm, dt, integ, "tau_mem")
    g_s, c = f_s * w_in, f_m * p("v_leak", 0.0)
    if integ == "exact":
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(np.isclose(ts, tm, rtol=1e-9, atol=0), dt / tm * a_m, ts / (ts - tm) * (a_s - a_m))
        k_i, k_x = r * q, r * w_in * (1.0 - a_m - q)
    else:
        k_i, k_x = f_m * r * a_s, f_m * r * g_s
    return dict(a_m=a_m, c=c, k_x=k_x, a_s=a_s, g_s=g_s, k_i=k_i)


def discretise(name: str, node, shape: tuple, sem: Semantics) -> Coefficients:
    """The update coefficients of neuron `node` (table in the module docstring), float64; the
    rule per type is its op definition's `discretise` (`neurodeploy.ops.stock`)."""
    from .. import ops

    op = ops.find(node)
    if op is None or op.discretise is None:
        raise InvalidModel(f"{type(node).__name__} is not a neuron type", where=name)
    co = op.discretise(name, node, shape, sem)
    arr = lambda a: None if a is None else np.broadcast_to(np.asarray(a, np.float64), shape)  # noqa: E731
    c = co.get("c")
    theta = v_reset = None
    if op.spiking:
        theta = _param(node, "v_threshold", shape)
        v_reset = _param(node, "v_reset", shape, default=0.0) if sem.reset == "v_reset" else np.zeros(shape)
    return Coefficients(arr(co["a_m"]), arr(co["k_x"]), arr(c) if c is not None and np.any(c) else None,
                        arr(co.get("a_s")), arr(co.get("g_s")), arr(co.get("k_i")), arr(theta), arr(v_reset))


class Neuron:
    """State and coefficients of one neuron node, for a batch of B samples."""

    def __init__(self, name: str, node, shape: tuple, sem: Semantics, batch: int, dtype):
        co = discretise(name, node, shape, sem)
        cast = lambda a: None if a is None else np.ascontiguousarray(a, dtype=dtype)  # noqa: E731
        self.a_m, self.k_x, self.a_s, self.g_s, self.k_i = map(cast, (co.a_m, co.k_x, co.a_s, co.g_s, co.k_i))
        self.c = cast(co.c)
        self.spiking = co.spiking
        self.v = np.zeros((batch,) + tuple(shape), dtype=dtype)
        self.i = np.zeros_like(self.v) if co.a_s is not None else None
        if self.spiking:
            self.theta = cast(co.theta)
            self.mode, self.timing = sem.reset, sem.reset_timing
            self.v_reset = cast(co.v_reset) if sem.reset == "v_reset" else np.zeros((), dtype)
            self.s = np.zeros(self.v.shape, dtype=bool)
            self.out = np.zeros_like(self.v)
            # same_step_double: the stored v was still above threshold after the reset
            self.above = np.zeros(self.v.shape, dtype=bool) if self.timing == "same_step_double" else None
        self.dtype = dtype
        # The step works in place with scalars for uniform coefficients and skips factors of 1
        # (x * 1 == x exactly): the same arithmetic, without per-step temporaries.
        self._a_m, self._k_x, self._k_i = _factor(self.a_m), _factor(self.k_x), _factor(self.k_i)
        self._a_s, self._g_s = _factor(self.a_s), _factor(self.g_s)
        self._c = None if self.c is None else _uniform(self.c)
        self._buf = np.zeros_like(self.v)
        if self.spiking:
            self._theta, self._v_reset = _uniform(self.theta), _uniform(self.v_reset)

    def step(self, x: np.ndarray) -> np.ndarray:
        """Advance one step on input x (B, *shape); the returned array is reused by the next step."""
        v, buf = self.v, self._buf
        late = self.spiking and self.timing in ("next_step", "next_step_hold")
        if late and self.timing == "next_step" and self.mode != "subtract":
            np.copyto(v, self._v_reset, where=self.s)
        if self._a_m is not None:
            v *= self._a_m
        v += x if self._k_x is None else np.multiply(x, self._k_x, out=buf)
        if self._c is not None:
            v += self._c
        if self.i is not None:
            v += self.i if self._k_i is None else np.multiply(self.i, self._k_i, out=buf)
            if self._a_s is not None:
                self.i *= self._a_s
            self.i += x if self._g_s is None else np.multiply(x, self._g_s, out=buf)
        if not self.spiking:
            return v
        if late and (self.mode == "subtract" or self.timing == "next_step_hold"):
            self._reset(v, self.s)  # the previous step's spikes
        test = v
        if self.above is not None and self.above.any():  # the stored v stayed above theta: test v - theta
            test = np.where(self.above, v - self._theta, v)
        s = np.greater(test, self._theta, out=self.s)
        if not late:
            self._reset(v, s)
            if self.above is not None:
                np.greater(v, self._theta, out=self.above)
        np.copyto(self.out, s)
        return self.out

    def _reset(self, v, s):
        if self.mode == "subtract":
            np.subtract(v, self._theta, out=v, where=s)
        else:
            np.copyto(v, self._v_reset, where=s)


def _uniform(a):
    """`a` as a 0-d array when all its values are equal (cheaper to broadcast), else `a`."""
    return a.reshape(-1)[:1].reshape(()) if a.size and np.all(a == a.reshape(-1)[0]) else a


def _factor(a):
    """A coefficient for multiplication: None when it is 1 everywhere (nothing to do)."""
    if a is None or np.all(a == 1):
        return None
    return _uniform(a)


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
