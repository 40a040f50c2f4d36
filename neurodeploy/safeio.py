"""Every file neurodeploy writes goes through `write_file`; every artifact directory through `lock`.

`write_file` writes exactly the path given, atomically (a temp file beside it, fsync, rename), and
refuses what a user would not expect to be touched: a target that exists but is not a regular file
(a directory, a device such as /dev/full, a FIFO, a symbolic link) and a parent directory that does
not exist (nothing is created silently). Every refusal or OS failure is a `UsageError` (exit 2)
naming the path.

`lock` is the one locking rule for artifact directories: an advisory `flock` on a sibling file
``.<name>.lock``: compile holds it exclusively while it stages and swaps the directory, readers
(`run`, `energy`) hold it shared while they read. The second process waits up to the lock timeout
(``--lock-timeout``, ``$NEURODEPLOY_LOCK_TIMEOUT``, default `DEFAULT_LOCK_TIMEOUT` s), then fails
with `Busy`. The lock file is removed by the last holder. See docs/artifact.md.
"""
from __future__ import annotations

import errno
import fcntl
import os
import secrets
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import Busy, UsageError
from .settings import Setting

DEFAULT_LOCK_TIMEOUT = 60.0
LOCK_ENV = "NEURODEPLOY_LOCK_TIMEOUT"
_POLL_S = 0.05


def _refuse(path, why: str, hint: str | None = None) -> UsageError:
    return UsageError(why, where=str(path), hint=hint)


def check_output_path(path: str | os.PathLike) -> Path:
    """`path` as a writable output file, or the reason it is not (before any work is done)."""
    p = Path(path)
    if p.name in ("", ".", ".."):
        raise _refuse(path, "is not a file name")
    parent = p.parent
    if not parent.is_dir():
        raise _refuse(path, f"directory {parent} does not exist", hint="create it first")
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return p
    except OSError as e:
        raise _refuse(path, f"cannot be checked: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, "is a symbolic link; refusing to replace it", hint="give the real path")
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, "exists and is not a regular file; refusing to replace it")
    return p


def write_file(path: str | os.PathLike, content: bytes | Callable[[BinaryIO], object]) -> Path:
    """Write `content` (bytes, or a function writing to a binary file) to exactly `path`, atomically."""
    p = check_output_path(path)
    tmp = p.parent / f".{p.name}.{secrets.token_hex(4)}.tmp"
    try:
        mode = stat.S_IMODE(os.stat(p).st_mode) if p.exists() else 0o666
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)  # umask applies
    except OSError as e:
        raise _refuse(path, f"cannot write: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            os.fsync(f.fileno())
        check_output_path(p)  # still not a device, directory or link
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _refuse(path, f"cannot write: {e.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(p.parent)
    return p


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (best effort: some file systems refuse a directory fsync)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def parse_timeout(text: str, *, what: str = "--lock-timeout") -> float:
    try:
        s = float(text)
    except ValueError:
        s = float("nan")
    if not 0 <= s <= 86400:
        raise UsageError(f"{what} {text!r} must be a number of seconds in [0, 86400]")
    return s


LOCK_TIMEOUT = Setting("lock_timeout", LOCK_ENV, DEFAULT_LOCK_TIMEOUT, parse_timeout)


def lock_path(directory: str | os.PathLike) -> Path:
    d = Path(os.path.abspath(directory))
    return d.parent / f".{d.name}.lock"


@contextmanager
def lock(directory: str | os.PathLike, *, shared: bool = False):
    """Hold the lock of an artifact directory (exclusive to write it, shared to read it)."""
    path = lock_path(directory)
    fd = _acquire(Path(directory), path, shared, time.monotonic() + LOCK_TIMEOUT.get())
    try:
        yield
    finally:
        _release(path, fd)


def _acquire(directory: Path, path: Path, shared: bool, deadline: float) -> int | None:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            if shared and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT):
                return None  # a read-only place (nobody without write access can change it either) or none
            raise _refuse(path, f"cannot create the artifact's lock file: {e.strerror}") from None
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise Busy("artifact directory is in use by another neurodeploy process (compile or run)",
                               where=str(directory),
                               hint=f"waited {LOCK_TIMEOUT.get():g} s; retry, or raise --lock-timeout") from None
                time.sleep(_POLL_S)
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder removed the file after we opened it: lock the new one


def _release(path: Path, fd: int | None) -> None:
    if fd is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the last holder removes the file
        path.unlink(missing_ok=True)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
