"""scikit-learn's digits as DVS event streams through simulated saccades: the shared generator in
`neurodeploy.data.saccades` (the N-MNIST CNN's fidelity test uses it too), at its LSM geometry
(8x8 digits on a 10x10 sensor)."""
from neurodeploy.data.saccades import events, frames, load, path  # noqa: F401
