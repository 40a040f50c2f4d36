"""The HTML report in a real browser (headless Chromium, no network): its figures decode and show.

Needs the Debian `chromium` package (`apt-get install -y chromium`); skips, saying so, without it.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib import image as mpimg

from neurodeploy import report

from test_report_render import make_report  # noqa: E402  (tests/ is on sys.path under pytest)

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="chromium not installed (apt-get install -y chromium)")

# appended to a copy of the report: after load, write each image's decoded size into the DOM
PROBE = """<script>window.addEventListener('load', () => {
  const s = [...document.images].map(i => i.complete + ':' + i.naturalWidth + 'x' + i.naturalHeight).join(' ');
  document.body.setAttribute('data-decoded', s);
});</script>"""


def _chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--virtual-time-budget=5000",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_figures_decode_in_chromium(tmp_path):
    html = report.render(make_report(tmp_path), "html")
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = _chromium(tmp_path, "--dump-dom", probe.as_uri()).stdout
    decoded = re.search(r'data-decoded="([^"]*)"', dom)
    assert decoded, "the probe did not run"
    sizes = [s.split(":") for s in decoded.group(1).split()]
    assert len(sizes) == 3
    for complete, wh in sizes:
        w, h = map(int, wh.split("x"))
        assert complete == "true" and w > 100 and h > 100


def test_screenshot_shows_the_report(tmp_path):
    page = report.write(make_report(tmp_path), "html", tmp_path / "energy.html")
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri())
    assert shot.is_file(), "chromium wrote no screenshot"
    px = mpimg.imread(shot)[..., :3]
    assert px.shape[:2] == (3000, 1200)
    ink = (px.mean(axis=2) < 0.9).mean(axis=1)  # share of non-white pixels per row
    assert ink[:300].max() > 0.05  # title and assumptions at the top
    # the figures: long runs of rows with substantial colour (plots), not only text lines
    colourful = np.abs(px - px.mean(axis=2, keepdims=True)).max(axis=2) > 0.15
    rows_with_colour = colourful.mean(axis=1) > 0.05
    assert rows_with_colour.sum() > 200
