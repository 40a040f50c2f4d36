"""`neurodeploy validate` from the command line: report formats, the -o file, labels, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from contract.conftest import chain
from neurodeploy import backend as bk
from neurodeploy.cli import main

T, B = 40, 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("v")
    bk.compile(chain((12, 20, 8)), "loihi2", d / "a", options={"steps": str(T), "record": "all"})
    np.save(d / "x.npy", (np.random.default_rng(0).random((T, B, 12)) < 0.3).astype(np.float32))
    np.save(d / "y.npy", np.array([0, 1, 2]))
    return d


def test_prints_the_markdown_report(setup, capsys):
    assert main(["validate", str(setup / "a"), "--input", str(setup / "x.npy"), "--labels", str(setup / "y.npy")]) == 0
    text = capsys.readouterr().out
    assert "| n0 | spikes |" in text and "| n1 | spikes |" in text
    assert "mapping only" in text and "accuracy, target" in text
    assert "step(s) late" in text  # Loihi's synapse delays were aligned


def test_json_report_to_a_file(setup, capsys):
    out = setup / "r.json"
    assert main(["validate", str(setup / "a"), "--input", str(setup / "x.npy"), "--format", "json", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["kind"] == "fidelity_report" and data["target"] == "loihi2" and data["lag"] == {"n0": 1, "n1": 2}
    assert [l["agreement"] for l in data["against_quantized"]["layers"]] == [1.0, 1.0]
    assert "vs quantized reference" in capsys.readouterr().out


def test_html_report(setup):
    out = setup / "r.html"
    assert main(["validate", str(setup / "a"), "--input", str(setup / "x.npy"), "--format", "html", "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_wrong_input_shape_is_a_usage_error(setup, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((T, 5)))
    assert main(["validate", str(setup / "a"), "--input", str(tmp_path / "bad.npy")]) == 2
    assert "error:" in capsys.readouterr().err


def test_labels_must_match_the_samples(setup, tmp_path):
    np.save(tmp_path / "y.npy", np.array([0, 1]))
    assert main(["validate", str(setup / "a"), "--input", str(setup / "x.npy"), "--labels", str(tmp_path / "y.npy")]) == 2
