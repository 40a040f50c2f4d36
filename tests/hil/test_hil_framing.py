"""Framing and fault injection, no board needed. COBS vectors from Cheshire & Baker's encoding as
tabulated on Wikipedia's "Consistent Overhead Byte Stuffing" page; CRC32 is zlib's."""
from __future__ import annotations

import os
import zlib

import pytest

from neurodeploy.errors import UsageError
from neurodeploy.hil.faults import Faults, Mangler
from neurodeploy.hil.framing import Deframer, Frame, cobs_decode, cobs_encode, decode

VECTORS = [("00", "0101"), ("0000", "010101"), ("001100", "01021101"), ("11220033", "0311220233"),
           ("11223344", "0511223344"), ("11000000", "0211010101")]


@pytest.mark.parametrize("raw,enc", VECTORS)
def test_cobs_published_vectors(raw, enc):
    assert cobs_encode(bytes.fromhex(raw)).hex() == enc
    assert cobs_decode(bytes.fromhex(enc)).hex() == raw


def test_cobs_254_and_255_byte_runs():
    run = bytes(range(1, 255))
    assert cobs_encode(run) == b"\xff" + run
    assert cobs_encode(bytes(range(1, 256))) == b"\xff" + run + b"\x02\xff"


def test_cobs_round_trip_random():
    for n in range(0, 700, 7):
        d = os.urandom(n)
        enc = cobs_encode(d)
        assert 0 not in enc and cobs_decode(enc) == d


def test_frame_crc_is_zlib_crc32_over_header_and_payload():
    wire = Frame(0x31, 513, 2, b"ab\x00c").encode()
    raw = cobs_decode(wire[:-1])
    assert raw[:5] == bytes([0x31, 1, 2, 2, 0]) and raw[5:-4] == b"ab\x00c"
    assert int.from_bytes(raw[-4:], "little") == zlib.crc32(raw[:-4])


def test_every_single_byte_corruption_is_caught():
    wire = Frame(0x11, 7, 1, bytes(range(40))).encode()[:-1]
    for i in range(len(wire)):
        for flip in (1, 0x80, 0xFF):
            bad = bytearray(wire)
            bad[i] ^= flip
            if 0 not in bad:
                assert decode(bytes(bad)) is None


def test_resync_after_garbage_and_split_reads():
    f1, f2 = Frame(1, 1, 0, b"x"), Frame(2, 2, 0, b"y" * 30)
    stream = os.urandom(50).replace(b"\x00", b"\x07") + b"\x00" + f1.encode() + b"\x13\x37\x00" + f2.encode()
    d, got, bad = Deframer(64), [], 0
    for i in range(0, len(stream), 5):  # arrives in pieces
        frames, b = d.feed(stream[i:i + 5])
        got += frames
        bad += b
    assert got == [f1, f2] and bad == 2


def test_overlong_garbage_is_dropped_not_buffered():
    d = Deframer(16)
    frames, bad = d.feed(b"\x05" * 1000)
    assert len(d.buf) <= 16 and frames == []
    frames, bad = d.feed(b"\x00" + Frame(3, 3, 0).encode())
    assert frames == [Frame(3, 3, 0)] and bad == 1


def test_mangler_rates_match_the_setting():
    m = Mangler(Faults(corrupt=0.01, drop=0.02, duplicate=0.03, seed=5), 1)
    data = bytes(range(1, 201)) * 500
    out = b"".join(p for _, p in m.apply(data))
    n = len(data)
    for key, rate in (("corrupted", 0.01), ("dropped", 0.02), ("duplicated", 0.03)):
        assert abs(m.counts[key] / n - rate) < 4 * (rate / n) ** 0.5, key
    assert len(out) == n - m.counts["dropped"] + m.counts["duplicated"]


def test_fault_settings_are_checked():
    with pytest.raises(UsageError, match="unknown fault"):
        Faults.parse(["corupt=0.1"])
    with pytest.raises(UsageError, match="not in"):
        Faults.parse(["drop=2"])
    assert Faults.parse(["reset_at=5,9"]).reset_at == (5, 9)
