"""Shared test fixtures: where the outside ground-truth data lives, and the Lava environment."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NEURODEPLOY_SHARED", REPO.parent / "shared"))
REALDATA = SHARED / "realdata" / "nir-paper"
LAVA_PYTHON = REPO / ".venv-lava" / "bin" / "python"
pytest_plugins = ["neurodeploy.hil.pytest_plugin"]  # --hil-port/--hil-target, the hil marker (tests/hil)


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.fail(f"ground-truth data not found at {REALDATA}: ../shared must sit beside the repo")
    return REALDATA


@pytest.fixture(scope="session")
def lif_csv(realdata):
    """The NIR paper's single-LIF traces: name -> (input, voltage, spike) columns, 1000 rows."""
    def load(name: str):
        a = np.loadtxt(realdata / "lif" / f"lif_{name}.csv", delimiter=",")
        return a[:, 0], a[:, 1], a[:, 2]
    return load
