"""The plastic-network part of a SpiNNaker 2 artifact (PyNN networks: current-based LIF
populations, delayed projections, pair STDP), shared by plasticity.py (compile) and
plastic_kernel.py (simulate).

``plastic.json``: populations (name, size, kind ``lif_curr_exp``/``spike_list``, PE slices, float32
neuron coefficients as lists), projections (pre, post, delay ticks, word format, LSB in the
post population's current unit, plastic rule), the cost model, tick and clock.
``plastic.npz``: ``<projection>/w`` the integer weight words (post x pre; uint8 static, uint16
plastic), the matrix the PEs' synaptic rows hold (a zero word is no synapse for static rows).

Weight words: static rows use the 16-bit word's 4-bit magnitude + type bit (``weight_max_4bit``),
plastic rows a 16-bit magnitude half-word per synapse (``weight_max_plastic``, sPyNNaker's plastic
row layout): the learning rule's small steps need it, 4 or 8 bits would round most of them away. A word's value is word x LSB, LSB = a power of two per (post
population, receptor type) (sPyNNaker's ring-buffer left shift), the smallest that holds the
largest weight of that type: rounding to nearest, saturation never needed by construction.
"""
ROLE = "format"

SPEC = "plastic.json"
ARRAYS = "plastic.npz"
COST_KEYS = ("tick_overhead", "neuron_update_lif_curr_exp", "neuron_update_spike_list", "synaptic_event",
             "packet_received", "packet_sent", "stdp_trace_update", "stdp_synapse_update")


def key(projection: str) -> str:
    return f"{projection}/w"
