"""The EGRU part of a SpiNNaker 2 artifact: file names, array keys and the storage widths both the
compiler (egru.py) and the PE kernel model (egru_kernel.py) agree on.

Per PE k (slice of one layer): ``pe{k}/W/indptr`` (uint32, one entry per source + 1),
``pe{k}/W/index`` (uint16 local gate row), ``pe{k}/W/weight`` (float32), the same for ``R``;
``pe{k}/b_W``, ``pe{k}/b_R`` (float32, its gate rows), ``pe{k}/threshold`` (float32, its units).
Local gate rows are the slice's [u rows, r rows, z rows].
"""
from __future__ import annotations

ROLE = "format"
ARRAYS = "egru.npz"
SPEC = "egru.json"
GATES = 3  # format: gate blocks [u, r, z] of the EGRU node
PE_COORDS = 3  # format: a PE as (QPE x, QPE y, PE in QPE)
MATRICES = 2  # format: W and R, each with its own row-pointer array (one extra entry)
WORD_BYTES = 4  # format: float32 state words and weights
INDPTR_BYTES = 4  # format: uint32 row pointers
SYNAPSE_BYTES = 6  # format: float32 weight + uint16 local gate row
STATE_WORDS_PER_UNIT = 15  # format: c, y, threshold, b_W (3), b_R (3), vx and vh gate accumulators (3 + 3)
COST_KEYS = ("tick_overhead", "packet_received", "packet_sent", "egru_column_update", "egru_unit_update",
             "exp_cycles", "exp_frac_bits", "exp_int_bits")


def key(pe: int, *parts: str) -> str:
    return "/".join((f"pe{pe}", *parts))
