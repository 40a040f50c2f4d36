"""Lowering shared by every backend: what a chip's synapses, neurons and integer weights are made of.

Each backend maps the results onto its own hardware; none re-derives them (issue #8, part 3).

Synapse chains (`fold`):
    Folder(graph, unsupported=...)          one graph; each linear node's map computed once
      .paths(neuron) -> [Path(source, ops)] every chain of linear nodes from a spike source
      .matrix(ops) -> csr (out, in)          a chain folded into one float64 matrix
      .neuron_bias(neuron) -> ndarray        constant input, every linear node's bias counted once
      .drive(neuron) -> Drive(matrices: {source: csr}, bias)   chains summed per source
    linear_map(graph, name)                  (matrix, bias) of one Affine/Linear/Conv1d/Conv2d/
                                             SumPool2d/AvgPool2d/Scale/Flatten node; node_matrix and
                                             node_bias give one of the two
    conv2d_matrix(w, in_shape, stride, padding, dilation, groups), pool2d_matrix(...), to_csr(w)
    LINEAR, WEIGHTS, is_source(node)

Neurons (`neurons`):
    coefficients(graph, name) -> Coefficients     the reference's own update (sim.neurons.discretise)
    current_first(coefficients) -> CurrentFirst   the same neuron for chips whose current-based
        model adds the *updated* current to v: a_m, a_s, c, taps t0/t1 (t1 != 0 only for the exact
        CubaLIF: a second synapse one step later makes it exact), single_tap, bias_gain

Integer weights (`scale`):
    row_scales(peak, w_max, mode, fixed), row_peaks(m)       per_neuron | per_layer | none | fixed
    quantize_rows(csr, scale, w_max, rounding) -> (int csr, Rounded(q, peak, stats))
    round_scaled(w, s, w_max, rounding, scales) -> Rounded   any array (e.g. a conv kernel per channel)
    error_stats(...): rel_rms_error, max_abs_error, scale_min, scale_max, zeroed
    scale_rows(csr, f), with_data(csr, data)                 row scaling keeping the sparsity pattern

Semantics a target supports (`support`):
    Support(backend, values={field: allowed | None}, neurons=(types), per_type={type: {field: allowed}})
    check(graph, support)       raises UnsupportedSemantics; fields not declared must keep defaults
"""
from __future__ import annotations

from .fold import (LINEAR, WEIGHTS, Drive, Folder, Path, conv2d_matrix, is_source, linear_map, node_bias,
                   node_matrix, pool2d_matrix, to_csr)
from .neurons import CurrentFirst, coefficients, current_first
from .scale import (Rounded, error_stats, quantize_rows, round_scaled, row_peaks, row_scales, scale_rows,
                    with_data)
from .support import Support, check

__all__ = ["LINEAR", "WEIGHTS", "Drive", "Folder", "Path", "conv2d_matrix", "is_source", "linear_map", "node_bias",
           "node_matrix",
           "pool2d_matrix", "to_csr", "CurrentFirst", "coefficients", "current_first", "Rounded", "error_stats",
           "quantize_rows", "round_scaled", "row_peaks", "row_scales", "scale_rows", "with_data", "Support",
           "check"]
