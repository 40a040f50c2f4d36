"""Per-PE memory images: the words the host writes into a PE's SRAM before the run.

Layout (region order of the chip-side templates, nest/nestml `resources_spinnaker2`; reference §4):

    word 0 magic 0xAD130AD6, word 1 version 0x00010000, then 11 x (word offset, word length)
    1 ROUTING_TABLE  [key_offset, n_targets, ptr=3, n_targets x (chip_x, chip_y, qpe_x, qpe_y, pe_mask)]
    2 TIMER_CONFIG   [timer_period (PE cycles per tick), n_ticks]
    3 GLOBAL_PARAMS  [n_neurons, record_spikes, record_v (0/1), profiling, record_time_done, model_id, reset_mode]
    4 MPT_INFO       [word offset of region 5, entries]
    5 MPT            entries x [key, mask, (row_address << 8) | row_length], sorted by key
    6 SYN_ROW        rows [0 (plastic header), n_fixed, 0 (plastic controls), n_fixed 16-bit words (pairs per word)]
                     lif_conv2d instead: CONV [17 MLA parameters, int8 kernel (in_c, out_c, kh, kw), 4 per word]
    7 NEURON_PARAMS  float32 arrays of n: threshold, alpha_decay, i_offset, v_reset, v_init (+ exc_decay,
                     inh_decay for lif_curr_exp*); spike_list: the input spike bitfield, ((n+31)//32) x n_ticks,
                     filled by the host at run time
    8 SPIKE_RECORD   ((n+31)//32 + 2) x n_ticks   9 VOLTAGE_RECORD (1+n) x n_ticks   10 TIME_DONE (unused, 0)
    11 LOG           16 words

Synapse words (16 bit): ``*_no_delay`` models weight int8 | target 8; ``lif``/``lif_curr_exp`` weight
magnitude 4 | delay 3 | type 1 (1 = inhibitory) | target 8. A row holds one source neuron's synapses into
this PE; rows of one MPT entry (one source PE, key = source key_offset + atom) have a fixed stride.
For lif_conv2d the MPT entries have row_length 0 and their address is the source PE's first atom in
the convolution's input (the MLA reads the spike frame, not rows). The word-level formats of the no-delay
word and the CONV region are this project's reading of py-spinnaker2, not a published spec.

Router table entries (routing.npz) are ``[key, mask, route]``: route bits 0-5 are the chip links in
`LINKS` order, bit 6 + i delivers to QPE i of the chip (the target's QPE order). Keys are
``(PE slice << KEY_SHIFT) | atom``.

ROLE "format": the artifact's layout, shared by the compiler (which writes it) and the simulator
(which reads it); no mapping decision lives here.
"""
from __future__ import annotations

import numpy as np

ROLE = "format"
MAGIC, VERSION, N_REGIONS = 0xAD130AD6, 0x00010000, 11  # format: header magic, version, region count
HEADER = 2 + 2 * N_REGIONS
(ROUTING, TIMER, GLOBAL, MPT_INFO, MPT, SYN_ROW, NEURON, SPIKE_REC, V_REC, TIME_DONE,
 LOG) = range(1, N_REGIONS + 1)
LOG_WORDS = 16  # format: LOG region length
WORD_BYTES = 4  # format: uint32 words
WORD_BITS = 32  # format: bits per bitfield word
ROUTING_HEAD = 3  # format: key_offset, n_targets, ptr
ROUTING_ENTRY_WORDS = 5  # format: chip_x, chip_y, qpe_x, qpe_y, pe_mask
ROUTE_QPE, ROUTE_PE_MASK = slice(2, 4), 4  # format: columns of a ROUTING_TABLE row
TABLE_ENTRY_WORDS = 3  # format: router table entry: key, mask, route
TIMER_WORDS = 2
GLOBAL_WORDS = 7  # format: GLOBAL_PARAMS fields
MPT_INFO_WORDS = 2
RECORD_HEAD_WORDS = 2  # format: per-tick header of the spike record
ROW_ADDR_SHIFT = 8  # format: MPT word = (row address << 8) | row length
ROW_LEN_MASK = 0xFF  # format: low 8 bits of the MPT word
LINKS = ((1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1))  # E, NE, N, W, SW, S: route bits 0-5
MODELS = ("spike_list", "lif_no_delay", "lif", "lif_curr_exp_no_delay", "lif_curr_exp", "lif_conv2d")
RESETS = ("reset_to_v_reset", "reset_by_subtraction",  # format: reset_mode ids
          "reset_by_subtracting_v_reset")  # subtract the v_reset field (a late subtract made same-step)
PARAMS = ("threshold", "alpha_decay", "i_offset", "v_reset", "v_init")
CURR_PARAMS = PARAMS + ("exc_decay", "inh_decay")
CONV_FIELDS = ("in_channels", "in_height", "in_width", "out_channels", "out_height", "out_width", "kernel_h",
               "kernel_w", "stride_y", "stride_x", "pad_top", "pad_bottom", "pad_left", "pad_right", "pool_y",
               "pool_x", "out_offset")
KEY_SHIFT = 8  # format: key = (global PE index << 8) | atom
KEY_MASK = 0xFFFFFF00  # format: one key block per PE
MPT_ENTRY_WORDS = 3   # format: key, mask, (row address << 8) | row length
ROW_HEADER_WORDS = 3  # format: plastic header, n_fixed, plastic controls


def bitfield_words(n: int) -> int:
    """uint32 words holding one bit per neuron."""
    return (n + WORD_BITS - 1) // WORD_BITS


def param_names(model: str) -> tuple:
    return CURR_PARAMS if model.startswith("lif_curr_exp") else PARAMS


def pack(regions: dict[int, np.ndarray]) -> np.ndarray:
    """Header plus regions 1..11 in order (missing ones empty) as one uint32 array."""
    parts = [np.asarray(regions.get(r, ()), dtype=np.uint32).reshape(-1) for r in range(1, N_REGIONS + 1)]
    lengths = np.array([p.size for p in parts], dtype=np.int64)
    offsets = HEADER + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    head = np.empty(HEADER, dtype=np.uint32)
    head[0], head[1] = MAGIC, VERSION
    head[2::2], head[3::2] = offsets, lengths  # format: (offset, length) pairs from word 2
    return np.concatenate([head] + parts)


def unpack(words: np.ndarray) -> dict[int, np.ndarray]:
    if words.size < HEADER or words[0] != MAGIC or words[1] != VERSION:
        raise ValueError("not a SpiNNaker 2 memory image (bad magic/version)")
    off, ln = words[2:HEADER:2].astype(np.int64), words[3:HEADER:2].astype(np.int64)  # format: see pack
    return {r + 1: words[off[r]:off[r] + ln[r]] for r in range(N_REGIONS)}


def record_words(n: int, n_ticks: int, spikes: bool, voltage: bool) -> tuple[int, int]:
    return ((bitfield_words(n) + RECORD_HEAD_WORDS) * n_ticks if spikes else 0), ((1 + n) * n_ticks if voltage else 0)


# 16-bit synapse word fields: delayed weight 4 | delay 3 | type 1 | target 8; no-delay weight 8 | target 8
W_SHIFT, D_SHIFT, T_SHIFT = 12, 9, 8  # format: field positions
BYTE, DELAY_MASK = 0xFF, 0x7  # format: target/int8 field mask, delay field mask


def synapse_halfwords(w: np.ndarray, tgt: np.ndarray, delay: np.ndarray, delayed: bool) -> np.ndarray:
    if delayed:
        return ((np.abs(w).astype(np.uint32) << W_SHIFT) | (delay.astype(np.uint32) << D_SHIFT)
                | ((w < 0).astype(np.uint32) << T_SHIFT) | tgt.astype(np.uint32)).astype(np.uint16)
    return (((w.astype(np.int32) & BYTE) << T_SHIFT) | tgt.astype(np.int32)).astype(np.uint16)


def decode_halfwords(h: np.ndarray, delayed: bool):
    """(weight, delay field, target) of 16-bit synapse words."""
    h = h.astype(np.int32)
    tgt = h & BYTE
    if delayed:
        w = (h >> W_SHIFT) * np.where((h >> T_SHIFT) & 1, -1, 1)
        return w, (h >> D_SHIFT) & DELAY_MASK, tgt
    return ((h >> T_SHIFT) & BYTE).astype(np.uint8).view(np.int8).astype(np.int32), np.zeros_like(h), tgt


def row_stride(longest: np.ndarray) -> np.ndarray:
    """Words per row of an MPT entry whose longest row holds `longest` 16-bit synapse words."""
    return ROW_HEADER_WORDS + (longest + 1) // 2


def dense_rows(src_slice: np.ndarray, atom: np.ndarray, tgt: np.ndarray, w: np.ndarray, delay: np.ndarray,
               slice_atoms: np.ndarray, delayed: bool):
    """MPT entries and SYN_ROW words for the synapses into one PE.

    Inputs are per synapse: global source slice, atom in it, target atom here, integer weight, delay
    field. `slice_atoms[s]` is the atom count of global slice s. Returns (entry slices, entry row
    addresses, entry strides in words, rows as uint32)."""
    if src_slice.size == 0:
        return (np.zeros(0, np.int64),) * 3 + (np.zeros(0, np.uint32),)  # format: dense_rows' four results
    row_key = (src_slice.astype(np.int64) << KEY_SHIFT) + atom
    if np.any(row_key[1:] < row_key[:-1]):  # not already in row order (`synapses_into` usually is)
        order = np.lexsort((tgt, atom, src_slice))
        src_slice, atom, tgt, w, delay, row_key = (a[order] for a in (src_slice, atom, tgt, w, delay, row_key))
    first = np.r_[True, row_key[1:] != row_key[:-1]]
    row_id = np.cumsum(first) - 1
    row_start_idx = np.flatnonzero(first)
    rank = np.arange(row_key.size) - row_start_idx[row_id]
    counts = np.diff(np.r_[row_start_idx, row_key.size])
    rows_slice = src_slice[row_start_idx]
    entries, entry_of_row = np.unique(rows_slice, return_inverse=True)
    longest = np.zeros(entries.size, np.int64)
    np.maximum.at(longest, entry_of_row, counts)
    stride = row_stride(longest)
    m = slice_atoms[entries].astype(np.int64)
    addr = np.r_[0, np.cumsum(m * stride)[:-1]]
    words = np.zeros(int((m * stride).sum()), dtype="<u4")
    # headers of every row in each block (rows with no synapse keep n_fixed = 0)
    row_pos = addr[entry_of_row] + atom[row_start_idx] * stride[entry_of_row]
    words[row_pos + 1] = counts
    # synapse k of a row is half-word k after the 3-word header, low half first (little-endian)
    words.view("<u2")[2 * (row_pos[row_id] + ROW_HEADER_WORDS) + rank] = synapse_halfwords(w, tgt, delay, delayed)
    return entries, addr, stride, words


def parse_rows(rows: np.ndarray, addr: np.ndarray, stride: np.ndarray, delayed: bool):
    """Inverse of `dense_rows` for the blocks of one PE: (entry index, atom, target, weight, delay)."""
    ends = np.r_[addr[1:], rows.size]
    out = []
    for e, (a, s, end) in enumerate(zip(addr.tolist(), stride.tolist(), ends.tolist())):
        block = rows[a:end].reshape(-1, s)
        n_fixed = block[:, 1].astype(np.int64)
        halves = block[:, ROW_HEADER_WORDS:].view("<u2").reshape(block.shape[0], -1)  # little-endian: low half first
        valid = np.arange(halves.shape[1])[None, :] < n_fixed[:, None]
        atom, col = np.nonzero(valid)
        w, d, t = decode_halfwords(halves[atom, col], delayed)
        out.append((np.full(atom.size, e), atom, t, w, d))
    if not out:
        return tuple(np.zeros(0, np.int64) for _ in range(5))  # format: parse_rows' five fields
    return tuple(np.concatenate(c) for c in zip(*out))


def conv_region(params: dict, kernel: np.ndarray) -> np.ndarray:
    head = np.array([params[f] for f in CONV_FIELDS], dtype=np.uint32)
    k = np.ascontiguousarray(kernel, dtype=np.int8).reshape(-1)
    k = np.concatenate([k, np.zeros((-k.size) % WORD_BYTES, np.int8)])
    return np.concatenate([head, k.view(np.uint32)])


def parse_conv(words: np.ndarray) -> tuple[dict, np.ndarray]:
    p = {f: int(v) for f, v in zip(CONV_FIELDS, words[:len(CONV_FIELDS)])}
    n = p["in_channels"] * p["out_channels"] * p["kernel_h"] * p["kernel_w"]
    kernel = words[len(CONV_FIELDS):].view(np.int8)[:n].reshape(p["in_channels"], p["out_channels"],
                                                                  p["kernel_h"], p["kernel_w"])
    return p, kernel


def neuron_region(params: dict, model: str, n: int) -> np.ndarray:
    cols = [np.asarray(params.get(k, np.zeros(n)), dtype=np.float32).reshape(n) for k in param_names(model)]
    return np.concatenate(cols).view(np.uint32)


def parse_neurons(words: np.ndarray, model: str, n: int) -> dict:
    arr = words.view(np.float32)
    return {k: arr[i * n:(i + 1) * n] for i, k in enumerate(param_names(model))}
