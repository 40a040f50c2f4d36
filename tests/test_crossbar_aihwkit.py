"""The PCM device draws against IBM aihwkit's PCMLikeNoiseModel on the same conductances.

aihwkit is optional: `pip install --no-deps aihwkit==1.1.0` (the cp311 wheel imports next to
torch 2.13; see /work/shared/reference/crossbar.md). Tolerance: for each of five target
conductances, 100k draws from each side; means agree within 4 standard errors of the difference,
standard deviations within 2 %, the 5/50/95 % quantiles within 3 % of the spread (plus 0.01 uS), and
a two-sample Kolmogorov-Smirnov test does not reject at p = 1e-3.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurodeploy import targets as tg
from neurodeploy.backends.crossbar import device as dv
from neurodeploy.backends.crossbar.mapping import device_params

pcm = pytest.importorskip("aihwkit.inference.noise.pcm", reason="aihwkit not installed: pip install --no-deps "
                          "aihwkit==1.1.0 (needs torch 2.13 already installed)")
torch = pytest.importorskip("torch")

US = 1e-6
N = 100_000
TARGETS_US = (0.5, 3.0, 8.0, 15.0, 24.0)


@pytest.fixture(scope="module")
def device():
    return dv.Device.from_dict(device_params(tg.load("crossbar-pcm"))["device"])


@pytest.fixture(scope="module")
def model():
    return pcm.PCMLikeNoiseModel()


def same(ours_us: np.ndarray, theirs_us: np.ndarray):
    sd = theirs_us.std()
    se = np.sqrt(ours_us.var() / ours_us.size + theirs_us.var() / theirs_us.size)
    assert abs(ours_us.mean() - theirs_us.mean()) < 4 * se + 1e-9
    assert ours_us.std() == pytest.approx(sd, rel=0.02)
    for q in (0.05, 0.5, 0.95):
        assert abs(np.quantile(ours_us, q) - np.quantile(theirs_us, q)) < 0.03 * sd + 0.01
    assert stats.ks_2samp(ours_us, theirs_us).pvalue > 1e-3


@pytest.mark.parametrize("g_us", TARGETS_US)
def test_programming_noise_matches_aihwkit(device, model, g_us):
    torch.manual_seed(0)
    theirs = model.apply_programming_noise_to_conductance(torch.full((N,), g_us, dtype=torch.float64)).numpy()
    ours = dv.program(np.full(N, g_us * US), device, np.random.default_rng(1)) / US
    same(ours, theirs)


@pytest.mark.parametrize("g_us", TARGETS_US)
@pytest.mark.parametrize("t_inf", (0.0, 3600.0, 86400.0 * 30))
def test_drift_and_read_noise_match_aihwkit(device, model, g_us, t_inf):
    torch.manual_seed(2)
    g = torch.full((N,), g_us, dtype=torch.float64)
    nu = model.generate_drift_coefficients(g)
    theirs = model.apply_drift_noise_to_conductance(g, nu, t_inf).numpy()
    rng = np.random.default_rng(3)
    gs = np.full(N, g_us * US)
    ours_nu = dv.drift_exponents(gs, device, rng)
    same(ours_nu, nu.numpy())
    ours = dv.read_noise(gs, dv.drift(gs, ours_nu, t_inf, device), t_inf, device, rng) / US
    same(ours, theirs)
