"""The fleet page (api/static/fleet.html) in Chromium against a real ``hwplan serve``: a fleet
planned through POST /v1/fleets drawn by month, and a sweep CSV drawn against its axis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from test_web import ARTIFACTS, browser, server  # noqa: F401  (fixtures: Chromium and `hwplan serve`)


@pytest.fixture
def fleet_page(browser: Browser, server: str) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(server + "/static/fleet.html")
    yield page
    context.close()
    assert errors == [], f"errors in the page: {errors}"


def test_fleet_view_and_sweep_chart(fleet_page: Page, tmp_path: Path) -> None:
    page = fleet_page
    page.click("#fleet-run")
    expect(page.locator("#fleet-run")).to_be_disabled()  # one request at a time (a fleet plans for seconds)
    expect(page.locator("#fleet-summary")).to_contain_text("over 6 months", timeout=120_000)
    expect(page.locator("#fleet-run")).to_be_enabled()
    # one bar segment per workload and month, one table row per month (and the header), and one for the months of
    # the 1-year terms past the 6-month horizon, which are paid too (a term is whole: planner.fleet.model)
    assert page.locator("#fleet-chart svg rect[data-month]").count() == 2 * 6
    assert page.locator("#fleet-table tr").count() == 1 + 6 + 1
    expect(page.locator("#fleet-table tr").last.locator("td").first).to_have_text("after 6")
    expect(page.locator("#fleet-summary")).to_contain_text("for committed terms' months after month 6")
    # the legend sits above the bars (it was drawn over the first ones), and on a phone the chart keeps its
    # size and scrolls (scaled to 400 px its text was ~7 px tall)
    top_of_bars = min(float(r.get_attribute("y") or 0) for r in page.locator("#fleet-chart svg rect[data-month]").all())
    for swatch in page.locator("#fleet-chart svg rect:not([data-month])").all():
        assert float(swatch.get_attribute("y") or 0) + float(swatch.get_attribute("height") or 0) <= top_of_bars
    page.set_viewport_size({"width": 400, "height": 800})
    heights = page.eval_on_selector_all("#fleet-chart svg text", "ts => ts.map(t => t.getBoundingClientRect().height)")
    assert min(heights) >= 10, heights
    page.set_viewport_size({"width": 1280, "height": 900})
    csv = tmp_path / "sweep.csv"
    csv.write_text("scenario,traffic_scale,status,cost_per_month,error\n"
                   "0,0.5,ok,100,\n1,0.5,ok,300,\n2,1.0,ok,250,\n3,2.0,error,,ValueError: x\n4,2.0,ok,900,\n")
    page.set_input_files("#sweep-file", str(csv))
    expect(page.locator("#sweep-summary")).to_contain_text("5 scenarios, 1 failed, 1 without a cost")
    least = page.locator("#sweep-chart polyline").first.get_attribute("points") or ""
    assert len(least.split()) == 3  # three values of the axis
    # the median of 0.5's two costs (100, 300) is 200, not the larger; 1.0's one cost (250) is both lines'
    median = page.locator("#sweep-chart polyline").nth(1).get_attribute("points") or ""
    y_least, y_median = ([float(p.split(",")[1]) for p in line.split()] for line in (least, median))
    assert y_median[1] == pytest.approx(y_least[1])
    assert (y_least[0] - y_least[1]) / (y_median[0] - y_least[1]) == pytest.approx(3.0)  # (100-250) / (200-250)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "fleet-page.png"), full_page=True)
