"""Multi-chip simulation over MPI: ``mpirun -n K neurodeploy run DIR ...`` (one rank per group of chips).

The artifact's chips are cut into K groups of neighbouring chips (placement order, which is board
after board; cuts balance neurons) and each rank simulates the neurons and PEs of its group with the
same tick as the single-process model (`simulator.run` with a `simulator.Part`). Once per tick each
rank sends every other rank the spikes of its neurons that have a synapse there: the packets that
cross chip links out of its group. Everything else is per neuron or per PE and stays on its rank;
at the end the per-rank traces and counters are summed (each is non-zero on one rank only), so the
result is the single-process run's, spike for spike and counter for counter (tests/test_mpi.py).

`extra["mpi"]` reports, per tick, the spikes exchanged between ranks and the chip-link hops of the
packets sent (the simulator's routing walk), and the chips per rank. Started without mpirun, or
with mpi4py missing (``make mpi``), the single-process model runs as before.

Import boundary (ROLE "simulate"): only the simulator and the core, never a compile module.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import scipy.sparse as sp

from neurodeploy.errors import TargetError, UsageError
from neurodeploy.result import Result

from . import simulator as s2

ROLE = "simulate"
LAUNCHERS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK")  # set by mpirun (Open MPI, MPICH, PMIx)
EVENT_BYTES = np.dtype(np.int64).itemsize  # one exchanged spike: (sample, neuron) packed in an int64


def launched() -> bool:
    """Whether this process was started by mpirun."""
    return any(k in os.environ for k in LAUNCHERS)


def world():
    try:
        from mpi4py import MPI
    except ImportError:
        raise TargetError("started by mpirun, but mpi4py is not installed",
                          hint="`make mpi` installs Open MPI and mpi4py") from None
    return MPI.COMM_WORLD


def chip_groups(chip_of_pe: np.ndarray, neurons_of_pe: np.ndarray, k: int) -> np.ndarray:
    """Rank of each PE: chips in placement order (first PE on each), cut into `k` runs of whole chips
    with about equal neurons."""
    keys = [tuple(c) for c in chip_of_pe.tolist()]
    order = list(dict.fromkeys(keys))
    if k > len(order):
        raise UsageError(f"{k} MPI ranks for an artifact on {len(order)} chip(s)",
                         hint=f"run at most {len(order)} ranks (one chip or more per rank)")
    idx = {c: i for i, c in enumerate(order)}
    chip = np.array([idx[c] for c in keys])
    cum = np.cumsum(np.bincount(chip, weights=neurons_of_pe, minlength=len(order)))
    cuts, prev = [], 0
    for r in range(1, k):  # rank r starts at chip cuts[r-1]: near r/k of the neurons, no rank empty
        cut = min(max(int(np.searchsorted(cum, r * cum[-1] / k)) + 1, prev + 1), len(order) - (k - r))
        cuts.append(cut)
        prev = cut
    return np.searchsorted(np.array(cuts, np.int64), chip, side="right")


class Exchange:
    """The per-tick spike exchange of one rank, and its traffic record."""

    def __init__(self, comm, m: s2.Machine, rank_of_pe: np.ndarray):
        self.comm, self.me, self.k = comm, comm.Get_rank(), comm.Get_size()
        self.n = m.params["threshold"].size
        rank_of = np.repeat(rank_of_pe, m.pe_neurons)
        self.own = np.flatnonzero(rank_of == self.me)
        self.chips = len({tuple(c) for c in m.pes["chip"][rank_of_pe == self.me].tolist()})
        # per other rank: which of this rank's neurons have a synapse into it
        self.needs = np.zeros((self.k, self.n), bool)
        for w in list(m.weights.values()) + list(m.inh.values()):
            coo = w[self.own].tocoo()
            self.needs[rank_of[coo.col], self.own[coo.row]] = True
        self.needs[self.me] = False
        self.link_hops = m.counts[:, len(s2.BLOCKS) * m.n_pe + s2.TOTALS.index("link_hops")]
        self.sent: list[int] = []
        self.hops: list[float] = []
        self.clock: list[float] = []  # when each tick's exchange began: the tick loop's pace
        self.cpu: list[float] = []  # and this process's CPU time then (the work, whatever the load)

    def __call__(self, mine: sp.csr_matrix) -> sp.csr_matrix:
        self.clock.append(time.perf_counter())
        self.cpu.append(time.process_time())
        coo = mine.tocoo()
        ids = coo.row.astype(np.int64) * self.n + coo.col
        out = [ids[self.needs[q, coo.col]] for q in range(self.k)]
        self.sent.append(sum(a.size for a in out))
        self.hops.append(float((mine @ self.link_hops).sum()))
        got = np.concatenate(self.comm.alltoall(out))
        b, col = np.divmod(np.concatenate([ids, got]), self.n)
        return sp.csr_matrix((np.ones(b.size, np.float32), (b, col)), shape=mine.shape)

    def reduce(self, a: np.ndarray, op: str) -> np.ndarray:
        from mpi4py import MPI

        a = np.ascontiguousarray(a)
        buf = a.astype(np.uint8) if a.dtype == bool else a
        out = np.empty_like(buf)
        self.comm.Allreduce(buf, out, op=MPI.MAX if op == "max" else MPI.SUM)
        return out.astype(bool) if a.dtype == bool else out


def _per_tick(stamps: list[float]) -> np.ndarray:
    return np.array([np.diff(stamps).mean() if len(stamps) > 1 else 0.0])


def run(art, inputs, *, steps: int | None, record: list[str]) -> Result:
    """The simulator's run split over the ranks of MPI_COMM_WORLD; every rank returns the whole result."""
    comm = world()
    ex: list[Exchange] = []

    def partition(m: s2.Machine) -> s2.Part:
        rank_of_pe = chip_groups(m.pes["chip"], m.pe_neurons, comm.Get_size())
        ex.append(Exchange(comm, m, rank_of_pe))
        return s2.Part(ex[0].own, rank_of_pe == comm.Get_rank(), ex[0], ex[0].reduce)

    try:
        res = s2.run(art, inputs, steps=steps, record=record, partition=partition)
    except BaseException as e:  # the other ranks wait in a collective: say why, then stop them all
        if comm.Get_size() > 1:
            sys.stderr.write(f"MPI rank {comm.Get_rank()}: {type(e).__name__}: {e}\n")
            sys.stderr.flush()
            comm.Abort(getattr(e, "exit_code", 1))
        raise
    e = ex[0]
    sent = e.reduce(np.array(e.sent, np.int64), "sum")
    hops = e.reduce(np.array(e.hops), "sum")
    res.extra["mpi"] = {
        "ranks": e.k, "by": "chip", "chips_per_rank": comm.allgather(e.chips),
        "exchanged_spikes_per_tick": sent.tolist(), "exchanged_bytes_per_tick_mean": float(sent.mean()) * EVENT_BYTES,
        "link_hops_per_tick": hops.tolist(),
        "seconds_per_tick": float(e.reduce(_per_tick(e.clock), "max")[0]),  # the slowest rank's tick loop
        "cpu_seconds_per_tick": float(e.reduce(_per_tick(e.cpu), "sum")[0]),  # all ranks' CPU time per tick
    }
    return res
