"""The trained linear readout (Maass 2002: only the readout learns): exponentially filtered spike
trains of the liquid, sampled at the end of each saccade, then ridge regression onto one-hot labels,
w = (lambda I + S^T S)^-1 S^T Y; the class is the largest output. Runs on the host (digital)."""
from __future__ import annotations

import numpy as np

TAU = 30e-3     # s, filter of the liquid state
RIDGE = 1e-1


def features(spikes: np.ndarray, dt: float, samples_at) -> np.ndarray:
    """(B, len(samples_at) * n) filtered states at the given steps, plus a bias column."""
    T, B = spikes.shape[:2]
    s = spikes.reshape(T, B, -1)
    a = np.exp(-dt / TAU)
    x = np.zeros(s.shape[1:])
    out = []
    for t in range(T):
        x = a * x + s[t]
        if t in samples_at:
            out.append(x.copy())
    return np.concatenate(out + [np.ones((B, 1))], axis=1)


def train(S: np.ndarray, y: np.ndarray, classes: int = 10) -> np.ndarray:
    Y = np.eye(classes)[y]
    return np.linalg.solve(RIDGE * np.eye(S.shape[1]) + S.T @ S, S.T @ Y)


def accuracy(W: np.ndarray, S: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((S @ W).argmax(1) == y))
