"""Small compiled examples for the HIL suite: Input -> Affine -> LIF -> Affine -> LIF -> Output."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neurodeploy import backend as bk

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from contract.conftest import chain  # noqa: E402  (the contract suite's network builder)
from hil_examples import SIZES, T  # noqa: E402


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
