"""`compile --fidelity F --calibration X.npy` (neurodeploy/calibrate.py): the cheapest precision setting
that reaches F, checked by compiling the settings directly and measuring them with `validate`; an
unreachable F refused (exit 4, rule 'fidelity') with the best figure; the search in the manifest."""
from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from contract.conftest import chain
from neurodeploy import backend as bk
from neurodeploy import calibrate, cli, ir
from neurodeploy import fidelity as fd
from neurodeploy.errors import ResourceExceeded, UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics

T, B = 40, 64
OPTS = {"steps": str(T)}


@pytest.fixture(scope="module")
def x():
    return (np.random.default_rng(0).random((T, B, 12)) < 0.3).astype(np.float32)


def _agreement(graph, target, options, x, where) -> float:
    """Output-decision agreement of one setting compiled directly (not through the search)."""
    a = bk.compile(graph, target, where, options={**OPTS, **options})
    return fd.validate(a.path, x).against_float.decision_agreement


def _fine_weights_lost() -> Graph:
    """12 inputs -> 2 LIF outputs. Input 0 never spikes in the calibration data but has weight 1 into
    both outputs; each output's decision comes from 0.003-weights of its own 5 inputs, below half an
    int8 step of the largest weight (1/127): SpiNNaker 2 rounds them to 0, Loihi keeps them in part."""
    w = np.zeros((2, 12), np.float32)
    w[:, 0] = 1.0
    w[0, 1:6] = w[1, 6:11] = 0.003
    nodes = {"in": nir.Input(input_type={"input": np.array([12])}),
             "w": nir.Affine(weight=w, bias=np.zeros(2, np.float32)),
             "n": nir.LIF(tau=np.full(2, 2e-3), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.full(2, 0.003),
                          v_reset=np.zeros(2)),
             "out": nir.Output(output_type={"output": np.array([2])})}
    shapes = {"in": (12,), "w": (2,), "n": (2,), "out": (2,)}
    return Graph(nodes, [("in", "w"), ("w", "n"), ("n", "out")], {**shapes, "w": (12,)}, shapes,
                 semantics=Semantics(dt=1e-4))


def _silent_first_input(x):
    y = x.copy()
    y[:, :, 0] = 0
    return y


@pytest.mark.parametrize("target, goal", [("spinnaker2", 1.0), ("loihi2", 1.0), ("crossbar-rram", 0.85),
                                          ("fpga-zcu102", 1.0)])
def test_the_cheapest_setting_reaching_the_target_is_chosen(target, goal, x, tmp_path):
    g = chain((12, 20, 8))
    a = calibrate.compile(g, target, tmp_path / "a", goal, x, options=OPTS)
    rec = a.manifest["calibration"]
    tried, chosen = rec["tried"], rec["chosen"]
    settings = bk.get(a.backend).precision_choices(g, bk.resolve(target)[0])
    assert len(tried) > 1 and chosen == tried[-1]  # the cheapest setting failed, the search went on
    assert [r["options"] for r in tried] == [o for o, _ in settings[:len(tried)]]
    # each setting's figure, measured independently of the search: every cheaper one falls short
    for i, row in enumerate(tried):
        direct = _agreement(g, target, row["options"], x, tmp_path / str(i))
        assert direct == pytest.approx(row["agreement"])
        assert (direct >= goal) == (row is tried[-1])
    # the artifact itself is compiled with the chosen setting and reaches the goal
    assert {k: a.manifest["options"][k] for k in chosen["options"]} == chosen["options"]
    assert fd.validate(a.path, x).against_float.decision_agreement >= goal
    costs = [r["cost"] for r in tried]
    assert costs == sorted(costs) and rec["target"] == goal and rec["samples"] == B


@pytest.mark.parametrize("target", ["spinnaker2", "loihi2"])
def test_an_unreachable_target_is_refused_with_the_best_figure(target, x, tmp_path):
    g, x = _fine_weights_lost(), _silent_first_input(x)
    with pytest.raises(ResourceExceeded) as e:
        calibrate.compile(g, target, tmp_path / "a", 0.95, x, options=OPTS)
    assert e.value.rule == "fidelity" and e.value.needed == 0.95
    t, backend = bk.resolve(target)
    figures = [_agreement(g, target, o, x, tmp_path / str(i)) for i, (o, _) in enumerate(backend.precision_choices(g, t))]
    assert e.value.available == pytest.approx(max(figures)) and max(figures) < 0.95
    assert not (tmp_path / "a").exists()


def test_cli_compile_with_fidelity(x, tmp_path, capsys):
    model, calib, silent = tmp_path / "m.nir", tmp_path / "x.npy", tmp_path / "silent.npy"
    ir.write(model, chain((12, 20, 8)))
    np.save(calib, x)
    np.save(silent, _silent_first_input(x))
    base = ["compile", str(model), "--target", "spinnaker2", "-O", f"steps={T}"]
    assert cli.main([*base, "-o", str(tmp_path / "a"), "--fidelity", "1", "--calibration", str(calib), "--report"]) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    chosen = manifest["calibration"]["chosen"]["options"]["weight_scaling"]
    assert f"chose weight_scaling={chosen}" in printed and "weight_scaling=none: cost 0" in printed
    ir.write(model, _fine_weights_lost())
    assert cli.main([*base, "-o", str(tmp_path / "b"), "--fidelity", "0.95", "--calibration", str(silent)]) == 4
    assert "design rule 'fidelity' violated: needs 0.95" in capsys.readouterr().err
    assert cli.main([*base, "-o", str(tmp_path / "c"), "--calibration", str(calib)]) == 2  # without --fidelity
    with pytest.raises(SystemExit) as e:  # argparse's own usage exit
        cli.main([*base, "-o", str(tmp_path / "c"), "--fidelity", "1.5", "--calibration", str(calib)])
    assert e.value.code == 2


def test_a_searched_option_given_by_hand_is_refused(x, tmp_path):
    with pytest.raises(UsageError, match="weight_scaling"):
        calibrate.compile(chain((12, 8)), "spinnaker2", tmp_path / "a", 0.9, x,
                          options={**OPTS, "weight_scaling": "per_layer"})
