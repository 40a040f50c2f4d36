"""Artifact integrity (issue 10, probe "tampered manifest": `[]` or a missing `backend` gave
tracebacks, deleting the `files` list disabled checksum checks, an edited `target` was accepted).
Goal: a strict schema, every file in the directory listed and checked, the manifest itself protected."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from fake_artifact import independent_digest, make, rewrite
from neurodeploy.artifact import Artifact
from neurodeploy.cli import main
from neurodeploy.errors import TargetError


def drop(key):
    return lambda m: {k: v for k, v in m.items() if k != key}


@pytest.fixture
def artifact(tmp_path):
    return make(tmp_path / "art", gen=7)


def test_a_written_artifact_reloads_with_its_keys_reachable(artifact):
    a = Artifact(artifact)
    assert (a.target, a.backend) == ("spinnaker2", "spinnaker2")
    assert a.manifest["spinnaker2"]["per_pe"] == [1, 2] and a.manifest["spinnaker2"]["gen"] == 7
    on_disk = sorted(p.relative_to(artifact).as_posix() for p in artifact.rglob("*") if p.is_file())
    assert sorted(a.manifest["files"]) == [f for f in on_disk if f != "manifest.json"]


def test_the_digest_is_the_documented_sha256_of_the_manifest(artifact):
    m = json.loads((artifact / "manifest.json").read_text())
    assert m["digest"] == independent_digest(m)


@pytest.mark.parametrize("edit, says", [
    (lambda m: [], "not an object"),  # probe: manifest `[]`
    (drop("backend"), "backend"),  # probe: missing `backend`
    (drop("files"), "files"),  # probe: `files` list deleted
    (lambda m: m.update(files={}), "not listed"),  # an emptied list: files unlisted
    (lambda m: m.update(target="loihi2"), "target"),  # probe: edited `target`
    (lambda m: m.update(format_version=99), "format version"),
    (drop("format"), "not a neurodeploy"),
    (lambda m: m.update(format_version=1), "format version 1"),  # an artifact of the first format
    (lambda m: m.update(extra_key=1), "unknown keys"),
    (drop("spinnaker2"), "info object"),
    (lambda m: m["files"].update({"../escape.bin": "0" * 64}), "outside the artifact"),
])
def test_a_tampered_manifest_is_refused_even_with_the_digest_renewed(artifact, edit, says):
    rewrite(artifact, edit, renew_digest=True)
    with pytest.raises(TargetError) as e:
        Artifact(artifact)
    assert says in str(e.value)


def test_an_edit_without_renewing_the_digest_is_detected(artifact):
    rewrite(artifact, lambda m: m["spinnaker2"].update(gen=8))
    with pytest.raises(TargetError, match="digest"):
        Artifact(artifact)


def test_a_target_served_by_another_backend_is_refused(artifact):
    rewrite(artifact, lambda m: m.update(target="loihi2"), renew_digest=True)
    with pytest.raises(TargetError, match="loihi2.*backend 'spinnaker2'.*'loihi'"):
        Artifact(artifact)


def test_an_unlisted_file_is_refused(artifact):
    (artifact / "sub" / "added.bin").write_bytes(b"x")
    with pytest.raises(TargetError, match="not listed") as e:
        Artifact(artifact)
    assert "added.bin" in str(e.value)


def test_a_missing_file_is_refused(artifact):
    (artifact / "data0.bin").unlink()
    with pytest.raises(TargetError, match="missing"):
        Artifact(artifact, verify=False)  # listing is checked even without hashing


def test_a_changed_file_is_refused(artifact):
    p = artifact / "sub" / "data1.bin"
    raw = bytearray(p.read_bytes())
    raw[0] ^= 1
    p.write_bytes(bytes(raw))
    with pytest.raises(TargetError, match="checksum"):
        Artifact(artifact)
    Artifact(artifact, verify=False)  # only the hash differs


def test_a_symlink_in_the_artifact_is_refused(artifact, tmp_path):
    (tmp_path / "outside.bin").write_bytes(b"secret")
    os.symlink(tmp_path / "outside.bin", artifact / "link.bin")
    with pytest.raises(TargetError, match="not listed"):
        Artifact(artifact)


@pytest.mark.parametrize("text", ["[]", "{", '{"format": "neurodeploy-artifact"}', "null"])
def test_cli_run_on_a_broken_manifest_is_one_line_exit_5(artifact, tmp_path, capfd, text):
    """The probe's tracebacks: the CLI now says what is wrong with the manifest, exit 5."""
    (artifact / "manifest.json").write_text(text)
    np.save(tmp_path / "x.npy", np.zeros((5, 3), np.float32))
    code = main(["run", str(artifact), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "o.npz")])
    err = capfd.readouterr().err
    assert code == 5 and err.startswith("error: ") and err.count("\n") == 1 and "manifest" in err
    assert "Traceback" not in err and not (tmp_path / "o.npz").exists()
