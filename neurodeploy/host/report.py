"""What the `--report` of a split model shows, and a token's energy as chip + host + link.

Host energy is the dense conventional baseline (targets/baselines/conventional.toml, the same
figures `neurodeploy.energy.baseline` uses): a host runs every weight of its segments every step
(one MAC each) and every neuron update. Chip energy is the target's own model
(`neurodeploy.energy.estimate`) on the chip engine's counters. The link is not priced: no sourced
energy per bit for a host link is in the target files, so only the crossing events are counted.
"""
from __future__ import annotations

from rich.table import Table

from .. import energy as en
from .. import targets as tg
from ..energy.baseline import BASELINE_FILE
from ..energy.model import PJ, Joules

DEFAULT_DEVICE = "cpu_i7_4960x"


def split_table(manifest: dict, types: dict[str, str] | None = None) -> Table:
    """Each node: where it runs on the target and why; then what crosses the boundary."""
    t = Table(title=f"host/chip split for {manifest['target']}")
    for col in ("segment", "node", "type", "runs", "why"):
        t.add_column(col)
    seg_of = {n: s for s in manifest["segments"] for n in s["nodes"]}
    for n, (where, why) in manifest["placement"].items():
        s = seg_of[n]
        t.add_row(f"{s['index']} ({s['side']})", n, (types or {}).get(n, ""), where, why)
    crossing = "; ".join(f"{a}->{b}: {kind} x{w}" for a, b, kind, w in manifest["crossings"]) or "none"
    t.caption = f"crossing per step: {crossing}"
    return t


def _device(device: str):
    spec = tg.load(str(BASELINE_FILE))
    if device not in spec.get("devices"):
        from ..errors import UsageError

        raise UsageError(f"no host device {device!r} in {BASELINE_FILE.name}",
                         hint=f"devices: {', '.join(spec.get('devices'))}")
    return spec.q(f"devices.{device}.mac"), spec.q(f"devices.{device}.neuron_update")


def host_energy(manifest: dict, samples_steps: int, device: str = DEFAULT_DEVICE) -> tuple[Joules, dict]:
    """Dense energy of the host segments over `samples_steps` sample-steps, and what was counted."""
    mac, upd = _device(device)
    macs = sum(s.get("macs_per_step", 0) for s in manifest["segments"]) * samples_steps
    ups = sum(s.get("neuron_updates_per_step", 0) for s in manifest["segments"]) * samples_steps
    j = Joules(*(macs * getattr(mac, k) * PJ[mac.unit] + ups * getattr(upd, k) * PJ[upd.unit]
                 for k in ("low", "value", "high")))
    return j, {"macs": macs, "neuron_updates": ups, "device": device, "mac_source": mac.source}


def token_energy(runner, device: str = DEFAULT_DEVICE) -> dict:
    """Energy of the steps `runner` ran, per token (sample-step): chip + host (+ link, unpriced).
    The chip figures come from each chip segment's last engine run, which covers every step."""
    steps = runner.crossed.steps * runner.batch
    chip, chip_counts = Joules(), {}
    for part in runner.parts:
        res = getattr(part, "result", None)
        if res is not None:
            rep = en.estimate(res, runner.m["target"], per="token")
            chip = chip + rep.total
            for k in ("synaptic_events", "macs", "neuron_updates", "spikes", "cycles"):
                chip_counts[k] = chip_counts.get(k, 0) + float(res.counters.get(k, 0))
    host, host_counts = host_energy(runner.m, steps, device)
    total = chip + host
    return {"tokens": steps, "chip": chip / steps, "host": host / steps, "total": total / steps,
            "chip_counters": {k: v / steps for k, v in chip_counts.items()},
            "host_counters": {k: v / steps if isinstance(v, (int, float)) else v for k, v in host_counts.items()},
            "crossing_per_token": {"spikes": runner.crossed.spikes / steps, "values": runner.crossed.values / steps},
            "link": "not priced (no sourced energy per bit for the host link); crossing events counted"}
