"""The shared external-process runner (neurodeploy/runner.py) that the Lava engine uses: job file in,
arrays out, and every failure of the other process as a named error. The child processes here are
small Python scripts, so these tests need no Lava."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy import targets as tg
from neurodeploy.errors import LinkError, TargetError
from neurodeploy.runner import interpreter, run_jobs

from test_loihi_support import build, random_graph, require_lava


def script(tmp_path, body: str) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text("import json, sys\nimport numpy as np\n" + textwrap.dedent(body))
    return [sys.executable, str(path)]


def test_jobs_round_trip_through_files(tmp_path):
    cmd = script(tmp_path, """
        for job in json.load(open(sys.argv[1])):
            x = np.load(job["x"])
            np.savez(job["out"], y=x * job["k"], name=np.array(job["name"]))
    """)
    x = np.arange(6).reshape(2, 3)
    outs = run_jobs(cmd, [{"x": x, "k": 3, "name": "a"}, {"x": -x, "k": 2, "name": "b"}], name="test engine")
    assert [o["y"].tolist() for o in outs] == [(x * 3).tolist(), (-x * 2).tolist()]
    assert [str(o["name"]) for o in outs] == ["a", "b"]


def test_a_failing_process_raises_link_error_with_its_stderr_tail(tmp_path):
    cmd = script(tmp_path, """
        for i in range(40):
            print(f"line {i}", file=sys.stderr)
        sys.exit(3)
    """)
    with pytest.raises(LinkError, match="test engine failed \\(exit 3\\)") as e:
        run_jobs(cmd, [{}], name="test engine")
    assert "line 25" in str(e.value) and "line 39" in str(e.value) and "line 24" not in str(e.value)  # the tail


def test_timeout_and_missing_output_are_link_errors(tmp_path):
    slow = script(tmp_path, "import time; time.sleep(30)\n")
    with pytest.raises(LinkError, match="did not finish within 0.5 s"):
        run_jobs(slow, [{}], name="test engine", timeout_s=0.5)
    lazy = script(tmp_path, "pass\n")
    with pytest.raises(LinkError, match="without writing out0.npz"):
        run_jobs(lazy, [{}], name="test engine")


def test_interpreter_lookup_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("ND_TEST_PY", raising=False)
    with pytest.raises(TargetError, match="the test env is missing .*run `make test-env`.*ND_TEST_PY"):
        interpreter(tmp_path / "nope" / "python", env_var="ND_TEST_PY", what="the test env",
                    install="run `make test-env`")
    monkeypatch.setenv("ND_TEST_PY", sys.executable)
    assert str(interpreter(tmp_path / "nope", env_var="ND_TEST_PY", what="x", install="y")) == sys.executable


def test_lava_engine_without_its_environment_says_how_to_build_it(tmp_path, monkeypatch):
    g, pops = random_graph(np.random.default_rng(0), recurrent=False, cuba=False, n_in=4, sizes=[3],
                            w_scale=0.5, bias=False)
    art = bk.compile(build(g), "loihi2", tmp_path / "a")
    monkeypatch.setenv("NEURODEPLOY_LAVA_PYTHON", str(tmp_path / "no-lava" / "python"))
    with pytest.raises(TargetError, match="make lava-env"):
        bk.run(art.path, np.zeros((5, 1, 4)), engine="lava")


def test_lava_refuses_an_artifact_with_other_fixed_point_widths(tmp_path):
    """Lava's LIF has Loihi's widths built in: a board file with another state shift compiles and runs
    on the NumPy engine, and the Lava engine says why it will not run it instead of computing
    something else."""
    require_lava()
    variant = tmp_path / "loihi-shift4.toml"
    variant.write_text('[target]\nextends = "loihi2"\nname = "loihi-shift4"\n[fixed_point]\n'
                       'state_shift = { value = 4, unit = "bit", source = "test variant", confidence = "estimate" }\n')
    g, pops = random_graph(np.random.default_rng(0), recurrent=False, cuba=False, n_in=4, sizes=[3],
                           w_scale=0.5, bias=False)
    art = bk.compile(build(g), tg.load(str(variant)), tmp_path / "a")
    x = np.zeros((5, 1, 4))
    assert bk.run(art.path, x).spikes[pops[0]].shape == (5, 1, 3)
    with pytest.raises(LinkError, match="state_shift = 4 but Lava's bit-accurate LIF implements 6"):
        bk.run(art.path, x, engine="lava")
