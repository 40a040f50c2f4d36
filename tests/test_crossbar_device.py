"""Device draws against their stated models (the formulas typed here from the target files' sourced
values, not read from the code): the normals every draw is built from, programming noise,
write-verify, stuck-at rates, finite levels, drift exponents, and reservoir weights drawn from the
devices."""
from __future__ import annotations

import nir
import numpy as np
import pytest
from scipy import stats

from neurodeploy import backend as bk
from neurodeploy import targets as tg
from neurodeploy.artifact import Artifact
from neurodeploy.backends.crossbar import device as dv
from neurodeploy.backends.crossbar import layout
from neurodeploy.backends.crossbar.mapping import device_params
from neurodeploy.ir.graph import Graph
from neurodeploy.semantics import Semantics

US = 1e-6
N = 200_000


def dev(name):
    return dv.Device.from_dict(device_params(tg.load(name))["device"])


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_normals_follow_the_standard_normal_law(dtype):
    n = 2_000_001  # odd: the last pair is cut
    z = dv.normals(np.random.default_rng(0), n, dtype)
    assert z.dtype == dtype and z.shape == (n,)
    zd = z.astype(np.float64)
    assert stats.kstest(zd, "norm").pvalue > 1e-3
    assert abs(zd.mean()) < 5 / np.sqrt(n) and zd.var() == pytest.approx(1, abs=5 * np.sqrt(2 / n))
    assert abs(stats.skew(zd)) < 5 * np.sqrt(6 / n) and abs(stats.kurtosis(zd)) < 5 * np.sqrt(24 / n)
    for q in (1e-4, 1e-3, 0.1, 0.5, 0.9, 0.999, 0.9999):  # quantiles, within 5 binomial sigmas
        k = np.sum(zd <= stats.norm.ppf(q))
        assert abs(k - q * n) < 5 * np.sqrt(n * q * (1 - q)) + 1, q
    # the two halves are the pairs' cosine and sine parts: uncorrelated, and z1^2 + z2^2 ~ Exp(mean 2)
    h = (n + 1) // 2
    a, b = zd[:h - 1], zd[h:]
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(h)
    assert stats.kstest(a * a + b * b, "expon", args=(0, 2)).pvalue > 1e-3
    assert np.abs(zd).max() <= np.sqrt(-2 * np.log(np.finfo(dtype).eps / 2)) + 1e-6


@pytest.mark.parametrize("g_us", (2.0, 12.5, 23.0))
def test_pcm_programming_noise_has_the_stated_sigma(g_us):
    x = g_us / 25.0
    sigma_us = 0.26348 + 1.9650 * x - 1.1731 * x * x  # aihwkit PCMLikeNoiseModel, crossbar.md §1
    g = dv.program(np.full(N, g_us * US), dev("crossbar-pcm"), np.random.default_rng(0)) / US
    assert g.mean() == pytest.approx(g_us, abs=4 * sigma_us / np.sqrt(N))
    assert g.std() == pytest.approx(sigma_us, rel=0.01)


@pytest.mark.parametrize("verify", (0, 1, 3))
def test_write_verify_leaves_the_expected_fraction_outside_tolerance(verify):
    d = dev("crossbar-rram")  # sigma 0.5 uS, tolerance 0.2 uS (targets/crossbar-rram.toml)
    p_out = 2 * stats.norm.sf(0.2 / 0.5)
    g = dv.program(np.full(N, 5 * US), d, np.random.default_rng(verify), verify=verify)
    frac = np.mean(np.abs(g - 5 * US) > 0.2 * US)
    expect = p_out ** (verify + 1)
    assert frac == pytest.approx(expect, abs=5 * np.sqrt(expect * (1 - expect) / N))


def test_stuck_at_rates_are_binomial():
    d = dev("crossbar-rram")  # 0.1 % off, 0.1 % on
    g, faults = dv.draw(np.full(N, 5 * US), d, ("faults",), 0.0, np.random.default_rng(0))
    for level in (1 * US, 10 * US):  # stuck off at g_min, stuck on at g_max
        k = int(np.sum(g == level))
        assert stats.binomtest(k, N, 0.001).pvalue > 1e-3
    assert faults == np.sum(g != 5 * US) and np.all((g == 5 * US) | (g == 1 * US) | (g == 10 * US))


def test_pcm_drift_exponents_follow_the_folded_normal():
    g = np.full(N, 5 * US)
    nu = dv.drift_exponents(g, dev("crossbar-pcm"), np.random.default_rng(0))
    mu = np.clip(-0.0155 * np.log(0.2) + 0.0244, 0.049, 0.1)
    sd = np.clip(-0.0125 * np.log(0.2) - 0.0059, 0.008, 0.045)
    expect = stats.foldnorm(mu / sd, scale=sd)
    assert nu.mean() == pytest.approx(expect.mean(), rel=0.005)
    assert nu.std() == pytest.approx(expect.std(), rel=0.01)
    drifted = dv.drift(g, nu, 3600.0, dev("crossbar-pcm"))
    assert np.allclose(drifted, g * (3620.0 / 20.0) ** -nu)


def layer_graph(w, neuron="n") -> Graph:
    n, m = w.shape
    nodes = {"in": nir.Input(input_type={"input": np.array([m])}),
             "w": nir.Affine(weight=w, bias=np.zeros(n)),
             neuron: nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n),
                             v_reset=np.zeros(n)),
             "out": nir.Output(output_type={"output": np.array([n])})}
    return Graph(nodes, [("in", "w"), ("w", neuron), (neuron, "out")],
                 {"in": (m,), "w": (m,), neuron: (n,), "out": (n,)},
                 {"in": (m,), "w": (n,), neuron: (n,), "out": (n,)}, semantics=Semantics())


def test_levels_are_on_the_grid_and_rounding_is_at_most_half_a_step(tmp_path):
    w = np.random.default_rng(0).normal(size=(30, 50))
    art = bk.compile(layer_graph(w), "crossbar-rram", tmp_path / "a", options={"weight_scaling": "per_layer"})
    spec, arrays = layout.read(Artifact(art.path))
    step = (10 - 1) / 15 * US  # (g_max - g_min) / (levels - 1)
    for key in ("n.gp", "n.gn"):
        k = (arrays[key] - 1 * US) / step
        assert np.allclose(k, np.rint(k), atol=1e-4) and k.min() > -1e-4 and k.max() < 15 + 1e-4
    w_step = np.abs(w).max() / 15
    q = np.rint((arrays["n.gp"].astype(float) - arrays["n.gn"]) / step)
    assert np.all(np.abs(q.T * w_step - w) <= w_step / 2 + 1e-9)


def test_reservoir_weights_are_the_device_draw(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(200, 200)) * (rng.random((200, 200)) < 0.3)
    opts = {"reservoir": "n", "seed": "7"}
    a = bk.compile(layer_graph(w), "crossbar-rram", tmp_path / "a", options=opts)
    b = bk.compile(layer_graph(w), "crossbar-rram", tmp_path / "b", options=opts)
    c = bk.compile(layer_graph(w), "crossbar-rram", tmp_path / "c", options={**opts, "seed": "8"})
    read = lambda p: layout.read(Artifact(p))[1]  # noqa: E731
    ra, rb, rc = read(a.path), read(b.path), read(c.path)
    assert np.array_equal(ra["n.gp"], rb["n.gp"]) and not np.array_equal(ra["n.gp"], rc["n.gp"])
    g = np.where(w.T > 0, ra["n.gp"], ra["n.gn"])[w.T != 0] / US
    # one unverified pulse to the middle (5.5 uS) with the RRAM spread (0.5 uS)
    assert g.mean() == pytest.approx(5.5, abs=4 * 0.5 / np.sqrt(g.size))
    assert g.std() == pytest.approx(0.5, rel=0.03)
    assert stats.kstest(g, stats.norm(5.5, 0.5).cdf).pvalue > 1e-3
    q = bk.get("crossbar").quantized_graph(Artifact(a.path)).nodes["w"].weight
    assert np.array_equal(np.sign(q), np.sign(w))  # the graph gives connectivity and signs
    assert np.abs(q[w != 0]).mean() == pytest.approx(np.abs(w[w != 0]).mean(), rel=1e-9)


@pytest.mark.parametrize("name", ("crossbar-pcm", "crossbar-rram"))
@pytest.mark.parametrize("frac", (0.0, 0.08, 0.5, 0.92))
def test_expected_conductance_is_the_mean_of_draws(name, frac):
    """device.expected (closed forms: where the IR-drop kernels are linearised) against the mean of
    200,000 cells drawn with every random effect, one hour after programming."""
    d = dev(name)
    eff = ("programming", "faults", "drift", "read_noise")
    g_t = np.full(N, d.g_min + frac * (d.g_max - d.g_min))
    g, _ = dv.draw(g_t, d, eff, 3600.0, np.random.default_rng(7))
    want = dv.expected(g_t[:1], d, eff, 3600.0)[0]
    assert want == pytest.approx(g.mean(), abs=5 * g.std() / np.sqrt(N) + 1e-4 * d.g_max)
