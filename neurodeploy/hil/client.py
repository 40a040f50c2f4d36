"""The host's session with a board: HELLO, LOAD, ZERO, RUN with ticks streamed both ways,
COUNTERS, and recovery (hil/PROTOCOL.md §4-6).

Recovery: an answer from a new boot (`BoardReset`) means the chip lost its program and its state;
the client waits for HELLO, reloads, zeroes, and replays the run's inputs from tick 0 (the only
way to rebuild the state), dropping the outputs it already holds. Outputs are kept by tick
number and asked for from the first one missing, so none is lost or counted twice.
"""
from __future__ import annotations

import hashlib
import io
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import LinkError, TargetError
from ..result import Result
from . import commands as cmd
from .link import BoardReset, Link

POLL_S = 0.002
MIN_PAYLOAD = 64  # what every board takes (PROTOCOL.md §2); the board's own limit comes in INFO


def pack_artifact(path: Path) -> bytes:
    """The LOAD image: the artifact directory as a deterministic tar (sorted names, zero times and
    owners), zlib-compressed (artifacts are mostly padding and zeros: 100 KB -> 10 KB)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            info = tarfile.TarInfo(p.relative_to(path).as_posix())
            data = p.read_bytes()
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return zlib.compress(buf.getvalue(), 9)


def _check(answer: bytes, what: str, port: str) -> bytes:
    if answer[:1] == bytes([cmd.OK]):
        return answer[1:]
    code = answer[0] if answer else -1
    raise TargetError(f"the board refused {what}: {cmd.ERRORS.get(code, 'error')}: "
                      f"{answer[1:].decode(errors='replace')}", where=port)


class Incomplete(LinkError):
    """A run that stopped early; `partial` holds the ticks received."""

    def __init__(self, cause: LinkError, partial: Result, ticks: int, total: int):
        self.partial, self.ticks, self.total = partial, ticks, total
        super().__init__(f"{cause} -- run stopped after {ticks} of {total} ticks")


class Board:
    def __init__(self, link: Link, *, boot_wait_s: float = 10.0, max_recoveries: int = 30,
                 max_payload: int | None = None):
        self.link, self.port = link, link.port
        self.max_payload = max_payload  # the host's own cap on frame payloads (a noisy line)
        self.boot_wait_s, self.max_recoveries = boot_wait_s, max_recoveries
        self.hello: dict = {}
        self.info: dict = {}
        self.loaded: str | None = None  # SHA-256 of the artifact on the board
        self.recoveries = 0

    # ---- session --------------------------------------------------------------------------------
    def connect(self) -> dict:
        """HELLO until the board answers (it may be booting; no fixed sleep), then INFO."""
        deadline = time.monotonic() + self.boot_wait_s
        while True:
            try:
                body = _check(self.link.request(cmd.HELLO, check_boot=False), "HELLO", self.port)
                break
            except TargetError as e:
                if isinstance(e, LinkError) and time.monotonic() < deadline:
                    continue
                raise
        hello = cmd.jload(body)
        major = str(hello.get("protocol", "?")).split(".")[0]
        if major != str(cmd.PROTOCOL_VERSION[0]):
            raise LinkError(f"the board speaks protocol {hello.get('protocol')} (firmware {hello.get('firmware')}); "
                            f"this host speaks {'%d.%d' % cmd.PROTOCOL_VERSION}", where=self.port,
                            hint="flash a firmware for protocol %d.x or update neurodeploy" % cmd.PROTOCOL_VERSION[0])
        self.hello, self.link.boot, self.loaded = hello, int(hello["boot"]), None
        self.link.set_payload_limit(MIN_PAYLOAD)
        self.info = self._paged(cmd.INFO)
        self.link.set_payload_limit(int(self.info["limits"]["max_payload"]), self.max_payload)
        return self.info

    def _call(self, kind: int, payload=b"") -> bytes:
        return _check(self.link.request(kind, payload), cmd.name(kind), self.port)

    def _paged(self, kind: int) -> dict:
        """A long answer (INFO, COUNTERS) fetched in pages sized to the link's current budget."""
        doc, total = b"", None
        while total is None or len(doc) < total:
            body = self._call(kind, lambda budget: cmd.PAGE.pack(len(doc), max(16, budget - 16)))
            (total,) = cmd.PAGE_REPLY.unpack_from(body)
            doc += body[cmd.PAGE_REPLY.size:]
        return cmd.jload(doc)

    def load(self, path: Path) -> dict:
        blob = pack_artifact(path)
        sha = hashlib.sha256(blob).digest()
        self._call(cmd.LOAD_BEGIN, cmd.LOAD_HEAD.pack(len(blob), sha))
        pos = 0
        sent = {}

        def chunk(budget: int) -> bytes:  # sized by the link's current budget (smaller on a noisy line)
            data = blob[pos:pos + max(16, budget - cmd.CHUNK_HEAD.size)]
            sent["n"] = len(data)
            return cmd.CHUNK_HEAD.pack(pos, zlib.crc32(data)) + data

        while pos < len(blob):
            self._call(cmd.LOAD_CHUNK, chunk)
            pos += sent["n"]
        loaded = cmd.jload(self._call(cmd.LOAD_END))
        self.loaded = sha.hex()
        return loaded

    def zero(self) -> None:
        """Clear the chip's state and check the read-back (chips start from random states)."""
        z = cmd.jload(self._call(cmd.ZERO))
        if z["nonzero_words"]:
            raise TargetError(f"the board's state is not zero after ZERO: {z['nonzero_words']} of {z['words']} "
                              f"words still set", where=self.port, hint="power-cycle the board; if it persists "
                              "the chip's memory is faulty")

    def reset(self) -> None:
        self._call(cmd.RESET)
        self.link.boot = None
        self.connect()

    # ---- a run ----------------------------------------------------------------------------------
    def run(self, artifact: Path, inputs: np.ndarray, *, record: list[str], steps: int | None = None,
            progress: Callable[[int, int], None] | None = None) -> Result:
        """Run `inputs` (T, ...) on the board; returns what it recorded, tick for tick. Raises
        `Incomplete` (a `LinkError` carrying the partial result) when the link gives up."""
        x = np.asarray(inputs)
        steps = x.shape[0] if steps is None else steps
        if steps > x.shape[0]:
            x = np.concatenate([x, np.zeros((steps - x.shape[0], *x.shape[1:]), x.dtype)])
        x = x[:steps]
        if x.dtype == bool:
            x = x.astype(np.uint8)
        bits = bool(np.all((x == 0) | (x == 1)))
        got: list[bytes] = []
        fields, lag, t0 = [], 0, time.monotonic()
        while True:
            try:
                if not self.hello:
                    self.connect()
                if self.loaded is None:
                    lag = int(self.load(artifact)["output_lag_ticks"])
                self.zero()
                spec = {"steps": steps, "shape": list(x.shape[1:]), "dtype": x.dtype.str, "bits": bits,
                        "record": list(record), "resume_from": len(got)}
                started = cmd.jload(self._call(cmd.RUN, cmd.jdump(spec)))
                fields = [cmd.Field(f["name"], f["kind"], tuple(f["shape"]), f["dtype"]) for f in started["fields"]]
                lag = int(started["lag"])
                self._stream(x, bits, fields, got, steps + lag, progress)
                counters = self._paged(cmd.COUNTERS)
                break
            except BoardReset:
                self.recoveries += 1
                if self.recoveries > self.max_recoveries:
                    raise self._incomplete(LinkError(f"the board reset {self.recoveries} times",
                                                     where=self.port), got, fields, lag, steps) from None
                self.hello, self.link.boot = {}, None
            except LinkError as e:
                raise self._incomplete(e, got, fields, lag, steps) from None
        res = self._result(got, fields, lag)
        res.counters = counters["counters"]
        res.sim_time_s = time.monotonic() - t0
        res.extra.update(engine="hil", board=self.hello.get("board"), firmware=self.hello.get("firmware"),
                         power_w=counters.get("power_w"), link=dict(self.link.stats), recoveries=self.recoveries,
                         board_link=counters.get("link"), output_lag_ticks=lag)
        return res

    def _stream(self, x, bits, fields, got: list[bytes], total: int, progress) -> None:
        """Send input ticks from where the board's inputs end, take output ticks from where ours end."""
        steps = x.shape[0]
        rec_in = cmd.input_record_size(int(np.prod(x.shape[1:])), x.dtype, bits)
        held, sent = 0, {}

        def frame(budget: int) -> bytes:
            n = max(0, min(steps - held, (budget - cmd.TICKS_HEAD.size) // rec_in, 0xFFFF))
            if n == 0 and held < steps:
                n = 1
            sent["n"] = n
            body = b"".join(cmd.encode_input(x[t], bits) for t in range(held, held + n))
            return cmd.TICKS_HEAD.pack(held, n, len(got), min(0xFFFF, budget - cmd.TICKS_REPLY.size)) + body

        while len(got) < total:
            want = len(got)
            answer = self._call(cmd.TICKS, frame)
            n = sent["n"]
            board_held, first, k = cmd.TICKS_REPLY.unpack_from(answer)
            pos = cmd.TICKS_REPLY.size
            if first == want:
                for _ in range(k):
                    _, end = cmd.decode_outputs(answer, pos, fields)
                    got.append(answer[pos:end])
                    pos = end
            held = board_held
            if progress:
                progress(min(len(got), total), total)
            if k == 0 and n == 0:
                time.sleep(POLL_S)  # all inputs sent; the board is still computing

    def _result(self, got: list[bytes], fields, lag: int) -> Result:
        res = Result()
        if not fields:
            return res
        per = [[] for _ in fields]
        for rec in got[lag:]:
            vals, _ = cmd.decode_outputs(rec, 0, fields)
            for p, v in zip(per, vals):
                p.append(v)
        for f, p in zip(fields, per):
            arr = np.stack(p) if p else np.zeros((0, *f.shape), f.dtype)
            (res.spikes if f.kind == "spikes" else res.v)[f.name] = arr
        return res

    def _incomplete(self, cause: LinkError, got, fields, lag, steps) -> Incomplete:
        partial = self._result(got, fields, lag)
        partial.extra.update(engine="hil", complete=False, link=dict(self.link.stats), error=str(cause))
        return Incomplete(cause, partial, max(0, len(got) - lag), steps)


def save_partial(path: str | Path, err: Incomplete) -> Path:
    """Write the ticks received before the failure next to `path`, marked incomplete."""
    p = Path(path)
    out = p.with_name(p.stem + ".incomplete.npz")
    arrays = {f"{k}.spikes": v for k, v in err.partial.spikes.items()}
    arrays.update({f"{k}.v": v for k, v in err.partial.v.items()})
    np.savez_compressed(out, incomplete=np.array(True), ticks_received=np.array(err.ticks),
                        ticks_requested=np.array(err.total), error=np.array(str(err)), **arrays)
    return out

