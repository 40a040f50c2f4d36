"""json / md / html rendering: the same numbers everywhere, self-contained HTML, atomic writes."""
from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser

import nir
import numpy as np
import pytest
from matplotlib import image as mpimg

from neurodeploy import report
from neurodeploy.energy import estimate
from neurodeploy.errors import UsageError
from neurodeploy.ir.graph import Graph
from neurodeploy.result import Result

TOY = """
[target]
name = "toy"
backend = "none"
description = "a made-up chip for the report tests"
[timing]
tick = { value = 1, unit = "ms", source = "test", confidence = "estimate" }
[energy.dynamic]
synaptic_events = { low = 20, high = 45, unit = "pJ", source = "paper A vs paper B", confidence = "src" }
neuron_updates = { value = 50, unit = "pJ", source = "paper C", confidence = "2nd" }
[energy.static]
idle_power_per_chip = { value = 1, unit = "mW", source = "paper E", confidence = "derived" }
[energy.assumptions]
voltage = "0.75 V"
not_counted = "host I/O"
"""


def make_report(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    rng = np.random.default_rng(0)
    lif = lambda n: nir.LIF(tau=np.full(n, 2e-3), r=np.full(n, 20.0), v_leak=np.zeros(n),  # noqa: E731
                            v_threshold=np.ones(n))
    nodes = {"input": nir.Input(input_type={"input": np.array([4])}),
             "fc1": nir.Affine(rng.normal(size=(6, 4)), np.zeros(6)), "lif1": lif(6),
             "output": nir.Output(output_type={"output": np.array([6])})}
    shapes = {"input": (4,), "fc1": (6,), "lif1": (6,), "output": (6,)}
    g = Graph(nodes, [("input", "fc1"), ("fc1", "lif1"), ("lif1", "output")], {**shapes, "fc1": (4,)}, shapes)
    T, B = 8, 2
    x = (rng.random((T, B, 4)) < 0.5).astype(float)
    spikes = (rng.random((T, B, 6)) < 0.3).astype(float)
    r = Result(spikes={"lif1": spikes}, counters={"synaptic_events": 300, "neuron_updates": 96, "spikes": 9},
               per_layer={"fc1": {"synaptic_events": 300}, "lif1": {"neuron_updates": 96, "spikes": 9}},
               per_unit={f"core{i}": {"synaptic_events": 30 * (i + 1)} for i in range(6)},
               sim_time_s=T * 1e-3, extra={"units_used": {"chip": 1}, "unit_xy": {f"core{i}": (i % 3, i // 3) for i in range(6)}})
    return estimate(r, str(path), graph=g, inputs=x, labels=np.array([0, 1]))


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.imgs, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.refs += [v for k, v in a.items() if k in ("src", "href") and v]
        if tag == "img":
            self.imgs.append(a)
        self.scripts += tag in ("script", "link", "iframe")


def test_json_carries_the_numbers(tmp_path):
    rep = make_report(tmp_path)
    data = json.loads(report.render(rep, "json"))
    assert data["kind"] == "energy_report" and data["target"] == "toy"
    assert data["total"]["point"] == pytest.approx(rep.total.point)
    assert data["by_event"]["synaptic_events"]["coefficient"]["source"] == "paper A vs paper B"
    assert data["neurobench"]["SynapticOperations"]["Dense"] == 8 * 24
    assert data["baseline"]["devices"]["gpu_titan_black"]["ratio"]["point"] > 0
    assert data["accuracy"] is not None


def test_markdown_states_assumptions_and_sources(tmp_path):
    md = report.render(make_report(tmp_path), "md")
    for text in ("**Assumptions**", "voltage: 0.75 V", "not_counted: host I/O", "paper A vs paper B",
                 "| synaptic_events | 300 | 20 – 45 pJ/event |", "NeuroBench", "Conventional baseline",
                 "not priced (counted, no coefficient) | spikes", "### Per core / PE / tile"):
        assert text in md, text


def test_html_is_self_contained_with_its_figures(tmp_path):
    html = report.render(make_report(tmp_path), "html")
    tags = Tags()
    tags.feed(html)
    assert tags.scripts == 0
    assert not [r for r in tags.refs if not r.startswith("data:")]
    assert not re.search(r"https?://", html)
    alts = [i["alt"] for i in tags.imgs]
    assert alts == ["energy breakdown by event type", "per-layer activity", "per-unit utilization heatmap"]
    for img in tags.imgs:
        png = base64.b64decode(img["src"].split(",", 1)[1])
        pixels = mpimg.imread(io.BytesIO(png), format="png")
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100
        assert pixels[..., :3].std() > 0.05  # a drawn figure, not a blank canvas
    assert "0.75 V" in html and "Assumptions" in html


def test_comparison_lists_what_does_not_fit(tmp_path):
    rep = make_report(tmp_path)
    rows = [("toy", rep), ("tiny", "does not fit: design rule 'neurons_per_core' violated: needs 6, target has 4")]
    md = report.render(rows, "md")
    assert "| tiny | no |" in md and "neurons_per_core" in md and "# Energy estimate: toy" in md
    data = json.loads(report.render(rows, "json"))
    assert [t["fits"] for t in data["targets"]] == [True, False]
    html = report.render(rows, "html")
    assert html.count("<img") == 4  # the per-target comparison + the fitting target's three


def test_write_is_atomic(tmp_path):
    rep = make_report(tmp_path)
    out = report.write(rep, "md", tmp_path / "sub" / "r.md")
    assert out.read_text().startswith("# Energy estimate: toy")
    with pytest.raises(UsageError, match="not one of"):
        report.write(rep, "pdf", tmp_path / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["r.md"]
