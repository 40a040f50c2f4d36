"""The crossbar engine (``sim``): runs an artifact on simulated devices, one device draw at a time.

Reads only the artifact (layout.py decodes it). Per draw, every layer's target conductances are
programmed (device.py) with the enabled effects, then each step every layer's inputs are applied
as read pulses row block by row block (one block per tile row), the column currents are converted
(ADC) per tile and the tiles' counts summed digitally, and the periphery (periphery.py) updates the
neurons. Effects (compile option ``effects=``, run option ``effects``; default none: ideal
devices, which is exactly the artifact's quantized graph):

    programming  programming noise (+ write-verify iterations from the compile option ``verify``)
    faults       stuck-at-g_min / stuck-at-g_max cells
    drift        conductance drift to ``drift_time`` seconds after programming
    read_noise   the 1/f noise accumulated to ``drift_time`` and white noise on every read
    dac, adc     converter quantization (DAC bits; ADC bits over the range the compiler chose)
    ir_drop      wire resistance (the fast approximation of irdrop.py, linearised at the devices'
                 expected conductances, so one set of kernels serves every draw)

Every draw's generator is ``SFC64(SeedSequence(seed, spawn_key=(draw,)))``; the seeds are in the
result.
With ``samples=N`` the run is a Monte Carlo (montecarlo.py): N draws, each compared with the ideal
run, summarised with 95 % confidence intervals in ``result.extra["monte_carlo"]``; the traces
returned are draw 0's.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from functools import cached_property
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

from neurodeploy.artifact import Artifact
from neurodeploy.errors import UsageError
from neurodeploy.result import Result, add_counters
from neurodeploy.sim.reference import _inputs as reference_inputs

from . import device as dv
from . import layout, montecarlo
from .irdrop import Fast
from .periphery import Periphery

ROLE = "simulate"

EFFECTS = ("programming", "faults", "drift", "read_noise", "dac", "adc", "ir_drop")
RANDOM = ("programming", "faults", "drift", "read_noise")


def parse_effects(value) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [e.strip() for e in (value.split(",") if isinstance(value, str) else value) if str(e).strip()]
    if items in (["none"], []):
        return ()
    if items == ["all"]:
        return EFFECTS
    bad = sorted(set(items) - set(EFFECTS))
    if bad:
        raise UsageError(f"unknown crossbar effect(s) {', '.join(bad)}", hint=f"known: all, none, {', '.join(EFFECTS)}")
    return tuple(e for e in EFFECTS if e in items)


class Engine:
    name = "sim"
    options = ("samples", "seed", "drift_time", "effects", "labels")

    def run(self, artifact: Artifact, inputs, *, steps: int | None, record: list[str], samples=None, seed=None,
            drift_time=None, effects=None, labels=None) -> Result:
        spec, arrays = layout.read(artifact)
        eff = parse_effects(spec["effects"] if effects is None else effects)
        t = float(drift_time or 0)
        if not np.isfinite(t) or t < 0:
            raise UsageError(f"drift time {drift_time!r} s is before programming (must be >= 0)",
                             where="drift_time", hint="give the seconds elapsed since the devices were programmed")
        seed = int(spec["seed"] if seed is None else seed)
        xs, T, B = _inputs(spec, inputs, steps)
        record = _record(spec, record)
        if samples is None:
            return simulate(spec, arrays, xs, T, B, record, eff, t, np.random.SeedSequence(seed, spawn_key=(0,)))
        n = int(samples)
        if n < 1:
            raise UsageError(f"samples must be >= 1, got {samples!r}")
        outs = list(spec["outputs"].values())
        y = montecarlo.check_labels(labels, B)
        cache = {}
        ideal = simulate(spec, arrays, xs, T, B, outs, (), t, None, cache)

        def draw(k, keep):
            return simulate(spec, arrays, xs, T, B, keep, eff, t, np.random.SeedSequence(seed, spawn_key=(k,)), cache)

        # Draw 0 keeps its traces and fills the cache every draw shares before the workers copy it;
        # the others hand back their scores only.
        first = draw(0, sorted(set(record) | set(outs)))
        score = montecarlo.scorer(ideal, outs, y)
        scores = [score(first)] + _map(lambda k: score(draw(k, outs)), range(1, n))
        summary = montecarlo.summarise(ideal, scores, outs, y)
        first.extra["monte_carlo"] = {**summary, "seed": seed, "effects": list(eff), "drift_time": t}
        first.spikes = {k: v for k, v in first.spikes.items() if k in record}
        return first


ENGINE = Engine()


def _map(fn, ks: range) -> list:
    """[fn(k) for k in ks] over the cores. Draws are independent (own generator each), so they run
    in forked worker processes, which inherit `fn` and the cache it closes over: threads spend most
    of their time handing the GIL over between NumPy's short per-chunk kernels (on 2 cores, 2
    threads ran a loop of them 1.2x faster than one, 2 processes 1.8x). Threads where a process
    cannot fork safely: no fork on the platform, macOS (where Python calls fork unsafe), or a
    daemonic process such as a Dask worker."""
    workers = min(len(ks), os.cpu_count() or 1)
    if workers <= 1:
        return [fn(k) for k in ks]
    if sys.platform != "darwin" and "fork" in mp.get_all_start_methods() and not mp.current_process().daemon:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_install,
                                 initargs=(fn,)) as pool:
            return list(pool.map(_call, ks))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, ks))


_job = None  # in a worker process: the function _map hands it


def _install(fn) -> None:
    global _job
    _job = fn


def _call(k):
    return _job(k)


def _inputs(spec, inputs, steps):
    """(T, B, n) float64 inputs per input name, checked by the reference simulator's own rules."""
    io = SimpleNamespace(inputs=list(spec["inputs"]), out_shape={n: tuple(s) for n, s in spec["inputs"].items()})
    xs, T, B = reference_inputs(io, inputs, steps, np.float64)
    return {n: a.reshape(T, B, -1) for n, a in xs.items()}, T, B


def _record(spec, record):
    layers = {lay["name"] for lay in spec["layers"]}
    names = list(record) or list(spec["outputs"])
    for n in names:
        if n not in layers and n not in spec["outputs"]:
            raise UsageError(f"cannot record {n!r}: not a neuron layer or output of this artifact",
                             hint=f"layers: {', '.join(sorted(layers))}")
    return names


class Targets:
    """What every draw of one layer starts from: the target conductances with a pair on two adjacent
    columns, and what depends on the targets only (kept across draws): the per-cell statistics and
    the IR-drop kernels."""

    def __init__(self, gp, gn, dtype, d: dv.Device):
        self.G = np.empty((gp.shape[0], 2 * gp.shape[1]), dtype)
        self.G[:, 0::2], self.G[:, 1::2] = gp, gn
        self.d = d
        self.nnz_row = (gp != gn).sum(1)
        self._kernels = {}

    @cached_property
    def sigma(self) -> np.ndarray:
        return dv.prog_sigma(self.G, self.d)

    @cached_property
    def nu(self) -> tuple[np.ndarray, np.ndarray]:
        return dv.nu_stats(self.G, self.d)

    def expected(self, random: tuple, t: float) -> np.ndarray:
        """dv.expected of the targets, computed once per level when they all sit on the level grid
        (a mapped layer's do; a reservoir's device draws do not)."""
        d, G = self.d, self.G
        grid = (d.g_min + np.arange(d.levels) * d.step).astype(G.dtype)
        k = np.clip(np.rint((G - G.dtype.type(d.g_min)) / G.dtype.type(d.step)), 0, d.levels - 1).astype(np.intp)
        if np.array_equal(grid[k], G):
            return dv.expected(grid, d, random, t).astype(G.dtype)[k]
        return dv.expected(G, d, random, t).astype(G.dtype)

    def kernels(self, random: tuple, t: float, circuit: dict, row_blocks, col_starts) -> list[np.ndarray]:
        """[K1 | K2] per row block, linearised at the devices' expected conductances under the
        `random` effects at `t` (irdrop.Fast): the drop sums hundreds of cells whose independent
        deviations average out, so every draw shares them (tests/test_crossbar_irdrop.py states the
        error against the exact nodal solution of drawn devices)."""
        key = (random, t)
        if key not in self._kernels:
            Ge = self.expected(random, t)
            cols, out = self.G.shape[1], []
            for r0, r1 in row_blocks:
                K = np.empty((r1 - r0, 2 * cols), self.G.dtype)
                Fast(Ge[r0:r1], circuit["r_row"], circuit["r_col"], col_starts, out=(K[:, :cols], K[:, cols:]))
                out.append(K)
            self._kernels[key] = out
        return self._kernels[key]


class Layer:
    """One neuron layer's devices for one draw: conductances per row block, ready to read."""

    def __init__(self, lay, arrays, spec, eff, t, rng, cache: dict):
        d = dv.Device.from_dict(spec["device"])
        c = spec["circuit"]
        name = lay["name"]
        # Ideal devices read in float64 (counts exact to the level); device draws in float32, whose
        # rounding (1e-7 relative) is far below any device effect.
        self.dtype = np.float32 if set(eff) & set(RANDOM + ("ir_drop",)) else np.float64
        key = (name, np.dtype(self.dtype).name)
        if key not in cache:
            cache[key] = Targets(arrays[f"{name}.gp"], arrays[f"{name}.gn"], self.dtype, d)
        tg = cache[key]
        n = lay["size"]
        # A reservoir's programming draw is its weights (in the artifact), not an effect on them.
        random = tuple(e for e in eff if e in RANDOM and not (e == "programming" and lay["reservoir"]))
        G, self.faults = tg.G, 0
        if rng is not None and random:
            G, self.faults = dv.draw(tg.G, d, random, t, rng, int(spec["verify"]),
                                     tg.sigma if "programming" in random else None,
                                     tg.nu if "drift" in random else None)
        self.rng = rng if "read_noise" in eff else None
        self.read_sigma = c["per_read_sigma"] * d.g_max
        self.step = d.step
        self.adc = "adc" in eff
        self.dac = 2 ** (int(c["dac_bits"]) - 1) - 1 if "dac" in eff else None
        self.code_max = 2 ** int(c["adc_bits"]) - 1
        self.lsb = lay["adc_lsb"] * d.step
        self.n, self.name = n, name
        self.cols = 2 * n
        rb = lay["row_blocks"]
        K = tg.kernels(random, t, c, rb, [2 * a for a, _ in lay["col_blocks"]]) if "ir_drop" in eff else [None] * len(rb)
        self.blocks = [(r0, r1, G[r0:r1], k) for (r0, r1), k in zip(rb, K)]
        self.n_col_tiles = len(lay["col_blocks"])
        self.nnz_row = tg.nnz_row

    def counts(self, x: np.ndarray, counters: dict, memo: dict | None = None) -> np.ndarray:
        """Summed ADC counts (N, n) for inputs x (N, rows). `memo` keeps the sparse form and the
        IR-drop kernel products of inputs that are the same in every draw (a layer fed only by the
        graph's inputs)."""
        x = x.astype(self.dtype, copy=False)
        if self.dac is not None:
            x = np.rint(np.clip(x, -1, 1) * self.dac) / self.dac
        total = np.zeros((x.shape[0], self.n), np.int64)
        for r0, r1, g, K in self.blocks:
            xb = x[:, r0:r1]
            active = np.count_nonzero(xb, axis=1)
            if not active.any():
                continue
            # Spikes are sparse: summing the selected rows beats a dense product below ~1/4 activity.
            if memo is not None and r0 in memo:
                xs, d12 = memo[r0]
            else:
                xs = sp.csr_matrix(xb) if 2 * 2 * int(active.sum()) < xb.size else xb
                d12 = None if K is None else np.asarray(xs @ K)
                if memo is not None:
                    memo[r0] = xs, d12
            cur = np.asarray(xs @ g)
            if K is not None:
                delta = d12[:, :self.cols] + (active / (r1 - r0))[:, None] * d12[:, self.cols:]
                with np.errstate(divide="ignore", invalid="ignore"):
                    cur = np.where(cur > 0, cur * cur / (cur + delta), 0)
            if self.rng is not None:
                sig = self.read_sigma * np.sqrt((xb * xb).sum(1))[:, None]
                cur = cur + sig * dv.normals(self.rng, cur.shape, cur.dtype)
            if self.adc:
                code = np.rint(cur / self.lsb)
                np.clip(code, 0, self.code_max, out=code)
                code = code.astype(np.int64)
                total += code[:, 0::2] - code[:, 1::2]
            else:
                total += np.rint((cur[:, 0::2] - cur[:, 1::2]) / self.step).astype(np.int64)
            n_act = int(active.sum())
            add_counters(counters, {"cell_reads": n_act * self.cols, "dac_conversions": n_act * self.n_col_tiles,
                                    "adc_conversions": int(np.count_nonzero(active)) * self.cols})
        return total


def simulate(spec, arrays, xs, T, B, record, eff, t, seedseq, cache: dict | None = None) -> Result:
    """One draw (seedseq None: the ideal devices) over T steps; `cache` keeps, across the draws
    of a Monte Carlo, each layer's `Targets` and the IR-drop products of inputs every draw shares."""
    cache = {} if cache is None else cache
    t_start = time.perf_counter()
    rng = None if seedseq is None else np.random.Generator(np.random.SFC64(seedseq))
    layers = [Layer(lay, arrays, spec, eff, t, rng, cache) for lay in spec["layers"]]
    bits, reset = spec["bits"], spec["reset"]
    periph = {lay["name"]: Periphery(lay, arrays, bits, reset, B, "adc" in eff) for lay in spec["layers"]}
    per_layer = {lay["name"]: {} for lay in spec["layers"]}
    outputs = {n: np.zeros((T, B, layer_size(spec, n))) for n in spec["inputs"]}
    for n, a in xs.items():
        outputs[n][:] = a
    for lay in spec["layers"]:
        outputs[lay["name"]] = np.zeros((T, B, lay["size"]))
    rec_v = {n: np.zeros((T, B, periph[n].V.shape[1])) for n in record if n in periph}
    # Layers fed only by graph inputs (no delay) are read for all steps at once.
    batched = {}
    for lay, L in zip(spec["layers"], layers):
        if all(s["name"] in spec["inputs"] and not s["delayed"] for s in lay["sources"]):
            x = np.concatenate([xs[s["name"]] for s in lay["sources"]], axis=-1).reshape(T * B, -1)
            memo = cache.setdefault(("inputs", lay["name"], L.dtype, L.dac), {})  # the same in every draw
            batched[lay["name"]] = L.counts(x, per_layer[lay["name"]], memo).reshape(T, B, -1)
    for step in range(T):
        for lay, L in zip(spec["layers"], layers):
            name = lay["name"]
            if name in batched:
                counts = batched[name][step]
            else:
                x = np.concatenate([_source(outputs[s["name"]], step, s["delayed"]) for s in lay["sources"]], axis=-1)
                counts = L.counts(x, per_layer[name])
            outputs[name][step] = periph[name].step(counts)
            if name in rec_v:
                rec_v[name][step] = periph[name].v
    res = Result(sim_time_s=T * float(spec["dt"]))
    for lay, L in zip(spec["layers"], layers):
        c, name = per_layer[lay["name"]], lay["name"]
        x = np.concatenate([_all(outputs[s["name"]], s["delayed"]) for s in lay["sources"]], axis=-1)
        c["synaptic_events"] = int(np.count_nonzero(x.reshape(T * B, -1), axis=0) @ L.nnz_row)
        c["neuron_updates"] = lay["size"] * T * B
        if lay["kind"] in layout.SPIKING:
            c["spikes"] = int(np.count_nonzero(outputs[name]))
        c["saturations"] = periph[name].saturated
        c["stuck_cells"] = L.faults
        add_counters(res.counters, c)
    res.per_layer = per_layer
    res.counters["ticks"] = T
    shapes = {lay["name"]: tuple(lay["shape"]) for lay in spec["layers"]}
    for n in record:
        layer = spec["outputs"].get(n, n)
        res.spikes[n] = outputs[layer].reshape((T, B) + shapes[layer])
        if n in rec_v:
            res.v[n] = rec_v[n].reshape((T, B) + shapes[n])
    res.extra.update(engine="sim", effects=list(eff), drift_time=t, batch=B, steps=T,
                     wall_time_s=time.perf_counter() - t_start,
                     seed={"entropy": seedseq.entropy, "spawn_key": list(seedseq.spawn_key)} if seedseq else None)
    return res


def layer_size(spec, name) -> int:
    return int(np.prod(spec["inputs"][name]))


def _source(out: np.ndarray, step: int, delayed: bool) -> np.ndarray:
    if not delayed:
        return out[step]
    return out[step - 1] if step > 0 else np.zeros_like(out[0])


def _all(out: np.ndarray, delayed: bool) -> np.ndarray:
    """The source's outputs as the layer saw them over all steps."""
    return np.concatenate([np.zeros_like(out[:1]), out[:-1]]) if delayed else out
