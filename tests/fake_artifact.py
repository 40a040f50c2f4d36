"""Artifacts written through the same two calls `backend.compile` makes (`staged`, `write_manifest`),
with no backend involved, so output-safety and integrity tests do not depend on any backend."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from neurodeploy import artifact as art


def make(out: Path, *, gen: int = 0, files: int = 3, overwrite: bool = False) -> Path:
    """A spinnaker2-target artifact whose files and manifest info carry `gen`."""
    with art.staged(out, overwrite=overwrite) as tmp:
        (tmp / "sub").mkdir()
        for i in range(files):
            (tmp / ("sub" if i % 2 else ".") / f"data{i}.bin").write_bytes(os.urandom(64) + bytes([gen % 256]))
        art.write_manifest(tmp, target="spinnaker2", backend="spinnaker2",
                           info={"options": {}, "spinnaker2": {"gen": gen, "per_pe": [1, 2]}})
    return out


def independent_digest(manifest: dict) -> str:
    """The documented digest (docs/artifact.md), computed here without the code under test."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return hashlib.sha256((json.dumps(body, sort_keys=True, indent=1) + "\n").encode()).hexdigest()


def rewrite(out: Path, edit, *, renew_digest: bool = False) -> None:
    """Edit the manifest of `out` (`edit` changes it in place or returns a replacement), as a tamperer
    would; optionally with the digest renewed."""
    path = out / art.MANIFEST
    m = json.loads(path.read_text())
    new = edit(m)
    m = m if new is None else new
    if renew_digest and isinstance(m, dict):
        m["digest"] = independent_digest(m)
    path.write_text(json.dumps(m))


def leftovers(parent: Path, name: str) -> list[str]:
    """Hidden staging, moved-aside or lock entries for artifact `name` in `parent`."""
    return sorted(n for n in os.listdir(parent) if n.startswith(f".{name}."))
