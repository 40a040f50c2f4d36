"""Soak run of the HIL link (issue 15): 100,000 ticks through the board emulator on a pty with 1 %
of the bytes corrupted in each direction and a board reset every 10,000 ticks (hil/rigs/soak.toml).

Reports spikes lost and duplicated against the target's own simulator run on the same input
(goal 0 and 0), the recovery work done, and throughput in ticks/s against the link's theoretical
maximum at the configured baud: 8N1 framing (10 bits a byte), full duplex, every frame of the
board's largest payload, no retransmission, so the busier direction's bytes per tick set the rate.

    .venv/bin/python bench/bench_hil.py [--ticks 100000] [--rig soak]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from contract.conftest import chain  # noqa: E402

from neurodeploy import backend as bk  # noqa: E402
from neurodeploy.hil import commands as cmd  # noqa: E402
from neurodeploy.hil.client import Board, pack_artifact  # noqa: E402
from neurodeploy.hil.framing import CRC, HEADER  # noqa: E402
from neurodeploy.hil.link import Link  # noqa: E402
from neurodeploy.hil.rig import emulator, rig  # noqa: E402

SIZES = (12, 16, 4)
RATE = 0.2  # input spike probability per input per tick


def theoretical_ticks_per_s(baud: int, max_payload: int, in_bytes: float, out_bytes: float) -> float:
    """Ticks/s the line carries at best: payload share of a full frame, busier direction."""
    overhead = HEADER.size + CRC.size + 2 + max_payload // 254  # header, CRC, COBS code + delimiter, COBS stuffing
    share = (max_payload - cmd.TICKS_HEAD.size) / (max_payload + overhead)
    per_tick = max(in_bytes, out_bytes) / share
    return baud / 10 / per_tick


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ticks", type=int, default=100_000)
    p.add_argument("--rig", default="soak")
    args = p.parse_args()
    T = args.ticks
    board_name, faults = rig(args.rig)
    target = "loihi2"
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / target
        bk.compile(chain(SIZES, seed=2), target, d, options={"steps": str(T)})
        x = (np.random.default_rng(7).random((T, 1, SIZES[0])) < RATE).astype(np.float32)
        t0 = time.perf_counter()
        sim = bk.run(d, x)
        sim_s = time.perf_counter() - t0
        print(f"simulator: {T} ticks in {sim_s:.1f} s; load image {len(pack_artifact(d))} bytes", flush=True)
        marks = set(range(T // 10, T + 1, T // 10))

        def progress(done, total):
            for m in sorted(marks):
                if done >= m:
                    marks.discard(m)
                    print(f"  {m} ticks at {time.perf_counter() - t1:.0f} s", flush=True)

        with emulator(board_name, faults) as port:
            link = Link(port, baud=3_000_000, retries=40)
            client = Board(link)
            t1 = time.perf_counter()
            res = client.run(d, x, record=[], progress=progress)
            wall = time.perf_counter() - t1
            link.close()
    lost = dup = 0
    for k, ref in sim.spikes.items():
        got = res.spikes[k].astype(np.int64)
        assert got.shape == ref.shape, (k, got.shape, ref.shape)
        diff = got - ref.astype(np.int64)
        lost += int(np.clip(-diff, 0, None).sum())
        dup += int(np.clip(diff, 0, None).sum())
    v_equal = all(np.array_equal(res.v[k], sim.v[k]) for k in sim.v)
    n_spikes = int(sum(v.sum() for v in sim.spikes.values()))
    fields = [cmd.Field(k, "spikes", v.shape[1:], v.dtype.str) for k, v in sim.spikes.items()]
    fields += [cmd.Field(k, "v", v.shape[1:], v.dtype.str) for k, v in sim.v.items()]
    out_bytes = np.mean([len(cmd.encode_outputs([(sim.spikes if f.kind == "spikes" else sim.v)[f.name][t]
                                                  for f in fields])) for t in range(0, T, max(1, T // 2000))])
    in_bytes = cmd.input_record_size(int(np.prod(x.shape[1:])), x.dtype, True)
    info = client.info
    best = theoretical_ticks_per_s(info["limits"]["baud"], info["limits"]["max_payload"], in_bytes, out_bytes)
    s = res.extra["link"]
    print(f"\n| rig | ticks | output spikes | lost | duplicated | voltages equal | resets recovered | "
          f"retransmits | damaged frames | wall s | ticks/s | link max ticks/s | share |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.rig} ({', '.join(faults)}) | {T} | {n_spikes} | {lost} | {dup} | {v_equal} | "
          f"{res.extra['recoveries']} | {s['retransmits']} | {s['damaged']} | {wall:.0f} | {T / wall:.0f} | "
          f"{best:.0f} | {T / wall / best:.1%} |")
    print(f"\nbytes per tick: {in_bytes} in, {out_bytes:.1f} out (mean); baud {info['limits']['baud']}, "
          f"max payload {info['limits']['max_payload']}; board link (last boot) {res.extra.get('board_link')}")
    if lost or dup or not v_equal:
        sys.exit("goal not met: spikes lost or duplicated, or voltages differ")


if __name__ == "__main__":
    main()
