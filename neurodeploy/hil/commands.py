"""Command codes and payload formats (hil/PROTOCOL.md §3-4), shared by host and board.

A response's kind is its request's kind | 0x80; its payload starts with a status byte (OK or an
error code, then a UTF-8 message). Per-tick records have a fixed layout agreed at RUN: inputs are
a packed bit vector when every input value is 0 or 1, else raw little-endian values; each output
field is a mode byte and the tick's values (`encode_outputs`)."""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass

import numpy as np

PROTOCOL_VERSION = (1, 0)

HELLO, INFO = 0x01, 0x02
LOAD_BEGIN, LOAD_CHUNK, LOAD_END = 0x10, 0x11, 0x12
ZERO = 0x20
RUN, TICKS = 0x30, 0x31
COUNTERS = 0x40
RESET = 0x50
RESPONSE = 0x80
NAK = 0xFF
NAMES = {HELLO: "HELLO", INFO: "INFO", LOAD_BEGIN: "LOAD_BEGIN", LOAD_CHUNK: "LOAD_CHUNK", LOAD_END: "LOAD_END",
         ZERO: "ZERO", RUN: "RUN", TICKS: "TICKS", COUNTERS: "COUNTERS", RESET: "RESET", NAK: "NAK"}

OK, E_BAD, E_STATE, E_NOT_LOADED, E_CHECKSUM, E_BUSY = 0, 1, 2, 3, 4, 5
ERRORS = {E_BAD: "bad request", E_STATE: "wrong state", E_NOT_LOADED: "no artifact loaded",
          E_CHECKSUM: "checksum mismatch", E_BUSY: "busy"}

CHUNK_HEAD = struct.Struct("<II")          # byte offset of the chunk, CRC32 of the chunk's data
LOAD_HEAD = struct.Struct("<I32s")         # total bytes, SHA-256 of the whole
TICKS_HEAD = struct.Struct("<IHIH")        # first tick, n ticks, first output wanted, most answer bytes
PAGE = struct.Struct("<IH")               # INFO/COUNTERS request: offset, most bytes wanted
PAGE_REPLY = struct.Struct("<I")          # total length of the document the page is cut from
TICKS_REPLY = struct.Struct("<IIH")        # inputs held (contiguous), first output tick, n output ticks


def name(kind: int) -> str:
    return NAMES.get(kind & ~RESPONSE if kind != NAK else kind, f"0x{kind:02x}")


def ok(payload: bytes = b"") -> bytes:
    return bytes([OK]) + payload


def error(code: int, message: str) -> bytes:
    return bytes([code]) + message.encode()


def jdump(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def jload(b: bytes):
    return json.loads(b.decode())


@dataclass(frozen=True)
class Field:
    """One recorded trace: its per-tick shape and dtype."""

    name: str
    kind: str  # "spikes" | "v"
    shape: tuple[int, ...]
    dtype: str

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def encode_input(tick: np.ndarray, bits: bool) -> bytes:
    flat = tick.reshape(-1)
    return np.packbits(flat != 0).tobytes() if bits else flat.astype(flat.dtype.newbyteorder("<")).tobytes()


def input_record_size(n: int, dtype: np.dtype, bits: bool) -> int:
    return (n + 7) // 8 if bits else n * np.dtype(dtype).itemsize


def decode_input(b: bytes, shape: tuple, dtype: np.dtype, bits: bool) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    if bits:
        return np.unpackbits(np.frombuffer(b, np.uint8), count=n).astype(dtype).reshape(shape)
    return np.frombuffer(b, np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)


_NARROW = {2: np.int8, 3: np.int16, 4: np.int32}  # mode -> the integer type a field is sent as


def encode_outputs(values: list[np.ndarray]) -> bytes:
    """One tick's fields: mode 0 packed bits (all values 0 or 1), 2-4 integers narrowed to int8,
    int16 or int32 when they fit, 1 raw little-endian values of the field's dtype."""
    out = bytearray()
    for v in values:
        flat = v.reshape(-1)
        if np.all((flat == 0) | (flat == 1)):
            out += b"\x00" + np.packbits(flat != 0).tobytes()
            continue
        if flat.dtype.kind in "iu":
            lo, hi = int(flat.min()), int(flat.max())
            mode = next((m for m, t in _NARROW.items() if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max), 1)
            if mode != 1:
                out += bytes([mode]) + flat.astype(np.dtype(_NARROW[mode]).newbyteorder("<")).tobytes()
                continue
        out += b"\x01" + flat.astype(flat.dtype.newbyteorder("<")).tobytes()
    return bytes(out)


def decode_outputs(b: bytes, pos: int, fields: list[Field]) -> tuple[list[np.ndarray], int]:
    """One tick's output values from `b` at `pos`; returns them and the position after."""
    vals = []
    for f in fields:
        mode = b[pos]
        pos += 1
        if mode == 0:
            k = (f.size + 7) // 8
            v = np.unpackbits(np.frombuffer(b[pos:pos + k], np.uint8), count=f.size)
        else:
            t = np.dtype(_NARROW[mode] if mode in _NARROW else f.dtype).newbyteorder("<")
            k = f.size * t.itemsize
            v = np.frombuffer(b[pos:pos + k], t)
        if v.size != f.size:
            raise ValueError(f"output record of {f.name} is truncated")
        vals.append(v.astype(f.dtype).reshape(f.shape))
        pos += k
    return vals, pos
