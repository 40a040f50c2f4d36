"""Artifacts: a directory with `manifest.json` (format, version, target, backend, file hashes, digest)
and data files. The rules (docs/artifact.md):

- Written into a staging sibling ``.<name>.partial-*`` under the directory's lock (`safeio.lock`)
  and swapped into place only when complete: an atomic exchange where the OS has one, else the old
  artifact is moved aside (``.<name>.old-*``), the new one moved in, the old one deleted. A kill at
  any point leaves one complete artifact; the next compile (or read) restores a moved-aside one and
  deletes stale staging dirs.
- ``--force`` replaces only a directory holding a neurodeploy manifest and nothing else: never a
  directory of the user's, nor files the user added to an artifact.
- Reading checks the manifest against a strict schema and its digest (an edited manifest is
  refused), that the target is known and served by the named backend, that every file in the
  directory is listed and every listed file exists, and (``verify``) every file's SHA-256.
"""
from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import numpy as np

from . import budget, safeio
from .errors import TargetError, UsageError

FORMAT = "neurodeploy-artifact"
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
MODEL_FILE = "model.nir"  # the normalized model, for reports only
STAGING, ASIDE = "partial", "old"
# The manifest schema: required keys and their types, then the common info `compile` adds. The
# backend's own info sits under its name and is the backend's to check.
REQUIRED = {"format": str, "format_version": int, "target": str, "backend": str, "files": dict, "digest": str}
COMMON_INFO = {"semantics": dict, "model": str, "options": dict, "common_options": dict,
               "rewrites": list,  # rewrites: exact convention rewrites applied (lowering/rewrites.py)
               "calibration": dict}  # the precision search of compile --fidelity (calibrate.py)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:  # in blocks: model files can be GBs
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def dump_json(obj) -> bytes:
    """Canonical JSON (sorted keys, fixed separators) so artifacts are byte-identical."""
    return (json.dumps(obj, sort_keys=True, indent=1, default=_jsonable) + "\n").encode()


def _jsonable(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def save_npz(path: Path, **arrays) -> None:
    """Deterministic .npz: stored uncompressed with fixed member timestamps (np.savez's zip does)."""
    with open(path, "wb") as f:
        np.savez(f, **{k: np.ascontiguousarray(v) for k, v in sorted(arrays.items())})


def digest(manifest: dict) -> str:
    """SHA-256 over the canonical manifest without its digest: editing any key is detected.
    A checksum, not a signature: it catches edits and damage, not a forger who recomputes it."""
    return hashlib.sha256(dump_json({k: v for k, v in manifest.items() if k != "digest"})).hexdigest()


# ---- writing -------------------------------------------------------------------------------------

def _siblings(out: Path, kind: str) -> list[Path]:
    prefix = f".{out.name}.{kind}-"
    try:
        return sorted(out.parent / n for n in os.listdir(out.parent) if n.startswith(prefix))
    except OSError:
        return []


def check_output_dir(out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """`out_dir` as a place a compile may write, or the reason not (usable before compiling)."""
    out = Path(os.path.abspath(out_dir))
    if out == out.parent:
        raise UsageError("cannot write an artifact over a file system root", where=str(out_dir))
    if not out.parent.is_dir():
        raise UsageError(f"directory {out.parent} does not exist", where=str(out_dir), hint="create it first")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise UsageError(f"directory {out.parent} is not writable", where=str(out_dir))
    if out.is_symlink():
        raise UsageError("is a symbolic link; refusing to replace it", where=str(out_dir), hint="give the real path")
    if not os.path.lexists(out):
        return out
    if out == Path.cwd() or out in Path.cwd().parents:
        raise UsageError("is the working directory or holds it; refusing to replace it", where=str(out_dir),
                         hint="run from elsewhere or choose another -o")
    if not out.is_dir():
        raise UsageError("exists and is not a directory; refusing to replace it", where=str(out_dir))
    try:
        entries = os.listdir(out)
    except OSError as e:
        raise UsageError(f"cannot be read: {e.strerror}", where=str(out_dir)) from None
    if not entries:
        return out
    listed = _listed_files(out)
    if listed is None:
        raise UsageError("exists, is not empty and holds no neurodeploy artifact; refusing to touch it",
                         where=str(out_dir), hint="--force replaces only an artifact directory; choose another -o")
    if not overwrite:
        raise UsageError("holds an artifact already", where=str(out_dir), hint="pass --force to replace it")
    extra = sorted(set(_tree(out)) - listed - {MANIFEST})
    if extra:
        raise UsageError(f"holds files the artifact does not list ({', '.join(extra[:5])}); "
                         f"--force deletes only what neurodeploy wrote", where=str(out_dir),
                         hint="move them away first")
    return out


def _listed_files(directory: Path) -> set[str] | None:
    """The files a neurodeploy manifest in `directory` lists, or None if it holds none."""
    try:
        with open(directory / MANIFEST, "rb") as f:
            m = json.loads(f.read(1 << 26))  # a manifest is KBs to MBs; a huge file is not ours
    except (OSError, ValueError, RecursionError):
        return None
    legacy = isinstance(m, dict) and m.get("format_version") == 1 and isinstance(m.get("backend"), str)
    if not (isinstance(m, dict) and (m.get("format") == FORMAT or legacy) and isinstance(m.get("files"), dict)):
        return None
    return set(m["files"])


def _tree(directory: Path) -> list[str]:
    """Every non-directory entry under `directory`, as relative POSIX paths (links not followed)."""
    found = []
    for root, dirs, files in os.walk(directory):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            found.append(Path(root, name).relative_to(directory).as_posix())
    return sorted(found)


def _recover(out: Path) -> None:
    """Under the lock: put back an artifact a killed compile left moved aside, delete leftovers."""
    asides = _siblings(out, ASIDE)
    if asides and not os.path.lexists(out):
        os.rename(asides.pop(), out)
    for p in _siblings(out, STAGING) + asides:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


@contextmanager
def staged(out_dir: str | Path, *, overwrite: bool = False):
    """Yield a temp directory to write the artifact into; on success it replaces `out_dir` (see the
    module doc), on any error it is deleted. The directory's lock is held throughout."""
    out = check_output_dir(out_dir, overwrite=overwrite)
    with safeio.lock(out):
        _recover(out)
        check_output_dir(out, overwrite=overwrite)  # again, under the lock
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{STAGING}-", dir=out.parent))
        except OSError as e:
            raise UsageError(f"cannot create a staging directory: {e.strerror}", where=str(out.parent)) from None
        try:
            yield tmp
            if not (tmp / MANIFEST).is_file():
                raise TargetError("compile wrote no manifest; nothing was replaced", where=str(out))
            _swap_in(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # the staging dir, or after the swap the old artifact


def _swap_in(tmp: Path, out: Path) -> None:
    """Make the complete artifact `tmp` the one at `out`; afterwards `tmp` holds what is to delete."""
    if not os.path.lexists(out):
        os.rename(tmp, out)
    elif not _exchange(tmp, out):
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.{ASIDE}-", dir=out.parent))
        os.rename(out, aside)  # aside is an empty dir: rename replaces it
        try:
            os.rename(tmp, out)
        except BaseException:
            os.rename(aside, out)
            raise
        os.rename(aside, tmp)  # so the caller's cleanup deletes the old artifact
    safeio.fsync_dir(out.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2  # from <fcntl.h> and <linux/fs.h>
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # this OS or file system cannot
        return False
    raise OSError(err, os.strerror(err), str(b))


def write_manifest(directory: Path, *, target: str, backend: str, info: dict) -> dict:
    """List every file of `directory` with its hash, add `info` and the digest, check the result
    against the schema and write it (last: a staging dir without a manifest is incomplete)."""
    clash = sorted(set(info) & set(REQUIRED))
    if clash:
        raise TargetError(f"manifest info may not set {', '.join(clash)}")
    files = {}
    for rel in _tree(directory):
        p = directory / rel
        if not stat.S_ISREG(os.lstat(p).st_mode):
            raise TargetError("an artifact may hold only regular files", where=str(p))
        if rel != MANIFEST:
            files[rel] = _sha256(p)
    manifest = json.loads(dump_json({"format": FORMAT, "format_version": FORMAT_VERSION, "target": target,
                                     "backend": backend, "files": files, **info}))
    manifest["digest"] = digest(manifest)
    check_manifest(manifest, where=str(directory / MANIFEST))
    (directory / MANIFEST).write_bytes(dump_json(manifest))
    return manifest


# ---- reading -------------------------------------------------------------------------------------

def check_manifest(m, *, where: str) -> None:
    """The schema: a JSON object with exactly the known keys, each of its type, a safe file list and
    a matching digest."""
    def bad(why: str) -> TargetError:
        return TargetError(f"manifest {why}", where=where, hint="recompile the artifact")

    if not isinstance(m, dict):
        raise bad(f"is a JSON {type(m).__name__}, not an object")
    if m.get("format") != FORMAT and "format_version" not in m:
        raise bad(f"is not a neurodeploy artifact manifest (format {m.get('format')!r})")
    if m.get("format_version") != FORMAT_VERSION:
        raise bad(f"has format version {m.get('format_version')!r}; this neurodeploy reads {FORMAT_VERSION}")
    if m.get("format") != FORMAT:
        raise bad(f"is not a neurodeploy artifact manifest (format {m.get('format')!r})")
    for key, typ in {**REQUIRED, **COMMON_INFO}.items():
        if (key in REQUIRED or key in m) and (not isinstance(m.get(key), typ) or isinstance(m.get(key), bool)):
            raise bad(f"key {key!r} is missing or not a {typ.__name__}")
    if not _NAME.fullmatch(m["backend"]) or not _NAME.fullmatch(m["target"]):
        raise bad("names a backend or target that is not a plain name")
    if not isinstance(m.get(m["backend"]), dict):
        raise bad(f"has no info object for its backend {m['backend']!r}")
    unknown = sorted(set(m) - set(REQUIRED) - set(COMMON_INFO) - {m["backend"]})
    if unknown:
        raise bad(f"has unknown keys {', '.join(map(repr, unknown[:5]))}")
    for rel, h in m["files"].items():
        pp = PurePosixPath(rel)
        if pp.is_absolute() or ".." in pp.parts or rel in ("", MANIFEST) or pp.as_posix() != rel or "\\" in rel:
            raise bad(f"lists a file outside the artifact or not in normal form: {rel!r}")
        if not isinstance(h, str) or not _HEX64.fullmatch(h):
            raise bad(f"has no SHA-256 for {rel!r}")
    if "model" in m and m["model"] not in m["files"]:
        raise bad(f"names model {m['model']!r}, which it does not list")
    if m["digest"] != digest(m):
        raise bad("digest does not match its content: the manifest was edited or damaged")


def _check_target(m: dict, where: str) -> None:
    """A shipped target must be served by the backend the manifest names (a user's own target
    file is not known here; the digest still covers its name)."""
    from . import targets as tg

    if m["target"] in tg.available() and tg.load(m["target"]).backend != m["backend"]:
        raise TargetError(f"manifest names target {m['target']!r} with backend {m['backend']!r}, but that "
                          f"target's backend is {tg.load(m['target']).backend!r}", where=where,
                          hint="recompile the artifact")


@contextmanager
def reading(path: str | Path):
    """Hold the artifact directory's shared lock while it is read (no compile swaps it meanwhile);
    first restore an artifact a killed compile left moved aside."""
    if not os.path.lexists(path) and _siblings(Path(os.path.abspath(path)), ASIDE):
        with safeio.lock(path):
            _recover(Path(os.path.abspath(path)))
    with safeio.lock(path, shared=True):
        yield


class Artifact:
    """A compiled artifact on disk, checked against its manifest (module doc: the rules)."""

    def __init__(self, path: str | Path, *, verify: bool = True):
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise UsageError(f"{self.path} is not an artifact (no {MANIFEST})",
                             hint="create one with `neurodeploy compile MODEL --target T -o DIR`")
        where = str(mpath)
        budget.charge(mpath.stat().st_size * 16, "reading the manifest", where=where)  # parsed JSON ~16x its text
        try:
            self.manifest = json.loads(mpath.read_bytes())
        except (ValueError, RecursionError) as e:
            raise TargetError(f"manifest is not valid JSON: {e}", where=where) from None
        check_manifest(self.manifest, where=where)
        _check_target(self.manifest, where)
        present = set(_tree(self.path)) - {MANIFEST}
        listed = set(self.manifest["files"])
        if present - listed:
            raise TargetError("file is not listed in the manifest", where=str(self.path / min(present - listed)),
                              hint="an artifact holds only what compile wrote; remove it or recompile")
        if listed - present:
            raise TargetError("file listed in the manifest is missing", where=str(self.path / min(listed - present)),
                              hint="recompile the artifact")
        for rel in sorted(listed):
            if not stat.S_ISREG(os.lstat(self.path / rel).st_mode):
                raise TargetError("is not a regular file", where=str(self.path / rel), hint="recompile the artifact")
            if verify and _sha256(self.path / rel) != self.manifest["files"][rel]:
                raise TargetError("file changed since compile (checksum mismatch)", where=str(self.path / rel),
                                  hint="recompile the artifact")

    @property
    def target(self) -> str:
        return self.manifest["target"]

    @property
    def backend(self) -> str:
        return self.manifest["backend"]

    def file(self, rel: str) -> Path:
        return self.path / rel

    def json(self, rel: str):
        return json.loads(self.file(rel).read_text())

    def npz(self, rel: str) -> dict[str, np.ndarray]:
        with np.load(self.file(rel), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
