"""The digital periphery: LIF / IF / CubaLIF (and LI, I, CubaLI) neurons in fixed point.

State is integer, in units of 2^-F of the neuron's threshold theta (F = state fraction bits), so
the threshold is the integer 2^F; coefficients carry Fc fraction bits. With n the layer's summed
ADC count for the step (an integer), per neuron:

    V' = round((A V + K n + C) / 2^Fc) + U        U' = round((As U + Ks n + Cs) / 2^Fc)

(U is the synaptic current's contribution k_i*i, CubaLIF only; round = half up), then a spike
when V' > 2^F and the reset (zero, subtract 2^F, or the stored reset value R). V saturates at the
state register's width. The compiler derives A, K, C, ... from the reference's own discretisation
(neurodeploy.sim.neurons.discretise), so rounding is the only difference from it.
"""
from __future__ import annotations

import numpy as np

ROLE = "simulate"


class Periphery:
    def __init__(self, layer: dict, arrays: dict, bits: dict, reset: str, batch: int, real_adc: bool):
        get = lambda k: arrays[f"{layer['name']}.{k}"].astype(np.int64)  # noqa: E731
        self.A, self.C, self.As, self.Cs, self.R = get("A"), get("C"), get("As"), get("Cs"), get("R")
        self.K, self.Ks = (get("Ka"), get("Ksa")) if real_adc else (get("K"), get("Ks"))
        self.theta = arrays[f"{layer['name']}.theta"]
        self.Fc, self.F = int(bits["coefficient"]), int(bits["fraction"])
        self.one, self.half = np.int64(1) << self.F, np.int64(1) << (self.Fc - 1)
        self.vmax = (np.int64(1) << (int(bits["state"]) - 1)) - 1
        self.spiking = layer["kind"] in ("LIF", "IF", "CubaLIF")
        self.cuba = layer["kind"].startswith("Cuba")
        self.reset = reset
        n = layer["size"]
        self.V = np.zeros((batch, n), np.int64)
        self.U = np.zeros((batch, n), np.int64)
        self.saturated = 0

    def step(self, counts: np.ndarray) -> np.ndarray:
        V = (self.A * self.V + self.K * counts + self.C + self.half) >> self.Fc
        if self.cuba:
            V += self.U
            self.U = (self.As * self.U + self.Ks * counts + self.Cs + self.half) >> self.Fc
        over = np.abs(V) > self.vmax
        if over.any():
            self.saturated += int(over.sum())
            np.clip(V, -self.vmax, self.vmax, out=V)
        self.V = V
        if not self.spiking:
            return self.v
        s = V > self.one
        if self.reset == "subtract":
            V -= np.where(s, self.one, 0)
        else:
            V[...] = np.where(s, self.R if self.reset == "v_reset" else 0, V)
        return s

    @property
    def v(self) -> np.ndarray:
        return self.V * (self.theta / float(self.one))
