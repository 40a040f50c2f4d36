"""Whole blocks on SpiNNaker 2's Arm cores: the artifact layout shared by cores.py (compile) and
cores_kernel.py (simulate).

``cores.json``: semantics, nodes in evaluation order ({name, type, shape, pes, fields}), edges,
the cost model; ``cores.npz``: each node's array parameters as float32 (``<node>/<field>``), the
format the M4F's single-precision FPU computes in.
"""
from __future__ import annotations

ROLE = "format"
SPEC = "cores.json"
ARRAYS = "cores.npz"
WORD_BYTES = 4  # format: float32 parameters and state
CORE_TYPES = ("LayerNorm", "RWKVTimeMix", "RWKVChannelMix")  # dialect types emulated on the cores
PLAIN_TYPES = ("Input", "Output", "LIF", "IF", "LI", "Scale", "Affine", "Linear")  # NIR types the block kernels run
NIR_FIELDS = {"LIF": ("tau", "r", "v_leak", "v_threshold"), "IF": ("r", "v_threshold"), "LI": ("tau", "r", "v_leak"),
              "Scale": ("scale",), "Affine": ("weight", "bias"), "Linear": ("weight",)}
COST_KEYS = ("tick_overhead", "packet_received", "packet_sent", "fp32_mac", "fp32_op", "fp32_div", "exp_cycles",
             "neuron_update_lif")


def key(node: str, field: str) -> str:
    return f"{node}/{field}"
