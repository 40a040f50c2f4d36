"""Artifacts: a directory with `manifest.json` (format version, target, checksums) and data files.

Written into a temporary sibling directory and renamed into place only when complete, so a failed
compile leaves nothing half-written (ARCHITECTURE principle 5). Reloading verifies every checksum,
so a simulator that reads an artifact reads exactly what the compiler wrote.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import TargetError, UsageError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL_FILE = "model.nir"  # the normalized model, for reports only


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


@contextmanager
def staged(out_dir: str | Path, *, overwrite: bool = False):
    """Yield a temp directory; on success move it to `out_dir`, on any error delete it."""
    out = Path(out_dir).resolve()
    if out.exists() and not overwrite and any(out.iterdir()):
        raise UsageError(f"output directory {out} exists and is not empty", hint="remove it or pass --force")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(directory: Path, *, target: str, backend: str, info: dict) -> dict:
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {
        "format_version": FORMAT_VERSION,
        "target": target,
        "backend": backend,
        "files": {str(p.relative_to(directory)): _sha256(p) for p in files},
        **info,
    }
    (directory / MANIFEST).write_bytes(dump_json(manifest))
    return manifest


class Artifact:
    """A compiled artifact on disk, checked against its manifest."""

    def __init__(self, path: str | Path, *, verify: bool = True):
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise UsageError(f"{self.path} is not an artifact (no {MANIFEST})",
                             hint="create one with `neurodeploy compile MODEL --target T -o DIR`")
        try:
            self.manifest = json.loads(mpath.read_text())
        except json.JSONDecodeError as e:
            raise TargetError(f"manifest is not valid JSON: {e}", where=str(mpath)) from None
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise TargetError(f"artifact format {self.manifest.get('format_version')} is not {FORMAT_VERSION}",
                              where=str(mpath), hint="recompile with this neurodeploy")
        if verify:
            for rel, digest in self.manifest.get("files", {}).items():
                f = self.path / rel
                if not f.is_file() or _sha256(f) != digest:
                    raise TargetError("file missing or changed since compile (checksum mismatch)",
                                      where=str(f), hint="recompile the artifact")

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
