"""Start the board emulator (hil/emulator.py) on a pty when no board is plugged in: for CI, the
pytest plugin, `neurodeploy hil replay` and the soak bench."""
from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import TargetError

EMULATOR = Path(__file__).resolve().parents[2] / "hil" / "emulator.py"
RIGS = EMULATOR.parent / "rigs"


def rig(name: str) -> tuple[str, list[str]]:
    """(board, faults) of a rig configuration hil/rigs/<name>.toml."""
    import tomllib

    path = RIGS / f"{name}.toml"
    if not path.is_file():
        raise TargetError(f"no rig configuration {path}", hint=f"known: {', '.join(p.stem for p in RIGS.glob('*.toml'))}")
    conf = tomllib.loads(path.read_text())
    return conf["rig"]["board"], [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                                  for k, v in conf.get("faults", {}).items()]


@contextmanager
def emulator(board: str = "spinnaker2", faults: list[str] | None = None, *, start_s: float = 30.0):
    """Yield the port path of a fresh emulator process; stop it afterwards."""
    if not EMULATOR.is_file():
        raise TargetError(f"the board emulator is not here ({EMULATOR})", hint="it ships in the source tree's hil/")
    tmp = tempfile.mkdtemp(prefix="nd-hil-")
    link = os.path.join(tmp, "board")
    argv = [sys.executable, str(EMULATOR), "--board", board, "--link", link]
    for f in faults or []:
        argv += ["--fault", f]
    log = open(os.path.join(tmp, "stderr"), "w+")  # a file, not a pipe: a full pipe would stall the board
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        deadline = time.monotonic() + start_s
        line = ""
        while time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stdout], [], [], 0.1)[0]:
                line = proc.stdout.readline()
                break
        if not line.startswith("READY"):
            proc.kill()
            log.seek(0)
            raise TargetError(f"the board emulator did not start: {log.read()[-2000:] or 'no output'}")
        yield link
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
        for p in (link, link + ".new", log.name):
            if os.path.lexists(p):
                os.unlink(p)
        os.rmdir(tmp)
