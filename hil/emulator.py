"""The board emulator: CI's board and the reference for firmware authors (hil/PROTOCOL.md).

It opens a real serial device, the master end of a pty pair, and publishes the slave end under a
stable path (``--link``, a symlink that survives the port vanishing and coming back). It speaks
the protocol and runs the artifact it received, unpacked from the LOAD stream, on that artifact's
own target simulator through the core (``backend.get(b).engine(None)``); one process serves every
installed target. Board behaviour comes from hil/boards/<board>.toml; faults from ``--fault``.

The simulators run a whole input at once and keep no state between calls, so the board runs the
prefix it holds whenever that prefix has doubled (or is complete) in a worker thread, and hands
out output ticks as they become known: a pipeline whose depth grows with the run, total work at
most twice one run. The link keeps answering meanwhile.

    python hil/emulator.py --board spinnaker2 --link /tmp/board [--fault corrupt=0.01 ...]
prints ``READY <link>`` on stdout when the port is open.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import select
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
import tty
import zlib
from pathlib import Path

import numpy as np

from neurodeploy import artifact as art
from neurodeploy import backend as bk
from neurodeploy.errors import NeuroDeployError
from neurodeploy.hil import commands as cmd
from neurodeploy.hil.faults import Faults, Mangler
from neurodeploy.hil.framing import Deframer, Frame

BOARDS = Path(__file__).resolve().parent / "boards"
FIRMWARE = "neurodeploy-emulator 1.0"
FIRST_BLOCK = 32  # ticks the board holds before its first simulator call


def load_profile(name: str) -> dict:
    path = BOARDS / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BOARDS.glob("*.toml")))
        raise SystemExit(f"no board profile {path} (known: {known})")
    return tomllib.loads(path.read_text())


def target_quirks() -> dict[str, dict]:
    """[timing] of every board profile, by each target it lists."""
    out = {}
    for p in sorted(BOARDS.glob("*.toml")):
        prof = tomllib.loads(p.read_text())
        for t in prof["board"]["targets"]:
            out[t] = prof.get("timing", {})
    return out


class PtyPort:
    """The board's end of the serial line: a pty master, its slave end linked at `link`."""

    def __init__(self, link: Path, baud: int):
        self.link, self.baud = link, baud
        self.master = self.slave = -1
        self.plug()

    def plug(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(self.slave))
        os.replace(tmp, self.link)

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        for fd in (self.master, self.slave):
            os.close(fd)
        self.master = self.slave = -1

    def read(self, timeout: float) -> bytes:
        if not select.select([self.master], [], [], timeout)[0]:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        time.sleep(len(data) * 10 / self.baud)  # the line's own speed
        while data:
            try:
                data = data[os.write(self.master, data):]
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                return  # nobody listening: the bytes are lost, as on a real line


class Run:
    """One RUN: the inputs held so far and the outputs computed from them."""

    def __init__(self, a, spec: dict, fields: list[cmd.Field], lag: int):
        self.art, self.fields, self.lag = a, fields, lag
        self.steps, self.record = int(spec["steps"]), list(spec["record"])
        self.shape, self.dtype, self.bits = tuple(spec["shape"]), np.dtype(spec["dtype"]), bool(spec["bits"])
        self.inputs = np.zeros((self.steps, *self.shape), self.dtype)
        self.held = 0
        self.next_call = min(self.steps, max(FIRST_BLOCK, int(spec.get("resume_from", 0)) + FIRST_BLOCK))
        self.outputs: list[np.ndarray] = []  # per field, (computed ticks, *shape)
        self.computed = 0
        self.result = None
        self.error = ""
        self.busy = False
        self.compute_s = 0.0

    @property
    def available(self) -> int:
        return self.computed + (self.lag if self.computed == self.steps else 0)

    def output_tick(self, t: int) -> bytes:
        s = t - self.lag
        vals = [np.zeros(f.shape, f.dtype) if s < 0 else o[s] for f, o in zip(self.fields, self.outputs)]
        return cmd.encode_outputs(vals)


def _values(res, fields: list[cmd.Field]) -> list[np.ndarray]:
    return [(res.spikes if f.kind == "spikes" else res.v)[f.name] for f in fields]


class Board:
    def __init__(self, profile: dict, faults: Faults, port: PtyPort):
        self.profile, self.faults, self.port = profile, faults, port
        self.link = profile["link"]
        self.quirks = target_quirks()
        self.rng = np.random.default_rng([faults.seed, 7])
        self.rx_faults, self.tx_faults = Mangler(faults, 1), Mangler(faults, 2)
        self.deframer = Deframer(2 * self.link["max_payload"] + 64)
        self.lock = threading.Lock()
        self.fired: set[int] = set()
        self.boot = 0
        self.stats = {"damaged": 0, "naks": 0, "replayed": 0}
        self.workdir = Path(tempfile.mkdtemp(prefix="nd-board-"))
        self.reboot()

    # ---- power-on -------------------------------------------------------------------------------
    def reboot(self) -> None:
        boot = self.profile["boot"]
        with self.lock:
            self.boot = (self.boot + 1) & 0xFFFF
            self.ready_at = time.monotonic() + float(boot["boot_time_s"])
            n = int(boot["state_words"])
            self.state = (self.rng.integers(1, 2**32, n, dtype=np.uint32) if boot["power_on_state"] == "random"
                          else np.zeros(n, np.uint32))
            self.zeroed = False
            self.artifact = None
            self.loading = None
            self.run = None
            self.cache: tuple[int, int, bytes] | None = None
            self.document = b"{}"
            shutil.rmtree(self.workdir / "artifact", ignore_errors=True)

    # ---- the line -------------------------------------------------------------------------------
    def serve(self) -> None:
        while True:
            data = self.port.read(0.05)
            if not data:
                continue
            for pause, part in self.rx_faults.apply(data):
                time.sleep(pause)
                frames, bad = self.deframer.feed(part)
                if time.monotonic() < self.ready_at:
                    continue  # booting: the MCU is not listening yet
                self.stats["damaged"] += bad
                if bad:
                    self.send(Frame(cmd.NAK, 0xFFFF, self.boot))
                    self.stats["naks"] += bad
                for f in frames:
                    self.handle(f)

    def send(self, f: Frame) -> None:
        for pause, part in self.tx_faults.apply(f.encode()):
            time.sleep(pause)
            self.port.write(part)

    def handle(self, f: Frame) -> None:
        key = zlib.crc32(f.payload)
        if self.cache and self.cache[:2] == (f.seq, key) and f.kind == self.cache[2][0] & ~cmd.RESPONSE:
            self.stats["replayed"] += 1  # a retransmission: answer again, do not execute again
            self.send(Frame(self.cache[2][0], f.seq, self.boot, self.cache[2][1:]))
            return
        handler = HANDLERS.get(f.kind)
        if handler is None:
            answer = cmd.error(cmd.E_BAD, f"unknown command 0x{f.kind:02x}")
        else:
            try:
                answer = handler(self, f.payload)
            except Reboot:
                self.reboot()
                return
            except Unplug:
                self.port.unplug()
                time.sleep(self.faults.unplug_s)
                self.port.plug()
                return
            except (ValueError, KeyError, IndexError, TypeError, OSError) as e:
                answer = cmd.error(cmd.E_BAD, f"malformed {cmd.name(f.kind)}: {e}")
        kind = f.kind | cmd.RESPONSE
        self.cache = (f.seq, key, bytes([kind]) + answer)
        self.send(Frame(kind, f.seq, self.boot, answer))
        if f.kind == cmd.RESET:
            self.reboot()

    # ---- commands -------------------------------------------------------------------------------
    def hello(self, _: bytes) -> bytes:
        version = self.faults.protocol or "%d.%d" % cmd.PROTOCOL_VERSION
        return cmd.ok(cmd.jdump({"protocol": version, "firmware": FIRMWARE, "board": self.profile["board"]["name"],
                                 "boot": self.boot}))

    def _page(self, p: bytes, document) -> bytes:
        """Long answers go out in pages the host sizes to its line; the document is built at
        offset 0 and kept, so the pages fit together."""
        offset, limit = cmd.PAGE.unpack(p)
        if offset == 0:
            self.document = cmd.jdump(document())
        doc = self.document
        return cmd.ok(cmd.PAGE_REPLY.pack(len(doc)) + doc[offset:offset + limit])

    def info(self, p: bytes) -> bytes:
        return self._page(p, self._info)

    def _info(self) -> dict:
        from neurodeploy import targets as tg

        installed = set(bk.installed())
        targets = [t for t in tg.available() if tg.load(t).backend in installed]
        return {
            "board": self.profile["board"]["name"], "targets": targets,
            "capabilities": {"input": ["bits", "raw"], "record": ["spikes", "v"], "counters": True,
                             "power_sensor": False},
            "limits": {k: self.link[k] for k in ("baud", "max_payload", "max_artifact_bytes", "max_steps")},
            "boot_time_s": self.profile["boot"]["boot_time_s"],
            "quirks": {t: self.quirks.get(t, {}) for t in targets}}

    def load_begin(self, p: bytes) -> bytes:
        total, sha = cmd.LOAD_HEAD.unpack(p)
        if total > self.link["max_artifact_bytes"]:
            return cmd.error(cmd.E_BAD, f"artifact of {total} bytes is over this board's "
                                        f"{self.link['max_artifact_bytes']}")
        self.artifact, self.run = None, None
        self.loading = {"buf": bytearray(total), "fill": 0, "sha": sha}
        return cmd.ok()

    def load_chunk(self, p: bytes) -> bytes:
        if self.loading is None:
            return cmd.error(cmd.E_STATE, "LOAD_CHUNK without LOAD_BEGIN")
        offset, crc = cmd.CHUNK_HEAD.unpack_from(p)
        data, ld = p[cmd.CHUNK_HEAD.size:], self.loading
        if zlib.crc32(data) != crc:
            return cmd.error(cmd.E_CHECKSUM, f"chunk at {offset}: CRC mismatch")
        if offset > ld["fill"] or offset + len(data) > len(ld["buf"]):
            return cmd.error(cmd.E_STATE, f"chunk at {offset}; expected one at {ld['fill']}")
        ld["buf"][offset:offset + len(data)] = data  # a repeat (the host resized a retry) rewrites the same bytes
        ld["fill"] = max(ld["fill"], offset + len(data))
        return cmd.ok()

    def load_end(self, _: bytes) -> bytes:
        ld = self.loading
        if ld is None or ld["fill"] != len(ld["buf"]):
            return cmd.error(cmd.E_STATE, "LOAD_END before every chunk arrived")
        if hashlib.sha256(ld["buf"]).digest() != ld["sha"]:
            return cmd.error(cmd.E_CHECKSUM, "the artifact's SHA-256 does not match")
        dest = self.workdir / "artifact"
        shutil.rmtree(dest, ignore_errors=True)
        self.loading = None
        unzip = zlib.decompressobj()
        try:
            image = unzip.decompress(bytes(ld["buf"]), self.link["max_artifact_bytes"])
            if unzip.unconsumed_tail or not unzip.eof:
                return cmd.error(cmd.E_BAD, f"the artifact unpacks to more than {self.link['max_artifact_bytes']} bytes")
            with tarfile.open(fileobj=io.BytesIO(image)) as tar:
                tar.extractall(dest, filter="data")
        except (zlib.error, tarfile.TarError) as e:
            return cmd.error(cmd.E_BAD, f"the LOAD image is not a compressed artifact: {e}")
        try:
            a = art.Artifact(dest)
            bk.get(a.backend)
        except NeuroDeployError as e:
            return cmd.error(cmd.E_BAD, str(e))
        self.artifact = a
        lag = int(self.quirks.get(a.target, {}).get("output_lag_ticks", 0))
        return cmd.ok(cmd.jdump({"target": a.target, "backend": a.backend, "output_lag_ticks": lag}))

    def zero(self, _: bytes) -> bytes:
        self.state[:] = 0
        self.state[:self.faults.stuck_words] = 0xDEAD
        nonzero = int(np.count_nonzero(self.state))
        self.zeroed = nonzero == 0
        return cmd.ok(cmd.jdump({"nonzero_words": nonzero, "words": len(self.state)}))

    def start(self, p: bytes) -> bytes:
        if self.artifact is None:
            return cmd.error(cmd.E_NOT_LOADED, "RUN before an artifact was loaded")
        if not self.zeroed:
            return cmd.error(cmd.E_STATE, "RUN before ZERO: the chip's state is not cleared")
        spec = cmd.jload(p)
        if not 1 <= int(spec["steps"]) <= self.link["max_steps"]:
            return cmd.error(cmd.E_BAD, f"steps {spec['steps']} outside [1, {self.link['max_steps']}]")
        eng = bk.get(self.artifact.backend).engine(None)
        probe = np.zeros((1, *spec["shape"]), spec["dtype"])
        try:
            res = eng.run(self.artifact, probe, steps=1, record=list(spec["record"]))
        except NeuroDeployError as e:
            return cmd.error(cmd.E_BAD, str(e))
        fields = [cmd.Field(k, kind, tuple(a.shape[1:]), a.dtype.str)
                  for kind, d in (("spikes", res.spikes), ("v", res.v)) for k, a in sorted(d.items())]
        worst = 1 + cmd.TICKS_REPLY.size + sum(1 + f.size * np.dtype(f.dtype).itemsize for f in fields)
        worst_in = cmd.TICKS_HEAD.size + cmd.input_record_size(int(np.prod(spec["shape"])), np.dtype(spec["dtype"]),
                                                                 bool(spec["bits"]))
        if max(worst, worst_in) > self.link["max_payload"]:
            return cmd.error(cmd.E_BAD, f"one tick needs frames of {max(worst, worst_in)} bytes; this board's hold "
                                        f"{self.link['max_payload']} (record fewer nodes, or a smaller batch)")
        lag = int(self.quirks.get(self.artifact.target, {}).get("output_lag_ticks", 0))
        self.run = Run(self.artifact, spec, fields, lag)
        self.zeroed = False  # a run dirties the state: the next one needs ZERO again
        return cmd.ok(cmd.jdump({"fields": [{"name": f.name, "kind": f.kind, "shape": list(f.shape),
                                             "dtype": f.dtype} for f in fields], "lag": lag}))

    def ticks(self, p: bytes) -> bytes:
        run = self.run
        if run is None:
            return cmd.error(cmd.E_STATE, "TICKS outside a run")
        if run.error:
            return cmd.error(cmd.E_BAD, run.error)
        first, n, want, max_bytes = cmd.TICKS_HEAD.unpack_from(p)
        size = cmd.input_record_size(int(np.prod(run.shape)), run.dtype, run.bits)
        pos = cmd.TICKS_HEAD.size
        for t in range(first, first + n):
            rec = p[pos:pos + size]
            pos += size
            if t != run.held or t >= run.steps:
                continue  # held already (a repeat) or beyond a gap: the reply says what is held
            if t not in self.fired and self.faults.resets_at(t):
                self.fired.add(t)
                raise Reboot
            if t not in self.fired and t in self.faults.unplug_at:
                self.fired.add(t)
                raise Unplug
            run.inputs[t] = cmd.decode_input(rec, run.shape, run.dtype, run.bits)
            run.held += 1
        self._compute(run)
        body = bytearray()
        with self.lock:
            t = want
            while t < run.available:  # as many ticks as fit the host's byte limit, at least one
                rec = run.output_tick(t)
                if body and len(body) + len(rec) > max_bytes:
                    break
                body += rec
                t += 1
        limit = self.faults.reset_after_output
        if limit and want <= limit < t and -limit not in self.fired:
            self.fired.add(-limit)  # output ticks are kept apart from input ticks by their sign
            raise Reboot
        return cmd.ok(cmd.TICKS_REPLY.pack(run.held, want, t - want) + bytes(body))

    def _compute(self, run: Run) -> None:
        with self.lock:
            if run.busy or run.held <= run.computed or run.held < min(run.next_call, run.steps):
                return
            run.busy = True
        threading.Thread(target=self._work, args=(run, run.held), daemon=True).start()

    def _work(self, run: Run, n: int) -> None:
        t0 = time.perf_counter()
        try:
            res = bk.get(run.art.backend).engine(None).run(run.art, run.inputs[:n], steps=n, record=run.record)
            error = ""
        except Exception as e:  # the board reports it to the host rather than hanging the run
            res, error = None, str(e) if isinstance(e, NeuroDeployError) else f"board simulator failed: {e!r}"
        with self.lock:
            run.busy = False
            run.compute_s += time.perf_counter() - t0
            if error:
                run.error = error
                return
            run.outputs, run.computed = _values(res, run.fields), n
            run.result = res if n == run.steps else None
            run.next_call = min(run.steps, 2 * n)
        self._compute(run)

    def counters(self, p: bytes) -> bytes:
        run = self.run
        if run is None or run.result is None:
            return cmd.error(cmd.E_STATE, "COUNTERS before a run completed")
        return self._page(p, lambda: {"counters": {k: float(v) for k, v in run.result.counters.items()},
                                      "ticks": run.steps + run.lag, "power_w": None, "compute_s": run.compute_s,
                                      "link": dict(self.stats)})

    def reset(self, _: bytes) -> bytes:
        return cmd.ok()


class Reboot(Exception):
    """A fault: the board resets while handling a request (no answer goes out)."""


class Unplug(Exception):
    """A fault: the port vanishes while handling a request."""


HANDLERS = {cmd.HELLO: Board.hello, cmd.INFO: Board.info, cmd.LOAD_BEGIN: Board.load_begin,
            cmd.LOAD_CHUNK: Board.load_chunk, cmd.LOAD_END: Board.load_end, cmd.ZERO: Board.zero,
            cmd.RUN: Board.start, cmd.TICKS: Board.ticks, cmd.COUNTERS: Board.counters, cmd.RESET: Board.reset}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--board", default="spinnaker2", help="a profile in hil/boards/")
    p.add_argument("--link", required=True, help="path of the symlink to the pty slave (the host's port)")
    p.add_argument("--fault", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--rig", help="a rig TOML (hil/rigs/) whose [faults] apply before --fault")
    args = p.parse_args(argv)
    faults = {}
    if args.rig:
        rig = tomllib.loads(Path(args.rig).read_text())
        faults = {k: v for k, v in rig.get("faults", {}).items()}
    faults.update(dict(f.partition("=")[::2] for f in args.fault))
    sys.setswitchinterval(2e-4)  # the link loop gets the interpreter back quickly from the simulator thread
    profile = load_profile(args.board)
    port = PtyPort(Path(args.link), int(profile["link"]["baud"]))
    board = Board(profile, Faults.parse(faults), port)
    print(f"READY {args.link}", flush=True)
    try:
        board.serve()
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(board.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
