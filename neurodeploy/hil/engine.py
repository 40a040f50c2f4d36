"""The ``hil`` engine of the core's Engine protocol: run an artifact on a board over a serial port
(`neurodeploy run DIR --engine hil --port PORT`, `backend.run(..., engine="hil",
engine_options={"port": ...})`). It works for every backend (SHARED_ENGINES)."""
from __future__ import annotations

from pathlib import Path

from ..artifact import Artifact
from ..errors import UsageError
from ..result import Result
from .client import Board, Incomplete, save_partial
from .link import Link
from .record import Recorder


class HilEngine:
    name = "hil"
    options = ("port", "baud", "timeout_s", "retries", "reconnect_s", "max_payload", "record_file", "partial_out", "progress")

    def run(self, artifact: Artifact, inputs, *, steps: int | None, record: list[str], port: str | None = None,
            baud: int = 3000000, timeout_s: float = 0.1, retries: int = 16, reconnect_s: float = 10.0,
            max_payload: int | None = None, record_file: str | None = None,
            partial_out: str | None = None, progress=None) -> Result:
        if not port:
            raise UsageError("engine hil needs the board's serial port", hint="pass --port /dev/ttyUSB0 "
                             "(or engine_options={'port': ...})")
        rec = Recorder(record_file) if record_file else None
        link = Link(port, baud=int(baud), timeout_s=float(timeout_s), retries=int(retries),
                    reconnect_s=float(reconnect_s), recorder=rec)
        try:
            return Board(link, max_payload=max_payload).run(Path(artifact.path), inputs, record=record, steps=steps, progress=progress)
        except Incomplete as e:
            if partial_out:
                save_partial(partial_out, e)
            raise
        finally:
            link.close()
            if rec:
                rec.close()


ENGINE = HilEngine()
