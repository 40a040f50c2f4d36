"""Recorded data as Neo blocks (what PyNN's ``get_data`` returns): one segment with a
``SpikeTrain`` per recorded cell (ms) and an ``AnalogSignal`` "v" (mV, one channel per cell)."""
from __future__ import annotations

import neo
import numpy as np
import quantities as pq

from ..errors import UsageError
from . import state


def block(cells, variables, clear) -> neo.Block:
    sim = state.current()
    run = sim.last
    names = ["spikes", "v"] if variables == "all" else ([variables] if isinstance(variables, str) else list(variables))
    seg = neo.Segment(name="segment0")
    blk = neo.Block(name=cells.label)
    blk.segments.append(seg)
    for p, ix in cells.pieces:
        rec = p.recorded
        if run is None:
            raise UsageError("get_data before run()", where=p.label)
        if "spikes" in names and "spikes" in rec:
            for i in ix:
                if int(i) in rec["spikes"]:
                    times = np.nonzero(run.spikes[p.label][:, i])[0] * sim.dt
                    seg.spiketrains.append(neo.SpikeTrain(times * pq.ms, t_start=0 * pq.ms, t_stop=sim.t * pq.ms,
                                                          source_population=p.label, source_index=int(i)))
        if "v" in names and "v" in rec:
            keep = [int(i) for i in ix if int(i) in rec["v"]]
            if keep:
                seg.analogsignals.append(neo.AnalogSignal(
                    run.v[p.label][:, keep] * pq.mV, sampling_period=sim.dt * pq.ms, name="v",
                    source_population=p.label, array_annotations={"channel_index": np.array(keep)}))
    return blk
