"""scikit-learn's digits as event streams, recorded the way N-MNIST was: a static image moved over a
sensor in three saccades (a triangle), each pixel emitting an ON/OFF event when its log intensity has
changed by more than a contrast threshold since its last event (a DVS pixel).

Orchard et al. 2015 (N-MNIST) moved an ATIS camera in three ~100 ms saccades over 28x28 MNIST digits
on a screen, recorded on a 34x34 sensor. Here the 8x8 digit (intensity 0..16) is optionally enlarged
(`zoom`, bilinear) and moved by sub-pixel shifts (bilinear) inside a `sensor` x `sensor` frame.
Output: (T, N, 2, sensor, sensor) binary events, channel 0 ON, 1 OFF, T = 3 * steps.

Two uses share it: the LSM example (8x8 digits on a 10x10 sensor, the defaults) and the N-MNIST CNN's
fidelity test (`NMNIST`: 28x28 digits on the 34x34 sensor, 10 steps per saccade).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

SENSOR = 10          # pixels per side (the 8x8 digit with a 1-pixel border)
AMPLITUDE = 1.0      # saccade amplitude in pixels
STEPS = 12           # time steps per saccade
CONTRAST = 0.15      # log-intensity change that fires a pixel (DVS contrast threshold)
EPS = 0.05           # offset that keeps log() finite on black pixels
NMNIST = {"sensor": 34, "zoom": 3.5, "amplitude": 3.0, "steps": 10}  # N-MNIST's geometry


def path(steps: int = STEPS, amplitude: float = AMPLITUDE) -> np.ndarray:
    """(3*steps, 2) positions: three straight saccades around a triangle back to the start."""
    corners = amplitude * np.array([[0.0, 0.0], [1.0, 0.5], [0.0, 1.0], [0.0, 0.0]])
    f = (np.arange(steps) + 1) / steps
    return np.concatenate([a + f[:, None] * (b - a) for a, b in zip(corners[:-1], corners[1:])])


def frames(image: np.ndarray, positions: np.ndarray, sensor: int = SENSOR, zoom: float = 1.0) -> np.ndarray:
    """The sensor's view (T, sensor, sensor) of `image` (0..16) at each position."""
    img = np.clip(ndimage.zoom(image / 16.0, zoom, order=1), 0, 1) if zoom != 1 else image / 16.0
    canvas = np.zeros((sensor, sensor))
    o = (sensor - img.shape[0]) // 2
    canvas[o:o + img.shape[0], o:o + img.shape[1]] = img
    return np.stack([ndimage.shift(canvas, p, order=1, mode="constant") for p in positions])


def events(images: np.ndarray, steps: int = STEPS, *, sensor: int = SENSOR, zoom: float = 1.0,
           amplitude: float = AMPLITUDE) -> np.ndarray:
    """(3*steps, N, 2, sensor, sensor) float32 events for N images."""
    pos = path(steps, amplitude)
    out = np.zeros((len(pos), len(images), 2, sensor, sensor), np.float32)
    for n, img in enumerate(images):
        f = np.log(frames(img, pos, sensor, zoom) + EPS)
        ref = np.log(frames(img, pos[:1] * 0, sensor, zoom) + EPS)[0]
        for t in range(len(pos)):
            d = f[t] - ref
            on, off = d > CONTRAST, d < -CONTRAST
            out[t, n, 0], out[t, n, 1] = on, off
            ref = np.where(on | off, f[t], ref)
    return out


def digits(n: int | None = None, seed: int = 0, **geometry) -> tuple[np.ndarray, np.ndarray]:
    """Events and labels of `n` of scikit-learn's 1797 digits (all when None), in a seeded random
    order; `geometry` as for `events` (e.g. ``**NMNIST``)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))[:n]
    return events(d.images[order], **geometry), d.target[order]


def load(seed: int = 0, test_fraction: float = 0.33):
    """Event streams and labels of all 1797 digits (LSM geometry), split into train and test by a
    seeded permutation."""
    x, y = digits(None, seed)
    n_test = int(round(len(y) * test_fraction))
    return (x[:, n_test:], y[n_test:]), (x[:, :n_test], y[:n_test])
