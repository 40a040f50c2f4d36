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
BRIAN2_ENV = REPO / ".venv-brian2"  # built by `make brian2-env`; .done marks a complete build
pytest_plugins = ["neurodeploy.hil.pytest_plugin"]  # --hil-port/--hil-target, the hil marker (tests/hil)


def unavailable(reason: str) -> None:
    """Skip a test whose peer environment is missing, except under CI (`CI` set), where `make test`
    builds every environment: there a missing peer is a set-up failure, not a silent skip."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason}; CI builds every peer environment, so this is a set-up failure")
    pytest.skip(reason)


def require_brian2() -> Path:
    """The Brian2 peer environment's interpreter (Brian2 needs numpy < 2.3: its own venv)."""
    if not (BRIAN2_ENV / ".done").exists():
        unavailable(f"Brian2 peer environment {BRIAN2_ENV} not built (make brian2-env prints why)")
    return BRIAN2_ENV / "bin" / "python"


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
