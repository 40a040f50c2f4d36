"""Frames on the wire (hil/PROTOCOL.md §2): ``kind u8 | seq u16 | boot u16 | payload | crc32``,
COBS-encoded and ended by a 0x00 byte. COBS keeps 0x00 out of the frame, so a receiver that lost
track (noise, a reset mid-frame, a port reopened halfway) resynchronizes at the next 0x00; the
CRC32 (zlib's, IEEE 802.3) rejects what noise made of the bytes in between."""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

DELIM = b"\x00"
HEADER = struct.Struct("<BHH")
CRC = struct.Struct("<I")


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 1999): no 0x00 in the
    output, at most one extra byte per 254."""
    out, block, full = bytearray(), bytearray(), False
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
            full = False
            continue
        block.append(b)
        full = len(block) == 254
        if full:
            out.append(0xFF)
            out += block
            block.clear()
    if block or not full:
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    """The bytes `cobs_encode` was given, or None when `data` is no valid COBS block."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0 or i + code > n or 0 in data[i + 1:i + code]:
            return None
        out += data[i + 1:i + code]
        i += code
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    kind: int
    seq: int
    boot: int
    payload: bytes = b""

    def encode(self) -> bytes:
        body = HEADER.pack(self.kind, self.seq & 0xFFFF, self.boot & 0xFFFF) + self.payload
        return cobs_encode(body + CRC.pack(zlib.crc32(body))) + DELIM


def decode(block: bytes) -> Frame | None:
    """The frame in one delimited block, or None if it is damaged (COBS or CRC)."""
    raw = cobs_decode(block)
    if raw is None or len(raw) < HEADER.size + CRC.size:
        return None
    body, (crc,) = raw[:-CRC.size], CRC.unpack(raw[-CRC.size:])
    if zlib.crc32(body) != crc:
        return None
    kind, seq, boot = HEADER.unpack_from(body)
    return Frame(kind, seq, boot, bytes(body[HEADER.size:]))


class Deframer:
    """Cuts a byte stream into frames. `feed` returns (frames, n_damaged): a damaged block is one
    that ended at a delimiter but failed to decode; blocks over `max_block` bytes (a lost
    delimiter) are dropped as they grow, so garbage never holds memory."""

    def __init__(self, max_block: int):
        self.max_block = max_block
        self.buf = bytearray()
        self.overflow = False

    def feed(self, data: bytes) -> tuple[list[Frame], int]:
        frames, bad = [], 0
        parts = data.split(DELIM)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if not self.overflow:
                self.buf += part
                if len(self.buf) > self.max_block:
                    self.buf.clear()
                    self.overflow = True
            if last:
                break
            if self.overflow:
                bad += 1
            elif self.buf:
                f = decode(bytes(self.buf))
                if f is None:
                    bad += 1
                else:
                    frames.append(f)
            self.buf.clear()
            self.overflow = False
        return frames, bad
