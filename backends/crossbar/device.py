"""Device physics of one crossbar cell population: what programming, time and reading do to a
target conductance. Pure functions of arrays, a `Device` (SI units, copied from the target TOML into
the artifact) and a seeded NumPy generator, so every draw can be replayed.

Statistical model (after aihwkit's PCMLikeNoiseModel, Nandakumar et al. ICECS 2019; the RRAM
target uses the same forms with its own coefficients), x = g_target / g_max:

- programming: g = g_target + sigma_prog(x) * N(0,1), sigma_prog = c0 + c1 x + c2 x^2, then
  clamped at 0; write-verify re-draws every cell outside +-verify_tolerance, up to N times;
- stuck-at faults: a cell is stuck at g_min (rate stuck_off) or at g_max (rate stuck_on), drawn as
  the binomial count of faulty cells, their places uniformly without replacement and each one's kind
  (the same law as a Bernoulli draw per cell, without a random number per healthy cell);
- drift: nu = |mu + sigma N(0,1)| drawn per cell at programming from its target,
  mu/sigma = clip(slope*ln(x) + offset, min, max); g(t) = g_prog * ((t + t0)/t0)^-nu;
- 1/f read noise accumulated to time t: Q = min(q0 / (g_prog/g_max)^q_exp, q_max),
  g_final = g_drift + |g_drift| Q sqrt(ln((t + t0 + t_read)/(2 t_read))) N(0,1), clamped at 0;
- finite levels: targets are g_min + k (g_max - g_min)/(levels - 1), chosen by the compiler.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

ROLE = "simulate"

_CELLS = 32768  # format: cells per cache-sized chunk of a draw's elementwise chain (not hardware)


@dataclass(frozen=True)
class Device:
    g_max: float
    g_min: float
    levels: int
    noise_c: tuple[float, float, float]
    verify_tolerance: float
    t0: float
    nu_mu: tuple[float, float, float, float]      # slope, offset, min, max
    nu_sigma: tuple[float, float, float, float]
    t_read: float
    noise_q: tuple[float, float, float]           # q0, exponent, max
    stuck_off: float
    stuck_on: float

    @classmethod
    def from_dict(cls, d: dict) -> "Device":
        return cls(float(d["g_max"]), float(d["g_min"]), int(d["levels"]), tuple(d["noise_c"]),
                   float(d["verify_tolerance"]), float(d["t0"]), tuple(d["nu_mu"]), tuple(d["nu_sigma"]),
                   float(d["t_read"]), tuple(d["noise_q"]), float(d["stuck_off"]), float(d["stuck_on"]))

    @property
    def step(self) -> float:
        """Conductance between two adjacent levels."""
        return (self.g_max - self.g_min) / (self.levels - 1)


def normals(rng: np.random.Generator, shape, dtype=np.float64) -> np.ndarray:
    """Standard normals of `shape` by the Box-Muller transform of uniforms cut from the generator's raw
    bits: vectorised, it takes half the time of NumPy's scalar ziggurat, and normals are most of a
    draw's work. The law is exact up to the uniforms' resolution (24 bits in float32, 53 in
    float64): |z| <= sqrt(-2 ln 2^-bits), 5.77 in float32 (the normal law puts 8e-9 of its mass
    beyond) and 8.57 in float64."""
    dt, n = np.dtype(dtype), int(np.prod(shape))
    h = (n + 1) // 2
    word = np.dtype(np.uint32 if dt == np.float32 else np.uint64)  # one raw word per uniform
    bits = np.finfo(dt).nmant + 1  # the dtype's significand: 24 or 53 bits of the word are kept
    raw = rng.bit_generator.random_raw(2 * h * word.itemsize // np.dtype(np.uint64).itemsize).view(word)
    u = (raw >> word.type(word.itemsize * np.iinfo(np.uint8).bits - bits)).astype(dt)
    u += dt.type(1)
    u *= dt.type(2.0 ** -bits)  # uniform on (0, 1]: the logarithm is finite
    r, th, out = u[:h], u[h:], np.empty(2 * h, dt)
    np.log(r, out=r)
    r *= dt.type(-2)  # format: the Box-Muller radius sqrt(-2 ln u)
    np.sqrt(r, out=r)
    th *= dt.type(2 * np.pi)
    np.sin(th, out=out[h:])
    np.cos(th, out=out[:h])
    out[:h] *= r
    out[h:] *= r
    return out[:n].reshape(shape)


def prog_sigma(g_target: np.ndarray, d: Device) -> np.ndarray:
    x = g_target / d.g_max
    c0, c1, c2 = d.noise_c
    return c0 + c1 * x + c2 * x * x


def program(g_target: np.ndarray, d: Device, rng: np.random.Generator, verify: int = 0,
            sigma: np.ndarray | None = None) -> np.ndarray:
    """Programmed conductances; `verify` write-verify iterations re-draw cells outside tolerance.
    Draws in the targets' dtype (float32 for runs, float64 where exactness is tested); `sigma` is
    `prog_sigma(g_target)` when the caller keeps it across draws."""
    sigma = prog_sigma(g_target, d) if sigma is None else sigma
    g = normals(rng, g_target.shape, g_target.dtype)
    g *= sigma  # in place: the same products and sums as g_target + sigma * N, fewer temporaries
    g += g_target
    for _ in range(verify):
        bad = np.abs(g - g_target) > d.verify_tolerance
        if not bad.any():
            break
        g[bad] = g_target[bad] + sigma[bad] * normals(rng, int(bad.sum()), g_target.dtype)
    return np.maximum(g, 0, out=g)


def stuck_cells(size: int, d: Device, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(sorted flat indices of the stuck cells, True where stuck off rather than on)."""
    p = d.stuck_off + d.stuck_on
    hit = np.sort(rng.choice(size, rng.binomial(size, p), replace=False)) if p > 0 else np.zeros(0, np.intp)
    return hit, rng.random(hit.size) * p < d.stuck_off


def _log_rel(g: np.ndarray, d: Device) -> np.ndarray:
    """ln(|g| / g_max), floored at the dtype's smallest normal number (g = 0 has no logarithm)."""
    a = np.abs(g)
    a /= g.dtype.type(d.g_max)
    np.maximum(a, np.finfo(g.dtype).tiny, out=a)
    return np.log(a, out=a)


def _clip_lin(x, p):
    slope, offset, lo, hi = (x.dtype.type(v) for v in p)
    return np.clip(slope * x + offset, lo, hi)


def nu_stats(g_target: np.ndarray, d: Device) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of each cell's drift exponent (they depend on the target only)."""
    lx = _log_rel(g_target, d)
    return _clip_lin(lx, d.nu_mu), _clip_lin(lx, d.nu_sigma)


def drift_exponents(g_target: np.ndarray, d: Device, rng: np.random.Generator, stats=None) -> np.ndarray:
    mu, sigma = nu_stats(g_target, d) if stats is None else stats
    nu = normals(rng, g_target.shape, g_target.dtype)
    nu *= sigma
    nu += mu
    return np.abs(nu, out=nu)


def drift(g_prog: np.ndarray, nu: np.ndarray, t: float, d: Device) -> np.ndarray:
    """Conductance `t` seconds after programming (t = 0: as programmed, at the reference time t0)."""
    if t <= 0:
        return g_prog
    f = nu * g_prog.dtype.type(-np.log((t + d.t0) / d.t0))
    np.exp(f, out=f)
    f *= g_prog
    return f


def read_noise(g_prog: np.ndarray, g_drift: np.ndarray, t: float, d: Device,
               rng: np.random.Generator) -> np.ndarray:
    """The 1/f noise accumulated up to time `t` after programming, as one draw per cell."""
    q0, qe, qmax = d.noise_q
    dt = g_prog.dtype.type
    q = _log_rel(g_prog, d)
    q *= dt(-qe)
    np.exp(q, out=q)
    q *= dt(q0)
    np.minimum(q, dt(qmax), out=q)
    q *= dt(np.sqrt(np.log((t + d.t0 + d.t_read) / (2 * d.t_read))))
    noise = normals(rng, g_prog.shape, g_prog.dtype)
    g = np.abs(g_drift)  # in place from here: g_drift + |g_drift| q N, clamped at 0
    g *= q
    g *= noise
    g += g_drift
    return np.maximum(g, 0, out=g)


def draw(g_target: np.ndarray, d: Device, eff, t: float, rng: np.random.Generator, verify: int = 0,
         sigma: np.ndarray | None = None, nu: tuple | None = None) -> tuple[np.ndarray, int]:
    """(conductances, stuck cells) of one draw of the random effects in `eff` ("programming",
    "faults", "drift", "read_noise") at `t` seconds, in cache-sized chunks of cells: the chain's
    elementwise passes then stay in the core's cache instead of streaming 8 MB arrays each time.
    `sigma` and `nu` are `prog_sigma` and `nu_stats` of the targets when the caller keeps them."""
    out = np.empty_like(g_target)
    src, dst = g_target.reshape(-1), out.reshape(-1)
    sig = None if sigma is None else sigma.reshape(-1)
    mu, sd = (None, None) if nu is None else (nu[0].reshape(-1), nu[1].reshape(-1))
    hit, off = stuck_cells(src.size, d, rng) if "faults" in eff else (np.zeros(0, np.intp), np.zeros(0, bool))
    at = np.searchsorted(hit, np.arange(0, src.size + _CELLS, _CELLS))
    for c, a in enumerate(range(0, src.size, _CELLS)):
        s = slice(a, a + _CELLS)
        gt = src[s]
        g = program(gt, d, rng, verify, None if sig is None else sig[s]) if "programming" in eff else gt
        if at[c] < at[c + 1]:
            g = g.copy() if g is gt else g
            g[hit[at[c]:at[c + 1]] - a] = np.where(off[at[c]:at[c + 1]], d.g_min, d.g_max)
        g_drift = g
        if "drift" in eff:
            g_drift = drift(g, drift_exponents(gt, d, rng, stats=None if mu is None else (mu[s], sd[s])), t, d)
        dst[s] = read_noise(g, g_drift, t, d, rng) if "read_noise" in eff else g_drift
    return out, int(hit.size)


def expected(g_target: np.ndarray, d: Device, eff, t: float) -> np.ndarray:
    """E[g] per cell after the random effects in `eff` at `t` seconds (float64), from the closed
    forms of the laws above: the point the IR-drop kernels are linearised at (one for all draws).
    Write-verify is taken as not moving the mean, and the read noise's Q at the mean programmed
    conductance (tests/test_crossbar_irdrop.py states what the kernels' error is with it)."""
    g = np.asarray(g_target, np.float64)
    if "programming" in eff:
        s = prog_sigma(g, d)
        z = np.divide(g, s, out=np.full_like(g, np.inf), where=s > 0)          # s = 0: no noise
        g = g * ndtr(z) + s * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)        # E[max(g + s N, 0)]
    if "faults" in eff:
        g = (1 - d.stuck_off - d.stuck_on) * g + d.stuck_off * d.g_min + d.stuck_on * d.g_max
    g_prog = g
    if "drift" in eff and t > 0:
        mu, sd = nu_stats(np.asarray(g_target, np.float64), d)
        L = np.log((t + d.t0) / d.t0)                                          # E[exp(-L |mu + sd N|)]
        g = g * (np.exp(L * (L * sd * sd / 2 - mu)) * ndtr(mu / sd - L * sd)
                 + np.exp(L * (L * sd * sd / 2 + mu)) * ndtr(-mu / sd - L * sd))
    if "read_noise" in eff:
        q0, qe, qmax = d.noise_q
        q = np.minimum(q0 * np.exp(-qe * _log_rel(g_prog, d)), qmax)
        q = q * np.sqrt(np.log((t + d.t0 + d.t_read) / (2 * d.t_read)))
        with np.errstate(divide="ignore"):                                      # q = 0: no noise
            g = g * (ndtr(1 / q) + q * np.exp(-1 / (2 * q * q)) / np.sqrt(2 * np.pi))  # E[max(1 + q N, 0)]
    return g
