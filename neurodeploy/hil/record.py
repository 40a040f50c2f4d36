"""Record every exchange over the link to a JSON-lines file, and replay a recording.

Each line is one event: ``{"t": seconds since start, "dir": "tx"|"rx"|"event", ...}``; frames carry
kind, seq, boot and the payload in hex, so a recording read back shows exactly what crossed the
wire (after deframing) and when. `replay` re-sends every request the host made, once each in the
recorded order (retransmissions skipped), to a board, and compares each answer with the recorded
one."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from . import commands as cmd
from .framing import Frame


class Recorder:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.f = open(self.path, "w")
        self.t0 = time.monotonic()

    def _put(self, entry: dict) -> None:
        self.f.write(json.dumps({"t": round(time.monotonic() - self.t0, 6), **entry}) + "\n")

    def frame(self, direction: str, f: Frame, *, retry: bool = False) -> None:
        self._put({"dir": direction, "kind": f.kind, "name": cmd.name(f.kind), "seq": f.seq, "boot": f.boot,
                   "retry": retry, "payload": f.payload.hex()})

    def event(self, what: str, detail: str) -> None:
        self._put({"dir": "event", "what": what, "detail": detail})

    def close(self) -> None:
        self.f.close()


def exchanges(path: str | Path) -> list[tuple[int, bytes, bytes | None]]:
    """(request kind, request payload, recorded response payload or None) per request, in order."""
    out, pending = [], {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise UsageError(f"cannot read the recording: {e.strerror}", where=str(path)) from None
    for n, line in enumerate(lines, 1):
        try:
            e = json.loads(line)
            if e["dir"] == "tx" and not e["retry"]:
                pending[e["seq"]] = len(out)
                out.append((e["kind"], bytes.fromhex(e["payload"]), None))
            elif e["dir"] == "rx" and e["seq"] in pending and e["kind"] != cmd.NAK:
                i = pending.pop(e["seq"])
                out[i] = (out[i][0], out[i][1], bytes.fromhex(e["payload"]))
        except (ValueError, KeyError, TypeError) as err:
            raise UsageError(f"line {n} is not a recorded exchange ({err})", where=str(path)) from None
    return out


@dataclass
class ReplayReport:
    sent: int = 0
    same: int = 0
    differ: list[tuple[str, str, str]] = field(default_factory=list)  # what, recorded, now
    ticks: int = 0  # output ticks compared


# Answers that legitimately change from run to run (boot number, timings): only the status compared.
STATUS_ONLY = (cmd.HELLO, cmd.INFO, cmd.COUNTERS)


def replay(path: str | Path, link, *, poll_s: float = 30.0) -> ReplayReport:
    """Re-send the recorded requests over `link` to a fresh board. Output ticks are compared tick
    by tick (when the board hands out a tick depends on its compute time, not on the requests);
    every other answer byte for byte, boot numbers and timings excepted."""
    rep = ReplayReport()
    run = {"fields": None, "recorded": {}, "now": {}, "last": None}

    def catch_up() -> None:
        """Poll until this board has handed out every output tick the recording holds: the
        recorded host asked for what followed (COUNTERS, a new RUN) only after them."""
        deadline = time.monotonic() + poll_s
        while run["last"] and set(run["recorded"]) - set(run["now"]) and time.monotonic() < deadline:
            want = min(set(run["recorded"]) - set(run["now"]))
            first, _, _, max_bytes = cmd.TICKS_HEAD.unpack_from(run["last"])
            answer = link.request(cmd.TICKS, cmd.TICKS_HEAD.pack(first, 0, want, max_bytes), check_boot=False)
            if answer[0] == cmd.OK:
                run["now"].update(tick_records(answer[1:], run["fields"]))
            time.sleep(0.01)

    def compare_ticks() -> None:
        catch_up()
        for t in sorted(run["recorded"]):
            rep.ticks += 1
            now = run["now"].get(t)
            if now != run["recorded"][t]:
                rep.differ.append((f"output tick {t}", run["recorded"][t].hex()[:40],
                                   now.hex()[:40] if now is not None else "never answered"))
        run.update(recorded={}, now={}, last=None)

    for kind, payload, recorded in exchanges(path):
        if kind != cmd.TICKS and run["last"]:
            compare_ticks()
        now = link.request(kind, payload, check_boot=False)
        rep.sent += 1
        if kind == cmd.RUN and now[:1] == bytes([cmd.OK]):
            run["fields"] = [cmd.Field(f["name"], f["kind"], tuple(f["shape"]), f["dtype"])
                             for f in cmd.jload(now[1:])["fields"]]
        if kind == cmd.TICKS and run["fields"] is not None:
            run["last"] = payload
            for answer, into in ((recorded, run["recorded"]), (now, run["now"])):
                if answer and answer[0] == cmd.OK:
                    into.update(tick_records(answer[1:], run["fields"]))
        if recorded is None:
            continue
        same = now[:1] == recorded[:1] if kind in STATUS_ONLY or kind == cmd.TICKS else now == recorded
        if same:
            rep.same += 1
        else:
            rep.differ.append((cmd.name(kind), _short(recorded), _short(now)))
    compare_ticks()
    return rep


def tick_records(body: bytes, fields) -> dict[int, bytes]:
    """{tick: its output record bytes} from a TICKS answer (status byte removed)."""
    _, first, n = cmd.TICKS_REPLY.unpack_from(body)
    pos, out = cmd.TICKS_REPLY.size, {}
    for t in range(first, first + n):
        _, end = cmd.decode_outputs(body, pos, fields)
        out[t], pos = body[pos:end], end
    return out


def _short(b: bytes) -> str:
    status = cmd.ERRORS.get(b[0], "ok") if b else "empty"
    return f"{status}: {b[1:25].hex()}{'…' if len(b) > 25 else ''}"
