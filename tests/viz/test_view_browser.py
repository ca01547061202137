"""``carenet view`` in a real browser: Playwright driving Debian's Chromium.

Playwright cannot download its own browser here; it is pointed at /usr/bin/chromium
(installed by .ci/run when missing). The server runs in its own process group and is
stopped when the test ends. With CARENET_UPDATE_SCREENSHOT=1 the screenshot is saved
as docs/img/view.png (the README's).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import SMALL

CHROMIUM = "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "view.png"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium (apt-get install -y chromium)"
)


def _week(page) -> int:
    text = page.get_by_text(re.compile(r"^Week \d+ of")).first.inner_text()
    return int(text.split()[1])


def _chart_src(page) -> str:
    return page.locator("img").first.get_attribute("src") or ""


PAGE = {}  # the page under test, for the failure message


def _until(cond, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)  # polling a condition, with a generous deadline
    text = PAGE["page"].inner_text("body")[-3000:] if "page" in PAGE else ""
    raise AssertionError(f"{what} did not happen within {seconds} s; the page said:\n{text}")


def test_step_play_pause_control_and_screenshot(served, tmp_path):
    from playwright.sync_api import sync_playwright

    server = served(*SMALL, "steps=5200")  # long enough never to end while playing
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            PAGE["page"] = page
            page.goto(server.url, timeout=120_000)
            page.get_by_text(re.compile(r"^Week 0 of 5200")).wait_for(timeout=120_000)
            before = _chart_src(page)

            page.get_by_role("button", name="Step").click()
            page.get_by_text(re.compile(r"^Week 1 of")).wait_for(timeout=60_000)
            _until(lambda: _chart_src(page) != before, "the charts redrawing after Step")

            # Play, then pause at once: play runs the model flat out (redraws are paced to
            # the drawing), so a slow test could otherwise reach the end.
            page.get_by_role("button", name="▶").click()
            _until(lambda: _week(page) >= 6, "the run playing to week 6")
            page.get_by_role("button", name="❚❚").click()
            play = page.get_by_role("button", name="▶")
            play.wait_for(timeout=60_000)
            # ▶ is disabled until the play has stopped and drawn the frame at the pause.
            _until(play.is_enabled, "▶ enabled once the play has stopped")
            paused = _week(page)
            assert paused < 5200, "the run ended before it could be paused"
            time.sleep(1)  # a pause must hold: nothing to poll for
            assert _week(page) == paused
            # The page stays usable while it plays: a view control answers, and the run
            # goes on (to its end, possibly, on a slow machine).
            page.get_by_role("button", name="▶").click()
            page.get_by_role("button", name="influence").click()
            _until(lambda: _week(page) >= paused + 2, "the run still playing after a click")

            shot = tmp_path / "view.png"
            page.screenshot(path=str(shot), full_page=False)

            # A control takes effect on Reset: an invalid value is refused with the schema's
            # message, then Compare runs two arrangements side by side.
            box = page.get_by_label("population.size (persons)")
            box.fill("0")
            box.press("Enter")
            page.get_by_role("button", name="Reset").click()
            page.get_by_text(re.compile(r"population.size: 0 is not allowed")).wait_for(
                timeout=60_000
            )
            box.fill("50000")
            box.press("Enter")
            page.get_by_text("Compare with B (same seed)").click()
            page.get_by_role("button", name="Reset").click()
            page.get_by_text(re.compile(r"A: hybrid, mixed vs B: network, empowerment")).wait_for(
                timeout=120_000
            )
            page.get_by_role("button", name="Step").click()
            page.get_by_text(re.compile(r"^Week 1 of")).wait_for(timeout=60_000)
        finally:
            browser.close()

    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert img.shape[0] >= 900 and img.shape[1] >= 1300
    assert img.std() > 20, "screenshot looks blank"
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200, "screenshot has too few colours"
    if os.environ.get("CARENET_UPDATE_SCREENSHOT"):  # refresh the README's screenshot
        DOCS_IMG.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMG)
