"""The ``--report`` view of an FPGA artifact: formats and their error, resources against the part,
cycles per step, latency, throughput and energy per inference (from the manifest)."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table

from neurodeploy.artifact import Artifact

ROLE = "format"  # reads the manifest only
MEGA, MICRO = 1e6, 1e-6  # format: display units MHz, us


def render(artifact: Artifact) -> Group:
    m = artifact.manifest["fpga"]
    fmt = Table(title=f"{artifact.target} ({m['part']}): fixed-point formats and their error")
    for col in ("layer", "weights: rel. RMS error", "v LSB", "decay err", "threshold err",
                "current j: decay / gain / bias err", "exp table rel. err"):
        fmt.add_column(col)
    for name, f in m["formats"].items():
        w = ", ".join(f"{src}: {e['rel_rms_error']:.2%}" for src, e in f["weights"].items())
        j = " / ".join(f"{f[f'current_{k}_max_abs_error']:.2g}" for k in ("decay", "gain", "bias")) \
            if "current_decay_max_abs_error" in f else "-"  # CubaLIF layers only
        fmt.add_row(name, w, f"{f.get('v_lsb', f.get('value_lsb', 0)):.3g}", f"{f.get('decay_max_abs_error', 0):.2g}",
                    f"{f.get('theta_max_abs_error', 0):.2g}", j, f"{f.get('transfer_max_rel_error', 0):.2%}")
    res = Table(title="resources (structural estimate)")
    for col in ("unit", "BRAM36", "DSP48E2", "LUT", "FF"):
        res.add_column(col, justify="right")
    for name, r in [*m["resources"]["layers"].items(), ("total", m["resources"]["total"])]:
        res.add_row(name, *(str(r[k]) for k in ("bram36", "dsp", "lut", "ff")))
    p = m["performance"]
    lines = (f"clock {m['clock_hz'] / MEGA:g} MHz; cycles/step mean {p['cycles_per_step_mean']:.1f} "
             f"(max {p['cycles_per_step_max']}); latency/step {p['latency_per_step_s'] / MICRO:.3g} us; "
             f"throughput {p['throughput_steps_per_s']:.4g} steps/s; energy/inference "
             f"{p['energy_per_inference_J'][0]:.3g} J ({p['synaptic_events_per_inference']:.0f} synaptic events "
             f"x the paper's per-event energy) on the calibration inputs")
    return Group(fmt, res, lines)
