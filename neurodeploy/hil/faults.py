"""Fault injection on the link (hil/PROTOCOL.md §6), used by the board emulator on both directions.

Byte faults at set rates: corrupted (XOR with a random non-zero byte), dropped, duplicated, delayed
(the rest of the write held back `delay_s`). Board faults: a reset when the run's input reaches
given ticks or its output reaches one, the port vanishing at given ticks for `unplug_s`, a HELLO with another protocol version, and
state words that zeroing cannot clear. Every draw comes from one seeded generator."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..errors import UsageError


@dataclass
class Faults:
    corrupt: float = 0.0
    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.05
    reset_every: int = 0       # ticks; a reset the first time the run reaches each multiple
    reset_at: tuple[int, ...] = ()
    reset_after_output: int = 0  # a reset instead of the answer that would hand out this output tick
    unplug_at: tuple[int, ...] = ()
    unplug_s: float = 0.5
    protocol: str = ""         # answer HELLO with this protocol version instead of the real one
    stuck_words: int = 0       # state words zeroing leaves non-zero
    seed: int = 0

    @classmethod
    def parse(cls, pairs: list[str] | dict) -> "Faults":
        """From ``KEY=VALUE`` strings (or a dict, e.g. a rig TOML's [faults] table)."""
        items = pairs.items() if isinstance(pairs, dict) else (p.partition("=")[::2] for p in pairs)
        types = {f.name: f.type for f in fields(cls)}
        kw = {}
        for key, value in items:
            if key not in types:
                raise UsageError(f"unknown fault {key!r}", hint=f"known: {', '.join(types)}")
            typ = types[key]
            try:
                if "tuple" in str(typ):
                    vals = value if isinstance(value, (list, tuple)) else str(value).split(",")
                    kw[key] = tuple(int(v) for v in vals if str(v).strip())
                else:
                    kw[key] = {"float": float, "int": int, "str": str}[str(typ)](value)
            except ValueError:
                raise UsageError(f"fault {key}={value!r} is not a {typ}") from None
        f = cls(**kw)
        for rate in ("corrupt", "drop", "duplicate", "delay"):
            if not 0 <= getattr(f, rate) <= 1:
                raise UsageError(f"fault rate {rate}={getattr(f, rate)} is not in [0, 1]")
        return f

    @property
    def byte_faults(self) -> bool:
        return bool(self.corrupt or self.drop or self.duplicate or self.delay)

    def resets_at(self, tick: int) -> bool:
        return tick in self.reset_at or bool(self.reset_every and tick and tick % self.reset_every == 0)


class Mangler:
    """Applies the byte faults to a stream: `apply(data)` -> [(pause_s, bytes), ...]."""

    def __init__(self, faults: Faults, seed_offset: int):
        self.f = faults
        self.rng = np.random.default_rng([faults.seed, seed_offset])
        self.counts = {"corrupted": 0, "dropped": 0, "duplicated": 0, "delayed": 0}

    def apply(self, data: bytes) -> list[tuple[float, bytes]]:
        f = self.f
        if not f.byte_faults or not data:
            return [(0.0, data)]
        r = self.rng.random((len(data), 4))
        out, cur = [], bytearray()
        for b, (rc, rd, rp, rl) in zip(data, r):
            if rl < f.delay:
                self.counts["delayed"] += 1
                out.append((0.0, bytes(cur)))
                cur = bytearray()
                out.append((f.delay_s, b""))
            if rd < f.drop:
                self.counts["dropped"] += 1
                continue
            if rc < f.corrupt:
                self.counts["corrupted"] += 1
                b ^= int(self.rng.integers(1, 256))
            cur.append(b)
            if rp < f.duplicate:
                self.counts["duplicated"] += 1
                cur.append(b)
        out.append((0.0, bytes(cur)))
        return out
