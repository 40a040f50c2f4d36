"""Event-driven convolution: scatter the synapses of each non-zero input instead of a dense GEMM.

Spiking layers are sparse (the NIR paper's CNN fires 1-10 % of its neurons per step), so adding
each active input's outgoing synapses to their targets costs active inputs x fan-out, against
every output x kernel for the dense convolution. The synapse table (per input element: target
output index and weight of each synapse) is built once per node, so a step is two row gathers
and one ``np.bincount`` - few NumPy calls, which is what counts at batch 1. Synapses that fall
between strided outputs or into the padding point at a spare slot that is dropped.

The table holds every synapse (16 bytes each), so it is only built up to `MAX_SYNAPSES`; larger
layers always run dense, which is where scattering stops paying anyway: a scattered synapse costs
about a hundred dense multiply-adds, so it only wins at low density on small layers.

The sums are accumulated by ``np.bincount`` in float64 and rounded to the simulation dtype once,
so the result equals the dense convolution up to floating-point summation order (bit for bit
when the partial sums are exact, as for 0/1 inputs and weights with few significant bits).
"""
from __future__ import annotations

import numpy as np

MAX_SYNAPSES = 1 << 21  # per layer: a 32 MiB table
# Cost model choosing scatter or dense per call, in units of one dense multiply-add (im2col
# GEMM). Timed single-threaded on the 2-core EPYC of bench/reference.md: inside the running paper
# CNN a scattered synapse costs ~110 multiply-adds (5.6 ns vs 0.05 ns at batch 64: the synapse
# table competes for cache with the other layers); in isolation (9 conv shapes x batch 1/8/64 x
# density 1/5/20 %, tables cache-warm) only 20-60, where these constants lose 14 % on average
# against always picking the faster path. Fixed costs per call: ~300 000 for scatter, ~500 000
# per GEMM group. They only pick the faster path; both give the same sums.
SYNAPSE_COST, CALL_COST, GEMM_CALL = 100, 300_000, 500_000
MAX_TERMS = 1 << 23  # scattered synapses per call (temporaries of ~24 bytes each)


def scatter(w, groups, in_spatial, out_spatial, stride, dilation, pads):
    """The `Scatter` of a convolution, or None when its synapse table would be too large."""
    q, tap = _reach(in_spatial, out_spatial, w.shape[2:], stride, dilation, pads, -1)
    if q.size * w.shape[0] * w.shape[1] > MAX_SYNAPSES:  # positions x reach x Cout x Cin/groups
        return None
    return Scatter(w, groups, q, tap, int(np.prod(out_spatial)))


class Scatter:
    """Convolution (no bias) of (N, Cin, *in_spatial) inputs by scattering active inputs' synapses."""

    def __init__(self, w, groups, q, tap, out_size):
        cout, cg = w.shape[:2]
        og, taps = cout // groups, int(np.prod(w.shape[2:]))
        in_size, self.out_size = len(q), out_size
        c = np.arange(cg * groups)[:, None, None, None]  # input channel, position, reached tap, out
        o = (c // cg) * og + np.arange(og)  # output channel
        self.target = np.where(q[None, :, :, None] < 0, cout * self.out_size,  # spare slot
                               o * self.out_size + q[None, :, :, None]).reshape(cg * groups * in_size, -1)
        w_g = w.reshape(groups, og, cg, taps).transpose(0, 2, 3, 1).reshape(groups * cg, taps, og)
        self.weight = w_g[c[..., 0], tap[None]].astype(np.float64).reshape(self.target.shape)
        self.out = cout * self.out_size + 1  # per sample, with the spare slot
        self.dtype = w.dtype

    def events(self, x, dense_cost):
        """Flat indices of x's non-zero entries, or None when the dense path (`dense_cost`) is cheaper."""
        active = x.reshape(-1) != 0
        terms = np.count_nonzero(active) * self.target.shape[1]
        if terms > MAX_TERMS or SYNAPSE_COST * terms + CALL_COST >= dense_cost:
            return None
        return np.flatnonzero(active)

    def __call__(self, x, idx):
        """(N, Cout * out_size) sums for input x whose non-zero flat indices are idx."""
        n = x.shape[0]
        b, e = np.divmod(idx, len(self.target))  # sample, input element
        target = np.take(self.target, e, axis=0)
        if n > 1:
            target += (b * self.out)[:, None]
        weight = np.take(self.weight, e, axis=0)
        value = x.reshape(-1)[idx]
        if not np.all(value == 1):  # graded input (spikes need no multiply)
            weight *= value.astype(np.float64)[:, None]
        y = np.bincount(target.ravel(), weight.ravel(), minlength=n * self.out)
        return y.reshape(n, self.out)[:, :-1].astype(self.dtype)


def _reach(in_spatial, out_spatial, kernel, stride, dilation, pads, nowhere):
    """Per input position: flat output positions it reaches (`nowhere` if none) and the tap used."""
    pos = np.indices(in_spatial).reshape(len(in_spatial), -1)  # (nd, positions)
    q = np.zeros((pos.shape[1], int(np.prod(kernel))), dtype=np.int64)
    for k, tap in enumerate(np.ndindex(*kernel)):  # setup only: a few dozen taps
        flat = np.zeros(pos.shape[1], dtype=np.int64)
        ok = np.ones(pos.shape[1], dtype=bool)
        for d in range(len(kernel)):
            off = pos[d] + pads[d][0] - tap[d] * dilation[d]  # = output index * stride
            ok &= (off % stride[d] == 0) & (off >= 0) & (off // stride[d] < out_spatial[d])
            flat = flat * out_spatial[d] + off // stride[d]
        q[:, k] = np.where(ok, flat, nowhere)
    order = np.argsort(q == nowhere, axis=1, kind="stable")  # reachable taps first
    reach = max(1, int((q != nowhere).sum(axis=1).max()))
    tap = np.ascontiguousarray(order[:, :reach])
    return np.take_along_axis(q, tap, axis=1), tap
