"""What the HIL tests share: the example's size and the bit-exact comparison."""
from __future__ import annotations

import numpy as np

T, SIZES = 60, (12, 16, 4)


def assert_same(board, sim) -> None:
    """Bit-exact: same names, shapes, dtypes and values, every tick (none lost, none doubled)."""
    for kind in ("spikes", "v"):
        a, b = getattr(board, kind), getattr(sim, kind)
        assert sorted(a) == sorted(b), kind
        for k in b:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, (kind, k, a[k].shape, b[k].shape)
            assert np.array_equal(a[k], b[k]), (kind, k)
    assert sum(int(v.sum()) for v in sim.spikes.values()) > 0  # the example spikes at all
