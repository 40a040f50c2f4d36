"""scikit-learn's digits as event streams, recorded the way N-MNIST was: a static image moved over a
sensor in three saccades (a triangle), each pixel emitting an ON/OFF event when its log intensity
has changed by more than a contrast threshold since its last event (a DVS pixel).

Orchard et al. 2015 (N-MNIST) moved an ATIS camera in three ~100 ms saccades over MNIST digits on a
screen; here the 8x8 digit (intensity 0..16) moves by sub-pixel shifts (bilinear) inside a 10x10
sensor. Output: (T, N, 2, 10, 10) binary events (channel 0 ON, 1 OFF).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

SENSOR = 10          # pixels per side (the 8x8 digit with a 1-pixel border)
AMPLITUDE = 1.0      # saccade amplitude in pixels
STEPS = 12           # time steps per saccade
CONTRAST = 0.15      # log-intensity change that fires a pixel (DVS contrast threshold)
EPS = 0.05           # offset that keeps log() finite on black pixels


def path(steps: int = STEPS, amplitude: float = AMPLITUDE) -> np.ndarray:
    """(3*steps, 2) positions: three straight saccades around a triangle back to the start."""
    corners = amplitude * np.array([[0.0, 0.0], [1.0, 0.5], [0.0, 1.0], [0.0, 0.0]])
    f = (np.arange(steps) + 1) / steps
    return np.concatenate([a + f[:, None] * (b - a) for a, b in zip(corners[:-1], corners[1:])])


def frames(image: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The sensor's view (T, SENSOR, SENSOR) of `image` (8x8, 0..16) at each position."""
    canvas = np.zeros((SENSOR, SENSOR))
    o = (SENSOR - image.shape[0]) // 2
    canvas[o:o + image.shape[0], o:o + image.shape[1]] = image / 16.0
    return np.stack([ndimage.shift(canvas, p, order=1, mode="constant") for p in positions])


def events(images: np.ndarray, steps: int = STEPS) -> np.ndarray:
    """(T, N, 2, SENSOR, SENSOR) float32 events for N images."""
    pos = path(steps)
    out = np.zeros((len(pos), len(images), 2, SENSOR, SENSOR), np.float32)
    for n, img in enumerate(images):
        f = np.log(frames(img, pos) + EPS)
        ref = np.log(frames(img, pos[:1] * 0) + EPS)[0]
        for t in range(len(pos)):
            d = f[t] - ref
            on, off = d > CONTRAST, d < -CONTRAST
            out[t, n, 0], out[t, n, 1] = on, off
            ref = np.where(on | off, f[t], ref)
    return out


def load(seed: int = 0, test_fraction: float = 0.33):
    """Event streams and labels of all 1797 digits, split into train and test (stratified by a
    seeded permutation)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    n_test = int(round(len(order) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    x = events(d.images)
    return (x[:, train], d.target[train]), (x[:, test], d.target[test])
