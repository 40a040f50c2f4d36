"""Routing keys, per-PE target lists, multicast router tables with compression, and path costs.

- Keys: PE slice s sends neuron a with key ``(s << 8) | a`` (mask 0xFFFFFF00 per PE), the
  "key_offset + neuron index" scheme of the chip-side code.
- On one chip the source PE fans out itself: one NoC packet per target QPE with a 4-bit PE mask
  (MC_ROUTING); its ROUTING_TABLE region lists those targets.
- Targets on other chips: one packet goes to the chip router and follows the multicast tree of
  hexagonal chip-link paths (C2C_ROUTING). Each chip on a tree gets an entry {key, mask, route}, route
  = 6 link bits + bit 6 "deliver here" (the PE's target list says to which QPEs).
- Compression: entries with the same route, same mask and keys differing only in the lowest masked
  bit merge into one (repeated until nothing merges); merged entries never overlap others, so the
  order-free TCAM lookup stays exact. Default routing is not used.
- `walk` follows the tables hop by hop from a source chip; the simulator uses it on the tables read
  back from the artifact, the compiler on the tables it just built (one code path).
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from neurodeploy.errors import TargetError

from .memimage import KEY_MASK, KEY_SHIFT
from .place import LINKS, hex_path

LOCAL = 1 << 6


def targets_per_source(pairs_src: np.ndarray, pairs_dst: np.ndarray, chip: np.ndarray, qpe: np.ndarray,
                       pe: np.ndarray) -> dict[int, np.ndarray]:
    """Source slice -> (k, 5) array of (chip_x, chip_y, qpe_x, qpe_y, pe_mask), sorted."""
    if pairs_src.size == 0:
        return {}
    rec = np.stack([pairs_src, chip[pairs_dst, 0], chip[pairs_dst, 1], qpe[pairs_dst, 0], qpe[pairs_dst, 1]], 1)
    mask = (1 << pe[pairs_dst]).astype(np.int64)
    uniq, inv = np.unique(rec, axis=0, return_inverse=True)
    masks = np.zeros(len(uniq), np.int64)
    np.bitwise_or.at(masks, inv.reshape(-1), mask)
    out = np.concatenate([uniq[:, 1:], masks[:, None]], 1)
    bounds = np.flatnonzero(np.r_[True, uniq[1:, 0] != uniq[:-1, 0], True])
    return {int(uniq[b, 0]): out[b:e] for b, e in zip(bounds[:-1], bounds[1:])}


def build_tables(targets: dict[int, np.ndarray], src_chip: np.ndarray) -> dict[tuple, np.ndarray]:
    """Per chip (x, y): uncompressed (E, 3) [key, mask, route] entries for inter-chip traffic."""
    entries: dict[tuple, list] = defaultdict(list)
    for s, t in targets.items():
        home = tuple(int(v) for v in src_chip[s])
        dests = {tuple(int(v) for v in row[:2]) for row in t} - {home}
        if not dests:
            continue
        route: dict[tuple, int] = defaultdict(int)
        for d in sorted(dests):
            prev = home
            for step in hex_path(home, d):
                route[prev] |= 1 << LINKS.index((step[0] - prev[0], step[1] - prev[1]))
                prev = step
            route[d] |= LOCAL
        for chip, r in route.items():
            entries[chip].append((s << KEY_SHIFT, KEY_MASK, r))
    return {c: np.array(sorted(e), dtype=np.int64) for c, e in sorted(entries.items())}


def compress(table: np.ndarray) -> np.ndarray:
    t = table.copy()
    while t.size:
        key, mask, route = t[:, 0], t[:, 1], t[:, 2]
        low = mask & -mask
        group = np.stack([key & ~low, mask, route], 1)
        uniq, inv, cnt = np.unique(group, axis=0, return_inverse=True, return_counts=True)
        if not (cnt > 1).any():
            break
        merged = uniq.copy()
        merged[:, 1] = np.where(cnt > 1, uniq[:, 1] & ~(uniq[:, 1] & -uniq[:, 1]), uniq[:, 1])
        keep_single = cnt[inv.reshape(-1)] == 1
        t = np.concatenate([t[keep_single], merged[cnt > 1]])
        t = t[np.lexsort((t[:, 0], t[:, 1]))]
    return t[np.argsort(t[:, 0], kind="stable")]


def lookup(table: np.ndarray, key: int) -> int:
    hit = (key & table[:, 1]) == table[:, 0]
    if hit.sum() != 1:
        raise TargetError(f"router lookup of key {key:#x} matched {int(hit.sum())} entries (expected 1)",
                          hint="the routing tables in the artifact are inconsistent; recompile")
    return int(table[hit, 2][0])


def walk(tables: dict[tuple, np.ndarray], key: int, home: tuple) -> tuple[list[tuple], int]:
    """Follow the router tables from `home`: (chips where the packet is delivered, chip-link hops)."""
    frontier, seen, delivered, hops = [home], {home}, [], 0
    while frontier:
        chip = frontier.pop()
        route = lookup(tables[chip], key) if chip in tables else 0
        if route & LOCAL:
            delivered.append(chip)
        for i, (dx, dy) in enumerate(LINKS):
            if route >> i & 1:
                nxt = (chip[0] + dx, chip[1] + dy)
                hops += 1
                if nxt not in seen:  # two branches meeting deliver twice, as the hardware would
                    seen.add(nxt)
                    frontier.append(nxt)
    return sorted(delivered), hops


def path_costs(targets: dict[int, np.ndarray], src_chip: np.ndarray, src_qpe: np.ndarray,
               tables: dict[tuple, np.ndarray], router_qpe: tuple, n_slices: int,
               hop_s: float, link_s: float) -> dict[str, np.ndarray]:
    """Per source slice, per spike: packets injected, NoC hops, chip-link hops, worst latency (s)."""
    out = {k: np.zeros(n_slices) for k in ("packets", "noc_hops", "link_hops", "latency_s")}
    rq = np.asarray(router_qpe)
    for s, t in targets.items():
        home = tuple(int(v) for v in src_chip[s])
        local = (t[:, 0] == home[0]) & (t[:, 1] == home[1])
        d_local = np.abs(t[local, 2:4] - src_qpe[s]).sum(1)
        packets, noc, lat = local.sum(), d_local.sum(), d_local.max(initial=0) * hop_s
        links = 0
        if (~local).any():
            delivered, links = walk(tables, s << KEY_SHIFT, home)
            want = {tuple(int(v) for v in r) for r in t[~local, :2]}
            if set(delivered) != want:
                raise TargetError(f"routing tables deliver slice {s} to {delivered}, expected {sorted(want)}",
                                  hint="recompile")
            to_router = np.abs(src_qpe[s] - rq).sum()
            d_remote = np.abs(t[~local, 2:4] - rq).sum(1)
            packets += 1
            noc += to_router + d_remote.sum()
            lat = max(lat, (to_router + d_remote.max()) * hop_s + links * link_s)
        out["packets"][s], out["noc_hops"][s], out["link_hops"][s], out["latency_s"][s] = packets, noc, links, lat
    return out
