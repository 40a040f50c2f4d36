"""What the HIL tests share: small compiled examples (Input -> Affine -> LIF -> Affine -> LIF ->
Output, the contract suite's builder) and the bit-exact comparison. A module, not a conftest: a
second conftest.py without a package would shadow tests/conftest.py for `from conftest import`."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neurodeploy import backend as bk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from contract.conftest import chain  # noqa: E402

T, SIZES = 60, (12, 16, 4)


@pytest.fixture(scope="session")
def examples(tmp_path_factory) -> dict:
    """{target: (artifact dir, inputs, simulator result)}; the simulator run is the ground truth."""
    out = {}
    x = (np.random.default_rng(3).random((T, 1, SIZES[0])) < 0.3).astype(np.float32)
    for target in ("spinnaker2", "loihi2"):
        d = tmp_path_factory.mktemp("hil") / target
        bk.compile(chain(SIZES, seed=2), target, d, options={"steps": str(T)})
        out[target] = (d, x, bk.run(d, x))
    return out


def assert_same(board, sim) -> None:
    """Bit-exact: same names, shapes, dtypes and values, every tick (none lost, none doubled)."""
    for kind in ("spikes", "v"):
        a, b = getattr(board, kind), getattr(sim, kind)
        assert sorted(a) == sorted(b), kind
        for k in b:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, (kind, k, a[k].shape, b[k].shape)
            assert np.array_equal(a[k], b[k]), (kind, k)
    assert sum(int(v.sum()) for v in sim.spikes.values()) > 0  # the example spikes at all
