"""Routing keys, per-PE target lists, multicast router tables with compression, and path costs.

- Keys: PE slice s sends neuron a with key ``(s << 8) | a`` (mask 0xFFFFFF00 per PE), the
  "key_offset + neuron index" scheme of the chip-side code.
- On one chip the source PE fans out itself: one NoC packet per target QPE with a 4-bit PE mask
  (MC_ROUTING); its ROUTING_TABLE region lists those targets.
- Targets on other chips: one packet goes to the chip router and follows the multicast tree of
  hexagonal chip-link paths (C2C_ROUTING). Each chip on a tree gets an entry {key, mask, route}, route
  = 6 link bits + one bit per QPE of that chip to deliver to. The source PE's own list (ROUTING_TABLE
  region) holds only its chip's QPEs plus one entry for the router, so it stays small (<= 39 rows).
- Compression: entries with the same route, same mask and keys differing only in the lowest masked
  bit merge into one (repeated until nothing merges); merged entries never overlap others, so the
  order-free TCAM lookup stays exact. Default routing is not used.
- `walk` follows the tables hop by hop from a source chip, to check the tables just built deliver
  to exactly the wanted QPEs and to cost each spike. The simulator walks the tables read back from
  the artifact with its own code (simulator.py), so a bug here is not mirrored there.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from neurodeploy.errors import TargetError

from .memimage import KEY_MASK, KEY_SHIFT, LINKS, ROUTE_PE_MASK, ROUTE_QPE
from .place import hex_path

ROLE = "compile"
QPE_BIT0 = len(LINKS)  # route bit of the first QPE (memimage docstring)


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


def region_targets(t: np.ndarray, home: tuple, router_qpe: tuple) -> np.ndarray:
    """What the source PE's ROUTING_TABLE region holds: its own chip's targets, plus one entry
    (home chip, router QPE position, mask 0) when packets must leave the chip via the router."""
    local = (t[:, 0] == home[0]) & (t[:, 1] == home[1])
    rows = t[local]
    if (~local).any():
        rows = np.concatenate([rows, [[home[0], home[1], router_qpe[0], router_qpe[1], 0]]])
    return rows


def build_tables(targets: dict[int, np.ndarray], src_chip: np.ndarray, qpes: np.ndarray) -> dict[tuple, np.ndarray]:
    """Per chip (x, y): uncompressed (E, 3) [key, mask, route] entries for inter-chip traffic; route
    bits 0-5 are the links, bit QPE_BIT0 + i delivers to QPE i of the chip (QPE order of the geometry)."""
    qpe_bit = {tuple(q): 1 << (QPE_BIT0 + i) for i, q in enumerate(qpes.tolist())}
    entries: dict[tuple, list] = defaultdict(list)
    for s, t in targets.items():
        home = tuple(int(v) for v in src_chip[s])
        remote = t[(t[:, 0] != home[0]) | (t[:, 1] != home[1])]
        if not remote.size:
            continue
        route: dict[tuple, int] = defaultdict(int)
        for row in remote:
            d = (int(row[0]), int(row[1]))
            prev = home
            for step in hex_path(home, d):
                route[prev] |= 1 << LINKS.index((step[0] - prev[0], step[1] - prev[1]))
                prev = step
            route[d] |= qpe_bit[tuple(int(v) for v in row[ROUTE_QPE])]
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
    """Follow the router tables from `home`: ([(chip, route word)] where it is delivered, chip-link hops)."""
    frontier, seen, delivered, hops = [home], {home}, [], 0
    while frontier:
        chip = frontier.pop()
        route = lookup(tables[chip], key) if chip in tables else 0
        if route >> QPE_BIT0:
            delivered.append((chip, route))
        for i, (dx, dy) in enumerate(LINKS):
            if route >> i & 1:
                nxt = (chip[0] + dx, chip[1] + dy)
                hops += 1
                if nxt not in seen:  # two branches meeting deliver twice, as the hardware would
                    seen.add(nxt)
                    frontier.append(nxt)
    return sorted(delivered), hops


def spike_cost(region: np.ndarray, key: int, home: tuple, src_qpe: np.ndarray, tables: dict, qpes: np.ndarray,
               router_qpe: tuple) -> tuple[int, int, int, int, list]:
    """One spike of a source PE, from its ROUTING_TABLE rows and the router tables: (packets injected,
    NoC hops, chip-link hops, worst NoC hops on one path, remote (chip, QPE) deliveries)."""
    to_pe = region[:, ROUTE_PE_MASK] != 0
    d_local = np.abs(region[to_pe, ROUTE_QPE] - src_qpe).sum(1)
    packets, noc, worst = int(len(region)), int(d_local.sum()), int(d_local.max(initial=0))
    links, remote = 0, []
    if (~to_pe).any():
        rq = np.asarray(router_qpe)
        delivered, links = walk(tables, key, home)
        to_router = int(np.abs(src_qpe - rq).sum())
        noc += to_router  # once: the router replicates the packet
        for chip, route in delivered:
            bits = np.flatnonzero([(route >> (QPE_BIT0 + i)) & 1 for i in range(len(qpes))])
            d = np.abs(qpes[bits] - rq).sum(1)
            noc += int(d.sum())
            worst = max(worst, to_router + int(d.max(initial=0)))
            remote += [(chip, tuple(int(v) for v in qpes[b])) for b in bits]
    return packets, noc, links, worst, remote


def path_costs(targets: dict[int, np.ndarray], src_chip: np.ndarray, src_qpe: np.ndarray,
               tables: dict[tuple, np.ndarray], qpes: np.ndarray, router_qpe: tuple, n_slices: int,
               hop_s: float, link_s: float) -> dict[str, np.ndarray]:
    """Per source slice, per spike: packets injected, NoC hops, chip-link hops, worst latency (s);
    checks that the tables deliver exactly to the wanted remote QPEs."""
    out = {k: np.zeros(n_slices) for k in ("packets", "noc_hops", "link_hops", "latency_s")}
    for s, t in targets.items():
        home = tuple(int(v) for v in src_chip[s])
        region = region_targets(t, home, router_qpe)
        packets, noc, links, worst, remote = spike_cost(region, s << KEY_SHIFT, home, src_qpe[s], tables, qpes,
                                                        router_qpe)
        want = {((int(r[0]), int(r[1])), tuple(int(v) for v in r[ROUTE_QPE])) for r in t
                if (int(r[0]), int(r[1])) != home}
        if set(remote) != want:
            raise TargetError(f"routing tables deliver slice {s} to {sorted(remote)}, expected {sorted(want)}",
                              hint="recompile")
        out["packets"][s], out["noc_hops"][s], out["link_hops"][s] = packets, noc, links
        out["latency_s"][s] = worst * hop_s + links * link_s
    return out
