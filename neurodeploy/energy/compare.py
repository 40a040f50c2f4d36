"""One model, every target (`neurodeploy energy MODEL --target all`), and an artifact's report.

Target-independent figures (NeuroBench metrics, the dense CPU/GPU baseline) come from the exact
float reference run of the same graph and inputs, recorded at every neuron; the energy of each
target comes from that target's own simulator counters. A target the model does not fit appears
with the design rule it breaks instead of a number.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .. import artifact as art
from .. import backend as bk
from .. import targets as tg
from ..errors import ResourceExceeded, TargetError, UnsupportedNode, UsageError
from ..ir.graph import Graph
from ..result import Result
from .model import EnergyReport, estimate


def reference_run(graph: Graph, inputs, steps=None) -> Result:
    from ..sim.reference import simulate

    return simulate(graph, inputs, steps=steps, record=graph.neurons())


def _output_sources(graph: Graph) -> list[str]:
    return sorted({p for o in graph.outputs for p in graph.predecessors(o)})


def _estimate_run(artifact_dir, target, graph: Graph | None, inputs, steps, labels, ref: Result | None
                  ) -> EnergyReport:
    record = _output_sources(graph) if graph is not None else []
    result = bk.run(artifact_dir, inputs, steps=steps, record=record)
    rep = estimate(result, target, graph=graph, inputs=inputs, activity=ref)
    if graph is not None and labels is not None:
        from .neurobench import accuracy

        on_target = all(n in result.spikes or n in result.v for n in record)
        rep.accuracy = accuracy(graph, result if on_target else ref, labels)
        if not on_target:
            rep.warnings.append("accuracy from the float reference: the target did not return the output trace")
    return rep


def compare_targets(graph: Graph, inputs, targets=None, steps=None, labels=None, options=None
                    ) -> list[tuple[str, EnergyReport | str]]:
    """Compile, run and estimate `graph` on each target (default: all in targets/*.toml).

    options: {target: {key: value}} backend options per target. A target that cannot take this
    model or run (a design rule, an unsupported node, a missing backend, a backend refusing the
    run as given) is listed with the reason instead of a number."""
    ref = reference_run(graph, inputs, steps)
    rows: list[tuple[str, EnergyReport | str]] = []
    for name in targets or tg.available():
        try:
            with tempfile.TemporaryDirectory(prefix="nd-energy-") as tmp:
                out, target = Path(tmp) / "artifact", tg.load(name)
                run_len = {"steps": str(steps or np.shape(inputs)[0])}
                bk.compile(graph, target, out, options={**run_len, **(options or {}).get(name, {})})
                rows.append((name, _estimate_run(out, target, graph, inputs, steps, labels, ref)))
        except ResourceExceeded as e:
            rows.append((name, f"does not fit: {e}"))
        except UnsupportedNode as e:
            rows.append((name, f"unsupported: {e}"))
        except TargetError as e:
            rows.append((name, f"not available: {e}"))
        except UsageError as e:
            rows.append((name, f"not run: {e}"))
    return rows


def artifact_graph(a: art.Artifact) -> Graph | None:
    """The normalized model an artifact carries for reporting (manifest key ``model``), if any."""
    rel = a.manifest.get("model")
    if not rel:
        return None
    from .. import ir
    from ..semantics import Semantics

    return ir.load(a.file(rel), semantics=Semantics.from_dict(a.manifest.get("semantics", {})))


def estimate_artifact(artifact_dir, inputs, *, steps=None, labels=None) -> EnergyReport:
    """Run an artifact on its target's simulator and price the counters; with the model inside
    the artifact, also NeuroBench metrics, the baseline and (with labels) accuracy."""
    a = art.Artifact(artifact_dir)
    graph = artifact_graph(a)
    ref = reference_run(graph, inputs, steps) if graph is not None else None
    rep = _estimate_run(artifact_dir, a.target, graph, inputs, steps, labels, ref)
    if graph is None:
        rep.warnings.append("the artifact carries no model (manifest key 'model'): "
                            "no NeuroBench metrics, baseline or accuracy")
    return rep
