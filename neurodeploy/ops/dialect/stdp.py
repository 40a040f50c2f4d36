"""Pair-based additive STDP with exponential traces, step by step as Brian2 runs it.

Per step t (dt = Semantics.dt), for each sample's own weights W (out, in):
 1. traces decay: x_pre *= exp(-dt/tau_plus), x_post *= exp(-dt/tau_minus);
 2. pre spikes (Brian2's ``on_pre``, which runs first): x_pre[i] += 1, then
    W[:, i] -= a_minus * x_post, clipped to [w_min, w_max];
 3. post spikes (``on_post``): x_post[j] += 1, then W[j, :] += a_plus * x_pre, clipped.
So a pre and a post spike in the same step potentiate by a_plus (the pre spike's trace is
already counted when the post side reads it) and do not depress. The returned weights act from
the next step. Equations, order and source: docs/equations.md.
"""
from __future__ import annotations

import numpy as np

from ...errors import InvalidModel


class STDPState:
    def __init__(self, name, node, w0, sem, batch, dtype):
        self.name, self.dtype = name, dtype
        w0 = np.asarray(w0)
        if w0.ndim != 2:
            raise InvalidModel(f"STDP needs a 2-D weight (out, in), got shape {w0.shape}", where=name)
        self.w = np.repeat(np.asarray(w0, dtype)[None], batch, axis=0)  # (B, out, in)
        self.decay_pre = np.exp(-sem.dt / node.tau_plus)
        self.decay_post = np.exp(-sem.dt / node.tau_minus)
        self.a_plus, self.a_minus = node.a_plus, node.a_minus
        self.w_min, self.w_max = node.w_min, node.w_max
        b, n_out, n_in = self.w.shape
        self.x_pre = np.zeros((b, n_in), dtype)
        self.x_post = np.zeros((b, n_out), dtype)
        self.updates = 0

    def step(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        self.arrive(pre)
        return self.depart(post)

    def arrive(self, pre: np.ndarray) -> np.ndarray:
        """Steps 1-2 (before the synapses transmit: Brian2's on_pre depresses, then adds the
        weight to the target, so an arriving spike carries its depressed weight)."""
        b, n_out, n_in = self.w.shape
        s_pre = self._spikes(pre, (b, n_in), "pre")
        self.x_pre *= self.decay_pre
        self.x_post *= self.decay_post
        if s_pre.any():
            self.x_pre += s_pre
            self._update(-self.a_minus * self.x_post[:, :, None], s_pre[:, None, :])
        self.updates += int(s_pre.sum()) * n_out
        return self.w

    def depart(self, post: np.ndarray) -> np.ndarray:
        """Step 3, once the post neurons of this step have spiked."""
        b, n_out, n_in = self.w.shape
        s_post = self._spikes(post, (b, n_out), "post")
        if s_post.any():
            self.x_post += s_post
            self._update(self.a_plus * self.x_pre[:, None, :], s_post[:, :, None])
        self.updates += int(s_post.sum()) * n_in
        return self.w

    def _update(self, dw, spiked):
        """w += dw, clipped, on the synapses of the neurons that spiked (others keep their value,
        even one outside the bounds, as Brian2's per-synapse clip does)."""
        mask = np.broadcast_to(spiked.astype(bool), self.w.shape)
        np.copyto(self.w, np.clip(self.w + dw, self.w_min, self.w_max), where=mask)

    def _spikes(self, s, shape, which):
        s = np.asarray(s).reshape(shape)
        if not np.all((s == 0) | (s == 1)):
            raise InvalidModel(f"STDP {which}-synaptic input must be 0/1 spikes", where=self.name,
                               hint="the rule is defined on spike trains")
        return s.astype(self.dtype)

    def counters(self) -> dict[str, int]:
        """weight_updates: synapses whose weight a spike changed (out per pre spike, in per post)."""
        return {"weight_updates": self.updates}
