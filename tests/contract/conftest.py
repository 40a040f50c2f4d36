"""The backend contract: every check here runs over every installed backend's targets, so a new
backend (one folder + one TOML) gets them without writing a test. What a backend must offer for
it: the `Backend` protocol in neurodeploy/backend.py, `quantized_graph` included."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy import targets as tg
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics

T, B, SIZES = 40, 3, (12, 20, 8)
NEURONS = ["n0", "n1"]


def contract_targets() -> list[str]:
    return [t for t in tg.available() if tg.load(t).backend in bk.installed()]


def chain(sizes, seed=0, density=0.6, scale=1.0) -> Graph:
    """input -> (Affine -> LIF) per layer -> output; weights away from 0, so none round to 0."""
    rng = np.random.default_rng(seed)
    nodes = {"in": nir.Input(input_type={"input": np.array([sizes[0]])})}
    edges, prev = [], "in"
    ins, outs = {"in": (sizes[0],)}, {"in": (sizes[0],)}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = scale * rng.uniform(0.3, 1.0, (b, a)) * rng.choice([-1, 1], (b, a)) * (rng.random((b, a)) < density)
        nodes[f"w{i}"] = nir.Affine(weight=w.astype(np.float32), bias=np.zeros(b, np.float32))
        nodes[f"n{i}"] = nir.LIF(tau=np.full(b, 2e-3), r=np.ones(b), v_leak=np.zeros(b),
                                 v_threshold=np.full(b, 0.05), v_reset=np.zeros(b))
        edges += [(prev, f"w{i}"), (f"w{i}", f"n{i}")]
        ins[f"w{i}"], outs[f"w{i}"] = (a,), (b,)
        ins[f"n{i}"] = outs[f"n{i}"] = (b,)
        prev = f"n{i}"
    nodes["out"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((prev, "out"))
    ins["out"] = outs["out"] = (sizes[-1],)
    return Graph(nodes, edges, ins, outs, semantics=Semantics(dt=1e-4))


def huge() -> Graph:
    """One neuron fed by 4 million inputs: a neuron cannot be split, so its 4 M synapses must sit in
    one core's memory, more than any target's core holds (board targets add boards for more
    neurons, not for a larger fan-in)."""
    return chain((4_000_000, 1), density=1.0, scale=1e-6)  # input sums stay near threshold


@pytest.fixture(params=contract_targets())
def target(request) -> str:
    return request.param


@pytest.fixture
def net() -> Graph:
    return chain(SIZES)


@pytest.fixture
def spikes_in() -> np.ndarray:
    return (np.random.default_rng(1).random((T, B, SIZES[0])) < 0.25).astype(np.float32)


@pytest.fixture
def options() -> dict:
    return {"steps": str(T), "record": "all"}
