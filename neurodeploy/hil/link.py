"""The host's end of the link (hil/PROTOCOL.md §2): one request in flight, each answered by a
response with the same sequence number (the ACK); a damaged request is NAKed by the board, a lost
one or a lost answer is retransmitted after a timeout with the same sequence number, and the board
answers a repeated sequence number from its cache instead of executing it twice. A port that
vanishes is reopened until `reconnect_s`; the retry budget (`retries`) ends in a `LinkError`.

Frame size adapts to the line (`budget`, the payload bytes the client packs per frame): about the
inverse of the measured byte error rate, the size that carries most payload per try. The timeout follows the
measured round trip (4x its smoothed value, at least 10 ms, at most `timeout_s`), growing with
each retransmission of the same request."""
from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import LinkError
from . import commands as cmd
from .framing import DELIM, Deframer, Frame
from .record import Recorder

MIN_BUDGET = 24
DECAY = 0.98  # per exchange: the error-rate estimate follows the last ~50 exchanges
NAK_GRACE_S = 0.002
MIN_RTO_S = 0.01


class BoardReset(LinkError):
    """The board answered from another boot than the one the session started with."""

    def __init__(self, boot: int):
        self.boot = boot
        super().__init__(f"the board rebooted (boot {boot})", hint="the client reloads and replays")


def open_serial(port: str, baud: int):
    import serial

    return serial.Serial(port, baudrate=baud, timeout=0.001, write_timeout=2.0, exclusive=True)


class Link:
    def __init__(self, port: str, *, baud: int = 921600, timeout_s: float = 0.1, retries: int = 16,
                 reconnect_s: float = 10.0, max_payload: int = 1024, recorder: Recorder | None = None):
        self.port, self.baud = port, baud
        self.timeout_s, self.retries, self.reconnect_s = timeout_s, retries, reconnect_s
        self.max_payload = self.budget = max_payload
        self.recorder = recorder
        self.boot: int | None = None
        self.seq = 0
        self.stats = {"frames": 0, "retransmits": 0, "naks": 0, "damaged": 0, "timeouts": 0, "reopens": 0}
        self._bytes = self._fails = self._tries = 0.0
        self.srtt, self.rto = timeout_s / 4, timeout_s  # smoothed round trip; the timeout follows it
        self.deframer = Deframer(2 * max_payload + 64)
        self.ser = self._open()

    def _open(self):
        try:
            ser = open_serial(self.port, self.baud)
        except (OSError, ValueError) as e:
            raise LinkError(f"cannot open serial port: {e}", where=self.port,
                            hint="check the cable and the port name (neurodeploy hil info --port PORT)") from None
        ser.write(DELIM)  # ends whatever half frame the board holds: it resyncs at this delimiter
        return ser

    def close(self) -> None:
        try:
            self.ser.close()
        except OSError:
            pass

    def set_payload_limit(self, max_payload: int, cap: int | None = None) -> None:
        """The board's frame limit (what we accept from it) and the host's own cap on what we send."""
        self.max_payload = self.budget = min(max_payload, cap or max_payload)
        self.deframer.max_block = 2 * max_payload + 64

    def _reopen(self, why: str) -> None:
        """The port vanished (unplugged, re-enumerated): wait for it to come back."""
        self.close()
        if self.recorder:
            self.recorder.event("port lost", why)
        deadline = time.monotonic() + self.reconnect_s
        while True:
            time.sleep(0.05)
            try:
                self.ser = open_serial(self.port, self.baud)
                self.ser.write(DELIM)
                break
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise LinkError(f"the port vanished ({why}) and did not come back within {self.reconnect_s} s",
                                    where=self.port, hint="check the cable and the board's power") from None
        self.stats["reopens"] += 1
        self.deframer.buf.clear()
        if self.recorder:
            self.recorder.event("port reopened", "")

    def _write(self, data: bytes) -> None:
        import serial

        try:
            self.ser.write(data)
        except (OSError, serial.SerialException) as e:
            self._reopen(str(e))
            self.ser.write(data)

    def _read(self) -> bytes:
        import serial

        try:
            return self.ser.read(max(1, self.ser.in_waiting))
        except (OSError, serial.SerialException, TypeError) as e:  # TypeError: pyserial on a closed fd
            self._reopen(str(e))
            return b""

    def request(self, kind: int, payload: bytes | Callable[[int], bytes] = b"", *, check_boot: bool = True,
                timeout_s: float | None = None) -> bytes:
        """Send one request and return its response payload (status byte included). Raises
        `BoardReset` when the answer comes from a new boot, `LinkError` when the budget is spent.

        A callable `payload` is rebuilt for the current budget before each try, under a new
        sequence number: for requests the board may execute twice (they name their ticks or byte
        offsets), so a frame too long for a noisy line shrinks instead of failing every try."""
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retransmits"] += 1
                self._learn(len(wire), failed=True)
            if attempt == 0 or callable(payload):
                self.seq = (self.seq + 1) & 0xFFFF
                frame = Frame(kind, self.seq, self.boot or 0, payload(self.budget) if callable(payload) else payload)
                wire = frame.encode()
                line = 20 * (len(wire) + self.max_payload) / self.baud
            wait = min(timeout_s or self.timeout_s, self.rto * (1 + attempt)) + line
            sent_at = time.monotonic()
            self._write(wire)
            if self.recorder:
                self.recorder.frame("tx", frame, retry=attempt > 0 and not callable(payload))  # rebuilt = new
            got = self._await(frame, time.monotonic() + wait)
            if got is None:
                continue
            if check_boot and self.boot is not None and got.boot != self.boot:
                raise BoardReset(got.boot)
            self.stats["frames"] += 1
            self.srtt += (time.monotonic() - sent_at - self.srtt) / 8
            self.rto = max(MIN_RTO_S, 4 * self.srtt)
            self._learn(len(wire) + len(got.payload), failed=False)
            return got.payload
        raise LinkError(f"no valid answer to {cmd.name(kind)} after {self.retries + 1} tries "
                        f"({self.stats['damaged']} damaged frames, {self.stats['naks']} NAKs so far)",
                        where=self.port, hint="check the cable, the baud rate and the board's power")

    def _learn(self, nbytes: int, *, failed: bool) -> None:
        """Track the line's byte error rate p and size frames for it. From the recent share F of
        failed tries of mean length L, p = 1 - (1-F)^(1/L); a frame of L bytes then gets through
        with probability (1-p)^L, and payload per try, L (1-p)^L, is largest near L = 1/p."""
        self._tries = self._tries * DECAY + 1
        self._fails = self._fails * DECAY + failed
        self._bytes = self._bytes * DECAY + nbytes
        share, mean = min(self._fails / self._tries, 0.999), self._bytes / self._tries
        p = 1 - (1 - share) ** (1 / mean)
        self.budget = int(min(self.max_payload, max(MIN_BUDGET, 1 / p if p > 0 else self.max_payload)))

    def _await(self, sent: Frame, deadline: float) -> Frame | None:
        """The response to `sent`, or None on timeout or NAK (then the caller retransmits)."""
        want = sent.kind | cmd.RESPONSE
        while time.monotonic() < deadline:
            frames, bad = self.deframer.feed(self._read())
            self.stats["damaged"] += bad
            if bad:  # most likely our answer, damaged: retransmit now (a repeat is answered from the cache)
                deadline = time.monotonic()
                if self.recorder:
                    self.recorder.event("damaged", str(bad))
            for f in frames:
                if self.recorder:
                    self.recorder.frame("rx", f)
                if f.kind == cmd.NAK:  # something damaged arrived; maybe only garbage before our frame:
                    self.stats["naks"] += 1  # wait a little for the answer, then retransmit
                    deadline = min(deadline, time.monotonic() + NAK_GRACE_S + 20 * len(sent.payload) / self.baud)
                    continue
                if f.kind == want and f.seq == sent.seq:
                    return f
        self.stats["timeouts"] += 1
        return None
