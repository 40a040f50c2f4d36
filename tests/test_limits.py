"""Every limit of every target file has a named design rule that fires (issue #10, "22 networks over a
target limit ... 100 % exit 4 with the rule and needed vs available").

The limits are enumerated, not listed: `Target.limits()` of every file in targets/ (every quantity
under ``[limits]`` plus the widths the backend's target_schema.toml names in its ``[limits]`` table,
see neurodeploy/targets.py). A new target or backend is covered the moment its file exists. For each
(target, limit, rule) an over-limit network is built from that target's own numbers, compiled
through the CLI, and must exit 4 naming the rule with needed > available. The test fails when a
limit names no rule or has no over-limit network here.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import nir
import numpy as np
import pytest
import scipy.sparse as sp

from neurodeploy import cli, ir
from neurodeploy import targets as tg

DT = 1e-4
ROOT = Path(__file__).resolve().parent.parent
_NEEDS = re.compile(r"design rule '([^']+)' violated: needs ([-0-9.e+inf]+), target has ([-0-9.e+inf]+)")
# (backend or target, limit or rule) -> why it has no rule or network yet (strict xfail: the day it has, the
# xfail fails and the entry goes).
PENDING: dict[tuple[str, str], str] = {}  # a limit key, or a rule where one limit has several


def lif(n: int, tau: float = 20 * DT, v_th: float = 1.0) -> nir.LIF:
    return nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, v_th),
                   v_reset=np.zeros(n))


def chain(n_in: int, *layers) -> nir.NIRGraph:
    """Input(n_in) -> (weight node, neuron node) ... -> Output; a weight None means a direct edge."""
    nodes, edges, prev = {"in": nir.Input(input_type={"input": np.array([n_in])})}, [], "in"
    for i, (w, neuron) in enumerate(layers):
        if w is not None:
            nodes[f"w{i}"] = w
            edges.append((prev, f"w{i}"))
            prev = f"w{i}"
        nodes[f"n{i}"] = neuron
        edges.append((prev, f"n{i}"))
        prev = f"n{i}"
    nodes["out"] = nir.Output(output_type={"output": np.array([int(np.prod(nodes[prev].v_threshold.shape))])})
    edges.append((prev, "out"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def dense(rows: int, cols: int, w: float = 1.0, bias=None):
    m = np.full((rows, cols), w)
    return nir.Linear(weight=m) if bias is None else nir.Affine(weight=m, bias=np.full(rows, float(bias)))


def csr(rows: int, cols: int, per_row: int, w: float = 1.0) -> nir.Linear:
    """Row j connects to columns j, j+1, ... (mod cols): `per_row` synapses each, built without a dense copy."""
    idx = (np.arange(rows)[:, None] + np.arange(per_row)[None, :]) % cols
    m = sp.csr_array((np.full(rows * per_row, w), idx.ravel(), np.arange(rows + 1) * per_row), shape=(rows, cols))
    return nir.Linear(weight=m)


# ---- Loihi: numbers from the target (fixed point per neurodeploy's Lava mapping, backends/loihi/quantize.py)
def _loihi_cores(t):
    n = t.v("limits.neurons_per_core") * t.v("limits.cores_per_chip") * t.v("limits.chips") + 1
    return chain(n, (csr(n, n, 1, 2.0), lif(n))), {}


def _loihi_memory(t):
    """Every neuron at the largest fan-in: the cores fill by synaptic memory, not by neuron slots."""
    fan_in = t.v("limits.input_axons_per_core")
    per_core = t.v("limits.synapse_memory_per_core") * 8 // (t.v("fixed_point.weight_mant_bits") * fan_in)
    n = per_core * t.v("limits.cores_per_chip") * t.v("limits.chips") + 1
    assert n < t.v("limits.neurons_per_core") * t.v("limits.cores_per_chip") * t.v("limits.chips")
    return chain(fan_in, (csr(n, fan_in, fan_in, 0.01), lif(n))), {}


def _loihi_fan_in(t):
    f = t.v("limits.input_axons_per_core") + 1
    return chain(f, (dense(1, f, 0.01), lif(1))), {}


def _loihi_output_axons(t):
    """One core of `a` neurons, each reaching all `k` cores of the next layer."""
    k = t.v("limits.cores_per_chip") * t.v("limits.chips") // 2
    a = t.v("limits.output_axons_per_core") // k + 1
    b = k * t.v("limits.neurons_per_core")
    return chain(1, (dense(a, 1), lif(a)), (csr(b, a, 1), lif(b))), {}


def _delay_node(t):
    """A NIR Delay node one step over the target's delay field (issue #10: "delay 63 > max_delay")."""
    steps = t.v("limits.delay_max") + 1
    g = chain(4, (dense(4, 4), lif(4)))
    g.nodes["d"] = nir.Delay(delay=np.full(4, steps * DT))
    g.edges = [("in", "d"), ("d", "w0")] + [e for e in g.edges if e != ("in", "w0")]
    return g, {}


def _loihi_weight_exp(t):  # at the smallest threshold mantissa the weight needs 2**e > 2**weight_exp_max
    return chain(1, (dense(1, 1, 2.0 ** (t.v("fixed_point.weight_mant_bits") + t.v("fixed_point.weight_exp_max") + 8)),
                     lif(1))), {}


def _loihi_weight_mant(t):  # mapping=paper: weight_exp 0, w * 2**mant_bits (w_gain dt/tau = 0.05)
    return chain(1, (dense(1, 1, 2 / 0.05), lif(1))), {"mapping": "paper"}


def _loihi_state(t):  # 100 sources, each weight fits the exponent, their sum overflows the current register
    unit = 2 ** t.v("fixed_point.state_shift")
    w = 2 ** (t.v("fixed_point.state_bits") - 1) / unit / 50 / 0.05
    return chain(100, (dense(1, 100, w), lif(1))), {}


def _loihi_bias_exp(t):
    return chain(1, (dense(1, 1, 0.0, bias=1e9), lif(1))), {}


def _loihi_bias_mant(t):  # mapping=paper: bias mantissa at a fixed exponent
    return chain(1, (dense(1, 1, 0.0, bias=2.0 ** t.v("fixed_point.bias_mant_bits")), lif(1))), {"mapping": "paper"}


def _loihi_threshold(t):  # mapping=paper: vth = v_th * (2**vth_bits - 1) >> (vth_bits - weight_mant_bits)
    return chain(1, (dense(1, 1), lif(1, v_th=2.0 ** (t.v("fixed_point.vth_bits") + 1)))), {"mapping": "paper"}


def _loihi_decay(t):  # a decay per step below half an LSB of decay_bits
    return chain(1, (dense(1, 1), lif(1, tau=DT * 2.0 ** (t.v("fixed_point.decay_bits") + 4)))), {}


# ---- crossbar: tiles of tile.rows x tile.cols cells, two cells (a differential pair) per weight
def _crossbar_layer_tiles(t):
    cols = t.v("tile.cols") // 2 * (t.v("limits.tiles") + 1)
    return chain(1, (csr(cols, 1, 1, 0.5), lif(cols))), {}


def _crossbar_tiles(t):
    """Two layers, each within the tiles, together one over: tile.rows neurons, then the rest."""
    half = t.v("tile.cols") // 2
    n1 = t.v("tile.rows")
    t1 = -(-n1 // half)
    n2 = half * (t.v("limits.tiles") - t1 + 1)
    return chain(1, (csr(n1, 1, 1, 0.5), lif(n1)), (csr(n2, n1, 1, 0.5), lif(n2))), {}


# ---- FPGA (ZCU102 part), sized with backends/fpga/resources.py's model: LUTs grow with the lanes and
# with constant memories kept as logic, FFs with the spike bitmaps of layers that feed another (each
# at most design.max_signal_bits), block RAM with the state and parameter bits of deep layers.
NARROW = {"weight_bits": 2, "decay_bits": 4, "frac_bits": 2}


def varied_lif(n: int, seed: int = 0) -> nir.LIF:
    """LIF neurons whose time constant, leak (a bias) and threshold differ: no parameter column is a
    constant, so the parameter memory holds all of them."""
    rng = np.random.default_rng(seed)
    return nir.LIF(tau=DT * rng.uniform(10, 30, n), r=np.ones(n), v_leak=rng.uniform(-0.2, 0.2, n),
                   v_threshold=rng.uniform(0.5, 1.5, n), v_reset=np.zeros(n))


def _fpga_weight_bram(t):
    lanes, depth = t.v("design.lanes"), t.v("part.bram.width_36")
    n = lanes * depth // 4
    rows = (t.v("part.bram36") + 1) * depth // (n // lanes) + 1  # source neurons: rows x n/lanes words
    return chain(rows, (csr(n, rows, 1, 0.5), lif(n))), {"weight_bits": 8}


def _fpga_bram(t):  # v, acc and ~100 parameter bits per neuron at -O v_bits=40, in block RAM
    n = t.v("part.bram36") * 36 * 1024 // 100
    return chain(1, (csr(n, 1, 1, 0.5), varied_lif(n))), {"v_bits": 40}


def _fpga_lut(t):
    """Two layers side by side, each 1,000 lanes x 64 words (one LUT6 per bit of a 64-word constant
    memory): their parameter ROMs (every column varying) become logic. v_bits one below the DSP's A
    port keeps one DSP48E2 per lane (2,000 of the part's 2,520)."""
    lanes = 1000
    n = t.v("estimate.lut_bits") * lanes
    nodes, edges = {"in": nir.Input(input_type={"input": np.array([1])})}, []
    for i in range(2):
        nodes.update({f"w{i}": csr(n, 1, 1, 0.5), f"n{i}": varied_lif(n, seed=i),
                      f"o{i}": nir.Output(output_type={"output": np.array([n])})})
        edges += [("in", f"w{i}"), (f"w{i}", f"n{i}"), (f"n{i}", f"o{i}")]
    return (nir.NIRGraph(nodes=nodes, edges=edges, type_check=False),
            {**NARROW, "lanes": lanes, "v_bits": t.v("part.dsp_a_bits") - 1})


def _fpga_ff(t):
    """Layers of one full spike bitmap each (design.max_signal_bits neurons), all feeding one neuron:
    their bitmaps are registers, one more layer than the flip-flops hold."""
    big, k = t.v("design.max_signal_bits"), t.v("part.ffs") // t.v("design.max_signal_bits") + 1
    nodes = {"in": nir.Input(input_type={"input": np.array([1])}), "sink": lif(1),
             "out": nir.Output(output_type={"output": np.array([1])})}
    edges = [("sink", "out")]
    for i in range(k):
        nodes.update({f"w{i}": csr(big, 1, 1, 0.5), f"n{i}": lif(big), f"s{i}": csr(1, big, 1, 0.5)})
        edges += [("in", f"w{i}"), (f"w{i}", f"n{i}"), (f"n{i}", f"s{i}"), (f"s{i}", "sink")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), {**NARROW, "lanes": 8}


# ---- SpiNNaker 2: -O weight_scaling=none keeps the weights as given; conn_delay is the synapse delay
def _s2_weight_int8(t):
    return chain(2, (dense(2, 2, t.v("limits.weight_max_int8") + 1.0), lif(2))), {"weight_scaling": "none"}


def _s2_weight_4bit(t):  # conn_delay >= 1: the 16-bit synapse word with its 4-bit weight
    return chain(2, (dense(2, 2, t.v("limits.weight_max_4bit") + 1.0), lif(2))), {"weight_scaling": "none",
                                                                                  "conn_delay": 1}


def _s2_over(pes: int, t):
    """One neuron per PE, one PE more than `pes` per chip on all the target's chips (a board target:
    one board, -O boards=1)."""
    board = "geometry.chips_per_board" in t.quantities
    n = pes * t.v("geometry.chips_x") * t.v("geometry.chips_y") + 1
    return chain(1, (csr(n, 1, 1), lif(n))), {"max_atoms_per_core": 1, **({"boards": 1} if board else {})}


def _s2_pes(t):
    return _s2_over(t.v("limits.usable_pes"), t)


def _s2_chip_pes(t):
    return _s2_over(t.v("limits.pes"), t)


def _s2_qpes(t):
    return _s2_over(t.v("limits.qpes") * t.v("geometry.pes_per_qpe"), t)


SHORT = {"steps": 10}  # the outputs' recording (spikes and v per tick) stays small beside a full PE


def _s2_atoms(model: str, t) -> tuple[nir.NIRGraph, dict]:
    """`-O max_atoms_per_core` one over the model's limit: LIF -> lif_no_delay (lif with conn_delay 1),
    CubaLIF with conn_delay 1 -> lif_curr_exp, its input -> spike_list."""
    n = t.v(f"limits.max_atoms_{model}") + 1
    if model == "lif_curr_exp":
        cuba = nir.CubaLIF(tau_syn=np.full(n, 5 * DT), tau_mem=np.full(n, 20 * DT), r=np.ones(n), v_leak=np.zeros(n),
                           v_threshold=np.ones(n), v_reset=np.zeros(n))
        return chain(1, (csr(n, 1, 1), cuba)), {"max_atoms_per_core": f"n0:{n}", "conn_delay": 1, **SHORT}
    if model == "spike_list":
        return chain(n, (csr(1, n, n), lif(1))), {"max_atoms_per_core": f"in:{n}"}
    return chain(1, (csr(n, 1, 1), lif(n))), {"max_atoms_per_core": f"n0:{n}", **SHORT,
                                             **({"conn_delay": 1} if model == "lif" else {})}


def _s2_atoms_lif(t):
    return _s2_atoms("lif", t)


def _s2_atoms_nd(t):
    return _s2_atoms("lif_no_delay", t)


def _s2_atoms_ce(t):
    return _s2_atoms("lif_curr_exp", t)


def _s2_atoms_sl(t):
    return _s2_atoms("spike_list", t)


def _s2_atoms_conv(t):
    """A 1x1 convolution onto a lif_conv2d population of side x side > max_atoms_lif_conv2d atoms on one PE."""
    side = int(np.ceil(np.sqrt(t.v("limits.max_atoms_lif_conv2d") + 1)))
    shape = np.array([1, side, side])
    neuron = nir.LIF(tau=np.full(shape, 20 * DT), r=np.ones(shape), v_leak=np.zeros(shape),
                     v_threshold=np.ones(shape), v_reset=np.zeros(shape))
    nodes = {"in": nir.Input(input_type={"input": shape}),
             "w0": nir.Conv2d(input_shape=(side, side), weight=np.ones((1, 1, 1, 1)), stride=1, padding=0, dilation=1,
                              groups=1, bias=np.zeros(1)),
             "n0": neuron, "out": nir.Output(output_type={"output": shape})}
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "w0"), ("w0", "n0"), ("n0", "out")], type_check=False)
    return g, {"max_atoms_per_core": f"n0:{side * side}", **SHORT}


def _s2_targets(t):  # the 8-bit target field of the synapse word: one more neuron on a PE than it indexes
    n = t.v("limits.targets_per_pe") + 1
    return chain(1, (csr(n, 1, 1), lif(n))), {"max_atoms_per_core": f"n0:{n}", **SHORT}


def _s2_row_length(t):
    """Parallel projections from one source into one PE, -O atoms_per_core fixing a full PE (else the
    partitioner slices finer): its row holds all their synapses (16-bit words)."""
    n, words = t.v("limits.max_atoms_lif_no_delay"), t.v("limits.row_length_words")
    k = 2 * words // n + 1  # k * n half-words > 2 * row_length_words
    g = chain(1, (csr(n, 1, 1), lif(n)))
    for i in range(1, k):
        g.nodes[f"p{i}"] = csr(n, 1, 1)
        g.edges += [("in", f"p{i}"), (f"p{i}", "n0")]
    return g, {"atoms_per_core": f"n0:{n}", **SHORT}


def _s2_dtcm(t):
    """One neuron recording spikes and membrane (5 words per tick) for longer than the DTCM window holds."""
    words = (t.v("limits.dtcm_per_pe") - t.v("limits.stack_heap_per_pe")) // 4
    return chain(1, (dense(1, 1), lif(1))), {"steps": words // 5 + 1}


def _s2_weight_min(t):
    return chain(2, (dense(2, 2, t.v("limits.weight_min_int8") - 1.0), lif(2))), {"weight_scaling": "none"}


def _s2_plastic(t):
    """A PyNN STDP projection whose initial weight is twice the rule's w_max: the word's LSB holds w_max
    in weight_max_plastic steps (a power of two, so under 2 w_max / weight_max_plastic), so 2 w_max needs
    a larger word. PyNN cells reset to v_reset (the plastic kernel's only reset)."""
    import neurodeploy.pynn as sim
    from neurodeploy.pynn import build

    cell = dict(cm=0.27, tau_m=3.0, tau_syn_E=0.3, tau_syn_I=0.3, tau_refrac=1.0, v_rest=-60.0, v_reset=-60.0,
                v_thresh=-57.0, i_offset=0.0)
    sim.setup(timestep=1.0)
    try:
        pre = sim.Population(2, sim.SpikeSourceArray(spike_times=[[1.0], [2.0]]), label="pre")
        post = sim.Population(2, sim.IF_curr_exp(**cell), label="post")
        stdp = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(tau_plus=3.0, tau_minus=3.0, A_plus=0.05,
                                                                     A_minus=0.06),
                                 weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=1.0), weight=2.0,
                                 delay=1.0)
        sim.Projection(pre, post, sim.AllToAllConnector(), stdp, label="plastic")
        graph = ir.normalize(*build.for_reference(sim.export_graph()))
    finally:
        sim.end()
    return graph, {"--reset": "v_reset"}


def _s2_router(t):
    """Sources filling whole chips, one PE each, all feeding one chip's 16 QPEs with neighbouring keys
    on different QPEs (no two entries merge): one entry per source there, router_entries + some."""
    per_chip = t.v("limits.usable_pes")
    n = per_chip * -(-(t.v("limits.router_entries") + 1) // per_chip)
    qpes, pe = 16, t.v("geometry.pes_per_qpe")
    src = np.arange(n)
    m = sp.csr_array((np.ones(n), (src % qpes * pe, src)), shape=(qpes * pe, n))  # source s -> QPE s mod 16
    return chain(n, (nir.Linear(weight=m), lif(qpes * pe))), {"max_atoms_per_core": 1}


# (backend, rule) -> builder; (backend, limit key) overrides it where one rule guards several limits.
BUILDERS = {
    ("loihi", "loihi.cores"): _loihi_cores, ("loihi", "limits.synapse_memory_per_core"): _loihi_memory,
    ("loihi", "loihi.fan_in_per_neuron"): _loihi_fan_in, ("loihi", "loihi.output_axons_per_core"): _loihi_output_axons,
    ("loihi", "loihi.delay"): _delay_node, ("loihi", "loihi.weight_exp"): _loihi_weight_exp,
    ("loihi", "loihi.weight_mant"): _loihi_weight_mant, ("loihi", "loihi.state_bits"): _loihi_state,
    ("loihi", "loihi.bias_exp"): _loihi_bias_exp, ("loihi", "loihi.bias_mant"): _loihi_bias_mant,
    ("loihi", "loihi.threshold"): _loihi_threshold, ("loihi", "loihi.decay"): _loihi_decay,
    ("crossbar", "crossbar_tiles_per_layer"): _crossbar_layer_tiles, ("crossbar", "crossbar_tiles"): _crossbar_tiles,
    ("fpga", "bram36_weights"): _fpga_weight_bram, ("fpga", "bram36"): _fpga_bram, ("fpga", "lut"): _fpga_lut,
    ("fpga", "ff"): _fpga_ff,
    ("spinnaker2", "limits.weight_max_int8"): _s2_weight_int8, ("spinnaker2", "limits.weight_max_4bit"): _s2_weight_4bit,
    ("spinnaker2", "delay range"): _delay_node, ("spinnaker2", "PEs"): _s2_pes,
    ("spinnaker2", "limits.pes"): _s2_chip_pes, ("spinnaker2", "limits.qpes"): _s2_qpes,
    ("spinnaker2", "neurons per PE (lif)"): _s2_atoms_lif, ("spinnaker2", "neurons per PE (lif_no_delay)"): _s2_atoms_nd,
    ("spinnaker2", "neurons per PE (lif_curr_exp)"): _s2_atoms_ce, ("spinnaker2", "neurons per PE (spike_list)"): _s2_atoms_sl,
    ("spinnaker2", "neurons per PE (lif_conv2d)"): _s2_atoms_conv, ("spinnaker2", "synapse targets per PE"): _s2_targets,
    ("spinnaker2", "synaptic row length (words)"): _s2_row_length, ("spinnaker2", "SRAM per PE (bytes)"): _s2_dtcm,
    ("spinnaker2", "weight range (negative)"): _s2_weight_min, ("spinnaker2", "router entries per chip"): _s2_router,
    ("spinnaker2", "plastic weight range"): _s2_plastic,
}
# ~16 M synapses (the memory of every core, plus one neuron); FPGA layers of 10^5 neurons calibrated
SLOW = {"limits.synapse_memory_per_core", "part.luts", "part.ffs", "part.bram36"}


def _cases():
    for name in tg.available():
        t = tg.load(name)
        for key, rules in t.limits().items():
            for rule in rules or (None,):
                marks = [pytest.mark.slow] if key in SLOW and rule != "bram36_weights" else []
                why = PENDING.get((name, key)) or PENDING.get((t.backend, key)) or PENDING.get((t.backend, rule))
                if why:
                    marks.append(pytest.mark.xfail(strict=True, reason=why))
                yield pytest.param(name, key, rule, id=f"{name}:{key}:{rule}", marks=marks)


@functools.lru_cache(maxsize=None)
def _compile(target: str, builder, tmp: Path) -> tuple[int, str]:
    """(exit code, stderr) of `neurodeploy compile` on the builder's network (shared by limits of one rule)."""
    graph, options = builder(tg.load(target))
    model = tmp / f"{target}-{builder.__name__}.nir"
    ir.write(model, graph)
    argv = ["compile", str(model), "--target", target, "-o", str(tmp / f"{model.stem}.art")]
    for k, v in {"--reset": "zero", **options}.items():  # "--flag" keys are compile flags, the rest -O options
        argv += [k, str(v)] if k.startswith("--") else ["-O", f"{k}={v}"]
    import contextlib
    import io

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = cli.main(argv)
    return code, stderr.getvalue()


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("limits")


@pytest.mark.parametrize("target, key, rule", list(_cases()))
def test_every_limit_has_a_rule_that_fires(target, key, rule, tmp):
    backend = tg.load(target).backend
    assert rule, f"{target}: limit {key} names no design rule ([limits] in backends/{backend}/target_schema.toml)"
    builder = BUILDERS.get((backend, key)) or BUILDERS.get((backend, rule))
    assert builder, f"{target}: no over-limit network for {key} (rule {rule!r}) in tests/test_limits.py"
    code, err = _compile(target, builder, tmp)
    found = _NEEDS.search(err)
    assert code == 4 and found, f"{target} {key}: exit {code}, {err.strip()}"
    assert found.group(1) == rule, f"{target} {key}: rule {found.group(1)!r} fired, not {rule!r}"
    assert float(found.group(2)) > float(found.group(3))
