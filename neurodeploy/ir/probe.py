"""Read a model file once in a forked child with a time limit before reading it for real.

A damaged HDF5 file can make libhdf5 itself loop forever or crash (seen in the fuzz test: a
flipped byte in the global heap makes every variable-length string read spin), which no Python
exception or signal-based timeout can stop. The child takes that risk: if it hangs it is killed,
if it dies the parent says so, and either way the user gets an `InvalidModel` naming the file.
A file the child read to the end is then read in this process (fork copies nothing up front, so
the probe costs one extra read of the file).
"""
from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path
from typing import Callable

from ..errors import InvalidModel, NeuroDeployError

BASE_SECONDS = 10.0
SECONDS_PER_BYTE = 1.0 / (32 << 20)  # a healthy read runs far faster than 32 MiB/s


def probe(path: Path, read: Callable[[Path], object]) -> None:
    """Raise `InvalidModel` if `read(path)` hangs or crashes the process; otherwise return.
    (Errors `read` raises on purpose are left for the real read to raise again.)"""
    limit = BASE_SECONDS + path.stat().st_size * SECONDS_PER_BYTE
    child = mp.get_context("fork").Process(target=_child, args=(path, read), daemon=True)
    child.start()
    child.join(limit)
    if child.is_alive():
        child.kill()
        child.join()
        raise InvalidModel(f"reading the file did not finish within {limit:.0f} s: its HDF5 structure is "
                           "corrupt (the HDF5 library loops on it)", where=str(path))
    if child.exitcode not in (0, 1):
        raise InvalidModel(f"the HDF5 library crashed reading this file (exit status {child.exitcode}): "
                           "it is corrupt", where=str(path))


def _child(path: Path, read) -> None:
    try:
        read(path)
    except NeuroDeployError:
        os._exit(1)
    os._exit(0)
