"""Chip geometry and placement of PE slices onto QPEs, chips and boards.

The QPE map and the router position come from the target file (38 QPEs on a 7 x 6 grid with four holes). Slices are placed in
network order along a snake path over the QPEs of a chip, and chips along a snake path over the
board(s), so consecutive slices (one population, or a layer and the next) sit on neighbouring QPEs
and chips: traffic stays local with no search. The PEs after the target's usable_pes in each chip's path are left free (the
four PEs py-spinnaker2 reserves; which ones it reserves is not published).
Boards tile along x; chip links are hexagonal (E, NE, N, W, SW, S) as on SpiNNaker boards.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurodeploy.errors import TargetError

ROLE = "compile"


@dataclass(frozen=True)
class Geometry:
    qpes: np.ndarray          # (38, 2) QPE (x, y) in snake order
    pes_per_qpe: int
    chips_x: int              # per board
    chips_y: int
    router_qpe: tuple         # where packets leave/enter a chip (the router position, from the target)
    usable_pes: int           # per chip; the PEs after them in placement order stay free

    @classmethod
    def from_target(cls, target) -> "Geometry":
        """Checks the chip's QPEs and PEs against the grid, so that a network over them is over usable_pes."""
        gx, gy = target.v("geometry.qpe_grid_x"), target.v("geometry.qpe_grid_y")
        absent = {tuple(a) for a in target.get("geometry.qpe_absent", [])}
        order = []
        for y in range(1, gy + 1):
            xs = range(1, gx + 1) if y % 2 else range(gx, 0, -1)
            order += [(x, y) for x in xs if (x, y) not in absent]
        pes, usable = target.v("limits.pes"), target.v("limits.usable_pes")
        if not (len(order) == target.v("limits.qpes") and len(order) * target.v("geometry.pes_per_qpe") == pes
                and usable <= pes):
            raise TargetError(f"target {target.name}: the QPE grid has {len(order)} QPEs, limits say "
                              f"{target.v('limits.qpes')} QPEs, {pes} PEs ({usable} usable)", where=str(target.path),
                              hint="qpes = grid QPEs, pes = qpes x pes_per_qpe, usable_pes <= pes")
        return cls(np.array(order, dtype=np.int64), target.v("geometry.pes_per_qpe"),
                   target.v("geometry.chips_x"), target.v("geometry.chips_y"),
                   (target.v("geometry.router_qpe_x"), target.v("geometry.router_qpe_y")), target.v("limits.usable_pes"))

    def chip_order(self, boards: int) -> np.ndarray:
        """(chips, 2) global chip coordinates in placement order: board after board, snake inside."""
        out = []
        for b in range(boards):
            for y in range(self.chips_y):
                xs = range(self.chips_x) if y % 2 == 0 else range(self.chips_x - 1, -1, -1)
                out += [(b * self.chips_x + x, y) for x in xs]
        return np.array(out, dtype=np.int64)


@dataclass
class Placement:
    chip: np.ndarray   # (n_slices, 2) chip (x, y)
    qpe: np.ndarray    # (n_slices, 2) QPE (x, y)
    pe: np.ndarray     # (n_slices,) PE in QPE (0..3)
    chips_used: int
    boards: int

    def label(self, i: int) -> str:
        (cx, cy), (qx, qy) = self.chip[i], self.qpe[i]
        return f"chip({cx},{cy})/qpe({qx},{qy})/pe{self.pe[i]}"


def place(n_slices: int, geo: Geometry) -> Placement:
    """Slices in order over the chips, then boards, as many as they fill (the design rule 'PEs' has
    checked they fit the target's chips or the boards allowed)."""
    per_chip = geo.usable_pes
    chips = max(1, -(-n_slices // per_chip))
    boards = -(-chips // (geo.chips_x * geo.chips_y))
    idx = np.arange(n_slices)
    chip_i, within = idx // per_chip, idx % per_chip
    order = geo.chip_order(boards)
    return Placement(order[chip_i], geo.qpes[within // geo.pes_per_qpe], within % geo.pes_per_qpe,
                     chips, boards)


def hex_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Chip-link hops between chips on the hexagonal link grid (E, NE, N, W, SW, S)."""
    d = np.asarray(b) - np.asarray(a)
    dx, dy = d[..., 0], d[..., 1]
    same = np.sign(dx) == np.sign(dy)
    return np.where(same, np.maximum(np.abs(dx), np.abs(dy)), np.abs(dx) + np.abs(dy))


def hex_path(a: tuple, b: tuple) -> list[tuple[int, int]]:
    """Chips visited from a to b (excluding a): diagonal steps first, then straight ones."""
    x, y = a
    dx, dy = b[0] - x, b[1] - y
    path = []
    while dx or dy:
        sx, sy = int(np.sign(dx)), int(np.sign(dy))
        if sx and sx == sy:
            step = (sx, sy)
        elif dx:
            step = (sx, 0)
        else:
            step = (0, sy)
        x, y, dx, dy = x + step[0], y + step[1], dx - step[0], dy - step[1]
        path.append((x, y))
    return path
