"""Output safety (issue 10): each test names the probe of the issue's table it covers.

Most tests write artifacts through `staged`/`write_manifest` directly (tests/fake_artifact.py), the
two calls `backend.compile` makes, so they hold for every backend; the CLI tests use a real model.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fake_artifact import leftovers, make
from neurodeploy import artifact as art
from neurodeploy import safeio
from neurodeploy.artifact import Artifact
from neurodeploy.cli import main
from neurodeploy.errors import Busy, UsageError

S2 = ["--target", "spinnaker2", "--integrator", "euler"]  # the semantics SpiNNaker 2 runs without options
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


@pytest.fixture
def braille(realdata):
    return str(realdata / "rnn" / "braille_noDelay_bias_zero.nir")


def _user_dir(path: Path) -> dict[str, bytes]:
    path.mkdir(exist_ok=True)
    (path / "thesis.tex").write_bytes(b"years of work")
    (path / "data").mkdir()
    (path / "data" / "x.npy").write_bytes(b"mine")
    return _snapshot(path)


def _snapshot(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# ---- probe: `compile ... -o DIR --force` on a directory that is not an artifact deleted it ------------

def test_force_refuses_a_directory_that_is_not_an_artifact(braille, tmp_path, capsys):
    before = _user_dir(tmp_path / "mine")
    code = main(["compile", braille, *S2, "-o", str(tmp_path / "mine"), "--force"])
    assert code == 2 and "no neurodeploy artifact" in capsys.readouterr().err
    assert _snapshot(tmp_path / "mine") == before


def test_force_on_the_working_directory_touches_nothing(braille, tmp_path, monkeypatch, capsys):
    """probe: `-o . --force` wiped the working directory."""
    before = _user_dir(tmp_path / "cwd")
    monkeypatch.chdir(tmp_path / "cwd")
    assert main(["compile", braille, *S2, "-o", ".", "--force"]) == 2
    assert _snapshot(tmp_path / "cwd") == before


def test_force_never_replaces_the_working_directory(tmp_path, monkeypatch):
    make(tmp_path / "art", gen=1)
    monkeypatch.chdir(tmp_path / "art")
    with pytest.raises(UsageError, match="working directory"):
        make(Path("."), gen=2, overwrite=True)
    assert Artifact(tmp_path / "art").manifest["spinnaker2"]["gen"] == 1


def test_force_refuses_an_artifact_holding_a_file_of_the_users(tmp_path):
    make(tmp_path / "art", gen=1)
    (tmp_path / "art" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="does not list"):
        make(tmp_path / "art", gen=2, overwrite=True)
    assert (tmp_path / "art" / "notes.txt").read_text() == "mine"
    os.rename(tmp_path / "art" / "notes.txt", tmp_path / "notes.txt")
    assert Artifact(tmp_path / "art").manifest["spinnaker2"]["gen"] == 1


def test_force_replaces_an_artifact_and_leaves_nothing_else(tmp_path):
    make(tmp_path / "art", gen=1)
    with pytest.raises(UsageError, match="--force"):
        make(tmp_path / "art", gen=2)
    make(tmp_path / "art", gen=2, overwrite=True)
    assert Artifact(tmp_path / "art").manifest["spinnaker2"]["gen"] == 2
    assert os.listdir(tmp_path) == ["art"]


# ---- probe: SIGKILL during `compile --force` left broken artifacts and hidden `.partial` dirs -------

CHILD = """
import sys, time
from pathlib import Path
from neurodeploy import artifact as art
out = Path(sys.argv[1])
with art.staged(out, overwrite=True) as tmp:
    for i in range(5):
        (tmp / f"data{i}.bin").write_bytes(bytes([2]) * 100000)
        print(f"file {i}", flush=True)
        time.sleep(0.02)
    art.write_manifest(tmp, target="spinnaker2", backend="spinnaker2", info={"spinnaker2": {"gen": 2}})
    print("manifest", flush=True)
print("done", flush=True)
"""


@pytest.mark.parametrize("marker, delay", [("file 0", 0), ("file 3", 0), ("manifest", 0), ("manifest", 0.005),
                                           ("manifest", 0.02)])
def test_sigkill_at_any_point_leaves_one_complete_artifact(tmp_path, marker, delay):
    """A process replacing an artifact of 800 files (so the swap and the old one's deletion take a
    while) is killed at a known point; what is left is the old artifact or the new one, complete."""
    out = make(tmp_path / "art", gen=1, files=800)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], stdout=subprocess.PIPE, text=True, env=ENV)
    for line in child.stdout:
        if line.strip() == marker:
            time.sleep(delay)
            break
    child.kill()
    child.wait()
    gen = Artifact(out).manifest["spinnaker2"]["gen"]  # complete: schema, listing, every hash
    assert gen == (1 if marker.startswith("file") else gen) and gen in (1, 2)
    make(out, gen=3, overwrite=True)  # the next compile cleans what the killed one left
    assert leftovers(tmp_path, "art") == [] and Artifact(out).manifest["spinnaker2"]["gen"] == 3


def test_sigkill_during_cli_compile_force(braille, tmp_path):
    """The real command, killed at several points of its run (a bounded number of times)."""
    out = tmp_path / "art"
    cmd = [sys.executable, "-m", "neurodeploy", "compile", braille, *S2, "-o", str(out), "--force"]
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, env=ENV, capture_output=True)
    duration = time.monotonic() - t0
    for fraction in (0.5, 0.8, 0.9, 0.97):
        child = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(duration * fraction)
        child.kill()
        child.wait()
        Artifact(out)
    subprocess.run(cmd, check=True, env=ENV, capture_output=True)
    assert leftovers(tmp_path, "art") == []


def test_a_compile_killed_between_moving_aside_and_moving_in_is_undone(tmp_path):
    """Where no atomic exchange exists, the old artifact is moved aside first; a kill right then
    leaves no artifact at DIR: the next reader or compile puts the old one back."""
    old = make(tmp_path / "art", gen=1)
    os.rename(old, tmp_path / ".art.old-x1")
    make(tmp_path / "partial", gen=2)
    os.rename(tmp_path / "partial", tmp_path / ".art.partial-y2")
    with art.reading(tmp_path / "art"):
        assert Artifact(tmp_path / "art").manifest["spinnaker2"]["gen"] == 1
    make(tmp_path / "art", gen=3, overwrite=True)
    assert leftovers(tmp_path, "art") == []


def test_without_an_atomic_exchange_the_swap_moves_aside_then_in(tmp_path, monkeypatch):
    make(tmp_path / "art", gen=1)
    monkeypatch.setattr(art, "_exchange", lambda a, b: False)
    make(tmp_path / "art", gen=2, overwrite=True)
    assert Artifact(tmp_path / "art").manifest["spinnaker2"]["gen"] == 2
    assert leftovers(tmp_path, "art") == []


def test_stale_staging_dirs_are_cleaned_on_the_next_compile(tmp_path):
    (tmp_path / ".art.partial-abc").mkdir()
    (tmp_path / ".art.partial-abc" / "half.bin").write_bytes(b"x")
    (tmp_path / ".other.partial-abc").mkdir()  # another artifact's: not ours to clean now
    make(tmp_path / "art")
    assert leftovers(tmp_path, "art") == [] and (tmp_path / ".other.partial-abc").is_dir()


def test_a_failed_compile_leaves_the_old_artifact_and_no_staging(tmp_path):
    make(tmp_path / "art", gen=1)
    with pytest.raises(RuntimeError):
        with art.staged(tmp_path / "art", overwrite=True) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise RuntimeError("backend failed")
    assert Artifact(tmp_path / "art").manifest["spinnaker2"]["gen"] == 1
    assert leftovers(tmp_path, "art") == []


# ---- probe: `-o /dev/full` as root replaced the device node by a regular file ------------------------

@pytest.mark.parametrize("kind", ["device", "fifo", "directory", "symlink"])
def test_the_writer_refuses_non_regular_targets(tmp_path, kind):
    target = {"device": Path("/dev/full"), "fifo": tmp_path / "f", "directory": tmp_path / "d",
              "symlink": tmp_path / "l"}[kind]
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "symlink":
        (tmp_path / "real").write_bytes(b"keep")
        os.symlink(tmp_path / "real", target)
    mode = os.lstat(target).st_mode
    with pytest.raises(UsageError) as e:
        safeio.write_file(target, b"data")
    assert e.value.exit_code == 2 and str(target) in str(e.value)
    assert os.lstat(target).st_mode == mode
    if kind == "device":
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_cli_outputs_refuse_dev_full(braille, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((5, 12), np.float32))
    assert main(["simulate", braille, "--input", str(tmp_path / "x.npy"), "--out", "/dev/full"]) == 2
    assert main(["compile", braille, *S2, "-o", "/dev/full", "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("/dev/full") == 2 and stat.S_ISCHR(os.stat("/dev/full").st_mode)


# ---- probe: `--out d` wrote `d.npz` but printed `-> d` ------------------------------------------------

def test_out_writes_exactly_the_path_given(braille, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((5, 12), np.float32))
    out = tmp_path / "d"
    assert main(["simulate", braille, "--input", str(tmp_path / "x.npy"), "--out", str(out)]) == 0
    assert out.is_file() and not (tmp_path / "d.npz").exists()
    assert capsys.readouterr().out.rstrip().endswith(f"-> {out}")
    with np.load(out) as z:
        assert z["output.spikes"].shape == (5, 1, 7)


def test_no_missing_parent_is_created(braille, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((5, 12), np.float32))
    out = tmp_path / "no" / "such" / "o.npz"
    assert main(["simulate", braille, "--input", str(tmp_path / "x.npy"), "--out", str(out)]) == 2
    assert main(["compile", braille, *S2, "-o", str(tmp_path / "no" / "art")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "no").exists()


def test_outputs_in_an_unwritable_place_fail_with_exit_2(braille, tmp_path, capsys):
    """probe: `-o` over a file or under a read-only dir gave tracebacks. /proc refuses new files even
    to root (the tests may run as root, for whom a chmod'ed directory is writable)."""
    (tmp_path / "file").write_text("keep")
    np.save(tmp_path / "x.npy", np.zeros((5, 12), np.float32))
    assert main(["compile", braille, *S2, "-o", str(tmp_path / "file"), "--force"]) == 2
    assert main(["compile", braille, *S2, "-o", "/proc/neurodeploy-art"]) == 2
    assert main(["simulate", braille, "--input", str(tmp_path / "x.npy"), "--out", "/proc/o.npz"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 3 and (tmp_path / "file").read_text() == "keep"


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    (tmp_path / "o.npz").write_bytes(b"old")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk gone")
    with pytest.raises(RuntimeError):
        safeio.write_file(tmp_path / "o.npz", broken)
    assert (tmp_path / "o.npz").read_bytes() == b"old" and os.listdir(tmp_path) == ["o.npz"]


# ---- probe: two compiles into one dir at once: both exit 0, one silently overwritten ----------------

HOLD = """
import sys, time
from neurodeploy import safeio
with safeio.lock(sys.argv[1], shared=sys.argv[2] == "shared"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
"""


def _holder(path: Path, mode: str, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode, str(seconds)], stdout=subprocess.PIPE,
                         text=True, env=ENV)
    assert p.stdout.readline().strip() == "locked"
    return p


def test_a_second_writer_fails_clearly_after_the_timeout(tmp_path):
    holder = _holder(tmp_path / "art", "exclusive", 30)
    try:
        with safeio.LOCK_TIMEOUT.given(0.3), pytest.raises(Busy, match="in use") as e:
            make(tmp_path / "art")
        assert e.value.exit_code == 2 and str(tmp_path / "art") in str(e.value)
        assert not (tmp_path / "art").exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_second_writer_waits_for_the_first(tmp_path):
    holder = _holder(tmp_path / "art", "exclusive", 0.5)
    t0 = time.monotonic()
    with safeio.LOCK_TIMEOUT.given(30):
        make(tmp_path / "art")
    assert time.monotonic() - t0 > 0.2 and holder.wait() == 0
    assert leftovers(tmp_path, "art") == []  # the last holder removed the lock file


def test_run_waits_for_no_compile_that_holds_the_artifact(tmp_path, capsys):
    """A reader (run) and a writer (compile) exclude each other: run fails clearly when it times out."""
    make(tmp_path / "art")
    np.save(tmp_path / "x.npy", np.zeros((5, 12), np.float32))
    holder = _holder(tmp_path / "art", "exclusive", 30)
    try:
        code = main(["run", str(tmp_path / "art"), "--input", str(tmp_path / "x.npy"), "--out",
                     str(tmp_path / "o.npz"), "--lock-timeout", "0.2"])
        assert code == 2 and "in use by another neurodeploy process" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


def test_readers_share_the_lock_and_keep_writers_out(tmp_path):
    make(tmp_path / "art", gen=1)
    reader = _holder(tmp_path / "art", "shared", 30)
    try:
        with safeio.LOCK_TIMEOUT.given(0.2):
            with art.reading(tmp_path / "art"):  # a second reader: fine
                pass
            with pytest.raises(Busy):
                make(tmp_path / "art", gen=2, overwrite=True)
    finally:
        reader.kill()
        reader.wait()
    assert Artifact(tmp_path / "art").manifest["spinnaker2"]["gen"] == 1


def test_two_cli_compiles_at_once_one_wins_the_other_says_why(braille, tmp_path):
    out = tmp_path / "art"
    cmd = [sys.executable, "-m", "neurodeploy", "compile", braille, *S2, "-o", str(out)]
    procs = [subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = sorted((p.wait(), p.stderr.read()) for p in procs)
    assert [r[0] for r in results] == [0, 2], results
    assert "holds an artifact already" in results[1][1] and "Traceback" not in results[1][1]
    Artifact(out)
    assert leftovers(tmp_path, "art") == []
