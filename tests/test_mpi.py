"""`mpirun -n K neurodeploy run`: a 5-chip SpiNNaker 2 artifact split over 1, 2 and 4 MPI ranks gives the
single-process run's result spike for spike and counter for counter (the single-process run is the
ground truth; the contract suite ties it to the reference simulator)."""
from __future__ import annotations

import importlib.util
import os
import pickle
import shutil
import subprocess
import sys

import nir
import numpy as np
import pytest
import scipy.sparse as sp

from neurodeploy import backend as bk
from neurodeploy.errors import UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics

MPIRUN = shutil.which("mpirun")
pytestmark = pytest.mark.skipif(MPIRUN is None or importlib.util.find_spec("mpi4py") is None,
                                reason="Open MPI or mpi4py missing: `make mpi` installs them")
ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_rmaps_base_oversubscribe": "1"}
RANK0_RESULT = """
import pickle, sys, numpy as np
from mpi4py import MPI
from neurodeploy import backend as bk
r = bk.run(sys.argv[1], np.load(sys.argv[2]), record=["res"])
if MPI.COMM_WORLD.Get_rank() == 0:
    with open(sys.argv[3], "wb") as f:
        pickle.dump((r.spikes, r.v, r.counters, r.per_unit, r.per_layer, r.extra), f)
"""
N, N_IN, FAN = 700, 12, 8


def reservoir() -> Graph:
    """A random recurrent reservoir: 12 inputs, 700 LIF neurons, 8 recurrent synapses each."""
    rng = np.random.default_rng(5)
    w_rec = sp.random(N, N, density=FAN / N, random_state=7, format="csr", dtype=np.float32)
    w_rec.data = rng.uniform(-0.6, 0.8, w_rec.nnz).astype(np.float32)
    w_in = (rng.random((N, N_IN)) < 0.2).astype(np.float32)
    lif = nir.LIF(tau=np.full(N, 2e-3, np.float32), r=np.ones(N, np.float32), v_leak=np.zeros(N, np.float32),
                  v_threshold=np.full(N, 0.3, np.float32))
    nodes = {"in": nir.Input(input_type={"input": np.array([N_IN])}),
             "w_in": nir.Affine(weight=w_in, bias=np.zeros(N, np.float32)), "res": lif,
             "w_rec": nir.Affine(weight=w_rec, bias=np.zeros(N, np.float32)),
             "out": nir.Output(output_type={"output": np.array([N])})}
    edges = [("in", "w_in"), ("w_in", "res"), ("res", "w_rec"), ("w_rec", "res"), ("res", "out")]
    shp = {"in": (N_IN,), "w_in": (N,), "res": (N,), "w_rec": (N,), "out": (N,)}
    return Graph(nodes, edges, dict(shp, w_in=(N_IN,)), shp, semantics=Semantics(dt=1e-4))


@pytest.fixture(scope="module")
def five_chips(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpi")
    a = bk.compile(reservoir(), "spinnaker2-48chip", d / "art",
                   options={"steps": "25", "max_atoms_per_core": "res:1", "record": "all"})
    assert a.manifest["spinnaker2"]["chips"] == 5  # 700 one-neuron PEs + the input's: 5 chips of 152
    x = (np.random.default_rng(1).random((25, 2, N_IN)) < 0.3).astype(np.float32)
    np.save(d / "x.npy", x)
    return d, a.path, bk.run(a.path, x, record=["res"])


@pytest.mark.slow
@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_ranks_give_the_single_process_result(five_chips, ranks):
    d, art, ref = five_chips
    out = d / f"r{ranks}.pkl"
    subprocess.run([MPIRUN, "-n", str(ranks), sys.executable, "-c", RANK0_RESULT, str(art), str(d / "x.npy"), str(out)],
                   env=ENV, check=True, timeout=120)
    spikes, v, counters, per_unit, per_layer, extra = pickle.loads(out.read_bytes())
    assert ref.spikes["res"].sum() > 100  # an active network, or the equality says little
    assert np.array_equal(spikes["res"], ref.spikes["res"]) and np.array_equal(v["res"], ref.v["res"])
    assert counters == ref.counters and per_unit == ref.per_unit and per_layer == ref.per_layer
    assert extra["worst_cycles_per_tick"] == ref.extra["worst_cycles_per_tick"] and extra["overruns"] == ref.extra["overruns"]
    mpi = extra["mpi"]
    assert mpi["ranks"] == ranks and sum(mpi["chips_per_rank"]) == 5 and min(mpi["chips_per_rank"]) >= 1
    assert len(mpi["link_hops_per_tick"]) == ref.extra["ticks"]
    assert sum(mpi["link_hops_per_tick"]) == ref.counters["s2_link_hops"]
    assert (sum(mpi["exchanged_spikes_per_tick"]) > 0) == (ranks > 1)


@pytest.mark.slow
def test_cli_under_mpirun_writes_the_same_traces(five_chips):
    d, art, ref = five_chips
    subprocess.run([MPIRUN, "-n", "2", sys.executable, "-m", "neurodeploy", "run", str(art), "--input", str(d / "x.npy"),
                    "--record", "res", "--out", str(d / "cli.npz")], env=ENV, check=True, timeout=120)
    assert np.array_equal(np.load(d / "cli.npz")["res.spikes"], ref.spikes["res"])


def test_chip_groups_whole_neighbouring_chips_balanced():
    from neurodeploy.backends.spinnaker2.distributed import chip_groups

    chips = np.array([[0, 0], [0, 0], [1, 0], [1, 1], [1, 1], [0, 1]])  # 4 chips in placement order
    neurons = np.array([10, 10, 20, 5, 5, 20])  # per chip: 20, 20, 10, 20
    assert chip_groups(chips, neurons, 1).tolist() == [0] * 6
    assert chip_groups(chips, neurons, 2).tolist() == [0, 0, 0, 1, 1, 1]
    assert chip_groups(chips, neurons, 4).tolist() == [0, 0, 1, 2, 2, 3]
    heavy = np.array([1000, 0, 1, 1, 1, 1])  # one heavy chip still leaves a chip to every rank
    assert sorted(set(chip_groups(chips, heavy, 4).tolist())) == [0, 1, 2, 3]
    with pytest.raises(UsageError, match="5 MPI ranks for an artifact on 4 chip"):
        chip_groups(chips, neurons, 5)
