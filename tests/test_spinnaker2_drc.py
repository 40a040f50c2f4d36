"""Design rules and bad input: exit 4 with the rule, exit 3 naming the node, nothing half-written."""
from __future__ import annotations

import nir
import numpy as np
import pytest

from neurodeploy import backend as bk
from neurodeploy import cli
from neurodeploy import targets as tg
from neurodeploy.errors import ResourceExceeded, TargetError, UnsupportedNode, UsageError
from neurodeploy.ir import normalize
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics


def chain(sizes, neuron=nir.LIF, seed=0):
    rng = np.random.default_rng(seed)
    nodes = {"in": nir.Input(input_type={"input": np.array([sizes[0]])})}
    edges, prev = [], "in"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        nodes[f"w{i}"] = nir.Affine(weight=rng.normal(size=(b, a)).astype(np.float32), bias=np.zeros(b, np.float32))
        nodes[f"n{i}"] = neuron(tau=np.full(b, 1e-3), r=np.ones(b), v_leak=np.zeros(b), v_threshold=np.ones(b)) \
            if neuron is nir.LIF else neuron(tau=np.full(b, 1e-3), r=np.ones(b), v_leak=np.zeros(b))
        edges += [(prev, f"w{i}"), (f"w{i}", f"n{i}")]
        prev = f"n{i}"
    nodes["out"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((prev, "out"))
    shapes = {k: (sizes[0],) for k in ("in",)}
    for i, b in enumerate(sizes[1:]):
        shapes[f"w{i}"] = shapes[f"n{i}"] = (b,)
    shapes["out"] = (sizes[-1],)
    ins = dict(shapes, **{f"w{i}": (a,) for i, a in enumerate(sizes[:-1])})
    return Graph(nodes, edges, ins, shapes)


def test_too_big_for_one_chip_names_the_rule(tmp_path):
    g = chain([200, 20000])
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(g, "spinnaker2", tmp_path / "a")
    assert e.value.rule == "PEs" and e.value.needed > e.value.available == 148
    assert e.value.exit_code == 4
    assert not (tmp_path / "a").exists() and not list(tmp_path.iterdir())


def test_fits_on_the_board_target(tmp_path):
    art = bk.compile(chain([200, 20000]), "spinnaker2-48chip", tmp_path / "a")
    assert art.manifest["spinnaker2"]["chips"] > 1


def test_weight_range_rule(tmp_path):
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(chain([4, 4]), "spinnaker2", tmp_path / "a", options={"weight_scale": "1000"})
    assert e.value.rule == "weight range" and e.value.available == 127


def test_delay_range_rule(tmp_path):
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(chain([4, 4]), "spinnaker2", tmp_path / "a", options={"conn_delay": "9"})
    assert e.value.rule == "delay range" and (e.value.needed, e.value.available) == (9, 7)


def test_fan_in_rule(tmp_path):
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(chain([60000, 2]), "spinnaker2-48chip", tmp_path / "a")
    assert e.value.rule == "fan-in per neuron" and 5000 < e.value.available < e.value.needed <= 60000
    assert not list(tmp_path.iterdir())


def test_unsupported_node_names_it_and_says_keep_on_host(tmp_path):
    g = chain([4, 4], neuron=nir.LI)
    with pytest.raises(UnsupportedNode) as e:
        bk.compile(g, "spinnaker2", tmp_path / "a")
    assert e.value.where == "n0" and "keep it on the host" in str(e.value) and e.value.exit_code == 3
    assert not list(tmp_path.iterdir())


def test_unknown_option_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="bogus"):
        bk.compile(chain([4, 4]), "spinnaker2", tmp_path / "a", options={"bogus": "1"})


def test_cli_exit_codes(realdata, tmp_path):
    lif = str(realdata / "lif" / "lif_norse.nir")
    assert cli.main(["compile", lif, "--target", "spinnaker2", "-o", str(tmp_path / "ok"), "--report"]) == 0
    assert cli.main(["compile", lif, "--target", "spinnaker2", "-o", str(tmp_path / "bad"),
                     "-O", "weight_scale=1e6"]) == 4
    assert not (tmp_path / "bad").exists()


def test_conv_population_with_a_second_input_is_refused(tmp_path):
    """The MLA runs one Conv2DProjection per population; a second input would be silently lost."""
    c, h = 2, 6
    nodes = {"in": nir.Input(input_type={"input": np.array([c, h, h])}),
             "conv": nir.Conv2d(input_shape=(h, h), weight=np.ones((c, c, 3, 3), np.float32), stride=1, padding=1,
                                dilation=1, groups=1, bias=np.zeros(c, np.float32)),
             "flat": nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([c, h, h])}),
             "skip": nir.Linear(weight=np.eye(c * h * h, dtype=np.float32)),
             "if": nir.IF(r=np.ones((c, h, h)), v_threshold=np.ones((c, h, h))),
             "out": nir.Output(output_type={"output": np.array([c, h, h])})}
    edges = [("in", "conv"), ("conv", "if"), ("in", "flat"), ("flat", "skip"), ("skip", "if"), ("if", "out")]
    img, flat = (c, h, h), (c * h * h,)
    outs = {"in": img, "conv": img, "flat": flat, "skip": flat, "if": img, "out": img}
    ins = dict(outs, flat=img)
    with pytest.raises(UnsupportedNode, match="no other input") as e:
        bk.compile(Graph(nodes, edges, ins, outs), "spinnaker2", tmp_path / "a")
    assert e.value.where == "if"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("old, new, says", [
    ('pes = { value = 152', 'pes = { value = 160', "QPE grid has 38 QPEs"),
    ('itcm_per_pe = { value = 32768', 'itcm_per_pe = { value = 65536', r"ITCM \+ DTCM exceed the PE's SRAM")])
def test_a_target_file_whose_memory_or_pes_disagree_is_refused(tmp_path, old, new, says):
    """pes/qpes are limits through usable_pes, and the DTCM budget assumes the linker's split fits the
    SRAM: a variant file where they disagree is refused (exit 5) naming the numbers, not compiled."""
    text = (tg.TARGETS_DIR / "spinnaker2.toml").read_text()
    assert old in text
    own = tmp_path / "s2-variant.toml"
    own.write_text(text.replace(old, new))
    with pytest.raises(TargetError, match=says) as e:
        bk.compile(chain([4, 4]), str(own), tmp_path / "a")
    assert e.value.exit_code == 5


def _parallel(k: int, n: int):
    """k parallel weight layers from one input neuron onto n LIF neurons: one source row holds k*n synapses."""
    nodes = {"in": nir.Input(input_type={"input": np.array([1])}),
             "n0": nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                           v_reset=np.zeros(n)),
             "out": nir.Output(output_type={"output": np.array([n])})}
    edges = [("n0", "out")]
    for i in range(k):
        nodes[f"w{i}"] = nir.Linear(weight=np.ones((n, 1)))
        edges += [("in", f"w{i}"), (f"w{i}", "n0")]
    return normalize(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), Semantics(dt=1e-4, reset="zero"))


def test_rows_over_the_mpt_row_length_are_sliced_finer_or_refused_when_fixed(tmp_path):
    """A row of 3 x 250 16-bit words would need 3 + 375 words, over the 8-bit row_length (255): by
    default the partitioner slices the population finer; -O atoms_per_core=250 keeps it and is refused."""
    art = bk.compile(_parallel(3, 250), "spinnaker2", tmp_path / "a", options={"steps": "10"})
    atoms = art.manifest["spinnaker2"]["atoms_per_pe"]["n0"]
    assert 3 + -(-3 * atoms // 2) <= 255 < 3 + -(-3 * 250 // 2)
    with pytest.raises(ResourceExceeded) as e:
        bk.compile(_parallel(3, 250), "spinnaker2", tmp_path / "b", options={"steps": "10", "atoms_per_core": "n0:250"})
    assert e.value.rule == "synaptic row length (words)" and (e.value.needed, e.value.available) == (3 + 375, 255)
    with pytest.raises(UsageError, match="exclude each other"):
        bk.compile(_parallel(1, 4), "spinnaker2", tmp_path / "c", options={"atoms_per_core": "2", "max_atoms_per_core": "2"})
