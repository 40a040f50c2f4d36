"""The host/chip partition: which ops a target runs natively, emulates on its general-purpose
cores, or leaves to the host; host parts as ONNX graphs run with onnxruntime; the pipeline
host -> chip -> host run token by token, with what crosses the boundary counted (docs/host.md).

    split = partition(graph, backend, target_name, real_input=False)   # placement + segments
    export(graph, segment) -> HostPart                                  # one ONNX step graph
    compile_pipeline(graph, target, out_dir) ; Runner(out_dir).step(x) / .run(xs)
    split_table(split), energy(runner, manifest, device)                # report
"""
from .placement import EMULATED, HOST, NATIVE, Crossing, Placement, Segment, Split, partition
from .pipeline import Runner, chip_graph, compile_pipeline, is_pipeline, read_manifest

__all__ = ["EMULATED", "HOST", "NATIVE", "Crossing", "Placement", "Segment", "Split", "partition", "Runner",
           "chip_graph", "compile_pipeline", "is_pipeline", "read_manifest"]
