"""The web page (api/static/) end to end: a real ``hwplan serve`` driven by headless Chromium.

Chromium is Debian's (``.ci/run`` installs it); playwright only drives it (never ``playwright
install``). Screenshots go to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from api import Settings, create_app
from api.routes.examples import EXAMPLES

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p and os.access(p, os.X_OK)), None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PLAN_TIMEOUT_MS = 90_000  # a plan takes 1-3 s here; generous for slow CI machines
# The infeasible example, narrowed so its search (and the relaxation search) takes about 2 s:
# a 79-point quality floor at 150 ms p99 TTFT on 4k-token prompts fits no $3,000/month budget.
NARROW = {"f-hardware": ["b200", "l40s"], "f-runtimes": ["sglang"], "f-models": ["qwen3-30b-a3b", "llama-3.1-8b"],
          "f-precisions": ["fp8"]}


# ---------- without a browser: the examples endpoint and the page's assets ----------

@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(create_app(Settings(catalog_dir=tmp_path_factory.mktemp("web") / "catalog")))


def test_shipped_examples_match_the_repository() -> None:
    """api/static/examples/ ships copies of examples/*.yaml (package data): they must not drift."""
    repo = {p.name: p.read_text() for p in (ROOT / "examples").glob("*.yaml")}
    shipped = {p.name: p.read_text() for p in EXAMPLES.iterdir() if p.name.endswith(".yaml")}
    assert shipped == repo


def test_examples_endpoint(client: TestClient) -> None:
    listing = client.get("/v1/examples").json()
    assert {e["name"] for e in listing} == {p.stem for p in (ROOT / "examples").glob("*.yaml")}
    mix = next(e for e in listing if e["name"] == "heterogeneous-mix")
    assert mix["workload"] == "quota-limited-mix" and mix["description"].startswith("A team with only 2 H100")
    body = client.get("/v1/examples/heterogeneous-mix").json()
    assert body["constraints"]["quotas"] == {"h100-sxm": 2}  # moved from the L40S in issue #14
    assert body == yaml.safe_load((ROOT / "examples" / "heterogeneous-mix.yaml").read_text())
    missing = client.get("/v1/examples/no-such-example")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "path.name"


def test_page_and_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/static/app.js"' in page.text
    for asset, kind in (("app.js", "javascript"), ("app.css", "text/css")):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert "/" not in client.get("/openapi.json").json()["paths"]  # the page is not part of the API


def test_plans_levers_flag(client: TestClient) -> None:
    body = client.get("/v1/examples/heterogeneous-mix").json()
    plain = client.post("/v1/plans", json=body, params={"top": 3}).json()
    assert "levers" not in plain
    data = client.post("/v1/plans", json=body, params={"top": 3, "levers": True, "levers_rank": 2}).json()
    rows = {r["lever"]: r for r in data["levers"]}
    assert {"precision", "runtime", "hardware family"} <= set(rows)
    assert rows["hardware family"]["top_plan_value"] == ", ".join(sorted(
        {d["hardware"] for d in data["plans"][1]["deployments"]}))
    too_far = client.post("/v1/plans", json=body, params={"top": 3, "levers": True, "levers_rank": 4})
    assert too_far.status_code == 422 and too_far.json()["errors"][0]["field"] == "query.levers_rank"


# ---------- in Chromium, against a real `hwplan serve` ----------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`hwplan serve` on a free port with its own catalog directory; killed at the end."""
    hwplan = Path(sys.executable).with_name("hwplan")
    command = [str(hwplan)] if hwplan.exists() else [sys.executable, "-c", "from cli.main import main; main()"]
    port = _free_port()
    tmp = tmp_path_factory.mktemp("serve")
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen([*command, "serve", "--port", str(port), "--catalog", str(tmp / "catalog")],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"hwplan serve exited with {proc.returncode}:\n{(tmp / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"hwplan serve did not answer /healthz in 60 s:\n{(tmp / 'serve.log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("no Chromium found (/usr/bin/chromium or chromium on PATH); .ci/run installs Debian's")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(f"{msg.text} ({msg.location.get('url')})")
            if msg.type == "error" else None)
    page.goto(server + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    page.console_errors = errors  # type: ignore[attr-defined]  # (a test that provokes one removes it)
    yield page
    context.close()
    assert errors == [], f"errors in the page: {errors}"


def _shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def _choose(page: Page, example: str) -> None:
    """Load an example into the form (its name shown once it has)."""
    page.select_option("#example", example)
    expect(page.locator("#f-name")).to_have_value(example)


def _replan(page: Page, example: str) -> None:
    """Load an example and plan it, returning once the status names it."""
    _choose(page, example)
    page.click("#plan-button")
    expect(page.locator("#status")).to_contain_text(example, timeout=PLAN_TIMEOUT_MS)


def _selected_rank(page: Page) -> list[str]:
    return [page.locator("#plans-table tbody tr.selected").nth(i).get_attribute("data-rank") or ""
            for i in range(page.locator("#plans-table tbody tr.selected").count())]


def test_plan_pick_a_pareto_point_levers_export(page: Page) -> None:
    page.select_option("#example", "heterogeneous-mix")
    expect(page.locator("#f-name")).to_have_value("quota-limited-mix")
    expect(page.locator("#f-quotas")).to_have_value("h100-sxm: 2")  # the example moved its quota (issue #14)
    assert sorted(page.eval_on_selector("#f-hardware", "s => [...s.selectedOptions].map(o => o.value)")) == [
        "h100-sxm", "l40s"]
    page.fill("#f-top", "6")
    page.fill("#f-time", "10")
    page.click("#plan-button")
    rows = page.locator("#plans-table tbody tr")
    expect(rows.first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#status")).to_contain_text("plans for quota-limited-mix")
    assert rows.count() >= 2
    expect(rows.first).to_have_class("selected")  # the top plan is selected at first
    # the cheapest plan mixes H100 and L40S; its TPOT cell is marked "close" exactly when the p99 is
    # within 10% of the 60 ms SLO (marked, not only coloured); the share is in the cell's title
    first = rows.first
    expect(first).to_contain_text("h100-sxm")
    expect(first).to_contain_text("l40s")
    tpot = first.locator('td[data-label="TPOT"]')
    expect(tpot).to_contain_text("/ 60 ms p99")
    title = tpot.get_attribute("title") or ""
    found = re.search(r"p99: ([\d.]+) ms against an SLO of ([\d.]+) ms", title)
    assert found, title
    ratio = float(found.group(1)) / float(found.group(2))
    assert ratio <= 1.0
    expect(tpot).to_have_class("num close" if ratio >= 0.9 else "num ok")

    points = page.locator("#chart .pt")
    assert points.count() == rows.count()
    pareto_ranks = [points.nth(i).get_attribute("data-rank") for i in range(points.count())
                    if "on-front" in (points.nth(i).get_attribute("class") or "")]
    others = [r for r in pareto_ranks if r != "1"] or [str(r) for r in range(2, points.count() + 1)]
    target = others[0]  # a point other than the top plan (on the front when the front has one)
    page.click(f'#chart .pt[data-rank="{target}"]')
    assert _selected_rank(page) == [target]
    expect(page.locator(f'#plans-table tbody tr[data-rank="{target}"]')).to_have_attribute("aria-selected", "true")
    expect(page.locator(f'#plans-table tbody tr[data-rank="{target}"]')).to_be_focused()
    expect(page.locator(f'#chart .pt[data-rank="{target}"]')).to_have_class(
        "pt on-front selected" if target in pareto_ranks else "pt selected")
    expect(page.locator("#detail-h")).to_have_text(f"Plan {target}: llama-3.1-8b")
    page.eval_on_selector("#workload-form", "form => { form.scrollTop = 0; }")
    page.evaluate("window.scrollTo(0, 0)")
    _shot(page, "web-plans-1280x800.png", full_page=False)
    _shot(page, "web-plans-1280-full.png")

    # keyboard: a chart point is focusable and Enter selects it; a row selects its point
    page.focus('#chart .pt[data-rank="1"]')
    page.keyboard.press("Enter")
    assert _selected_rank(page) == ["1"]
    # a redraw (the window narrowed) keeps the keyboard's place on the chart
    width = page.get_attribute("#chart svg", "width")
    page.focus('#chart .pt[data-rank="2"]')
    page.set_viewport_size({"width": 1000, "height": 800})
    page.wait_for_function(f"() => document.querySelector('#chart svg').getAttribute('width') !== '{width}'")
    expect(page.locator('#chart .pt[data-rank="2"]')).to_be_focused()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_function(f"() => document.querySelector('#chart svg').getAttribute('width') === '{width}'")
    page.click('#plans-table tbody tr[data-rank="2"]')
    expect(page.locator('#chart .pt[data-rank="2"]')).to_have_attribute("aria-pressed", "true")

    page.click("#levers-button")
    lever_rows = page.locator("#levers table tbody tr")
    expect(lever_rows.first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#levers")).to_contain_text("hardware family")

    # the serving iteration cost's interval: plan 1 re-planned at both ends (shipped calibration)
    page.click("#iteration-button")
    expect(page.locator("#iteration li")).to_have_count(2, timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#iteration")).to_contain_text("the records under load admit")
    expect(page.locator("#iteration li").first).to_contain_text("(low end): $")

    with page.expect_download() as download:
        page.click("#export-json")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["plan"]["rank"] == 2 and exported["workload"]["name"] == "quota-limited-mix"
    with page.expect_download() as download:
        page.click("#export-yaml")
    assert yaml.safe_load(Path(download.value.path()).read_text()) == exported

    page.set_viewport_size({"width": 400, "height": 800})
    page.wait_for_timeout(300)  # the chart redraws on resize
    page.locator("#chart-section").scroll_into_view_if_needed()
    _shot(page, "web-plans-400x800.png", full_page=False)
    _shot(page, "web-plans-400-full.png")

    page.set_viewport_size({"width": 1280, "height": 800})
    page.click("#tab-catalog")
    expect(page.locator("#catalog-table tbody tr").first).to_be_visible()
    page.fill("#catalog-filter", "h100")
    expect(page.locator("#catalog-table tbody")).to_contain_text("h100-sxm")
    # the price a plan selects (GET /v1/prices): H100 SXM at hyperscalers, the survey's $10.53 default
    h100 = page.locator("#catalog-table tbody tr", has=page.locator("th", has_text=re.compile(r"^h100-sxm$")))
    expect(h100).to_contain_text("$10.53")
    _shot(page, "web-catalog-1280x800.png")


def test_infeasible_explains_and_one_relaxation_replans(page: Page) -> None:
    page.select_option("#example", "infeasible")
    expect(page.locator("#f-name")).to_have_value("infeasible-on-purpose")
    for select, values in NARROW.items():
        page.select_option(f"#{select}", values)
    page.click("#plan-button")
    box = page.locator("#infeasible")
    expect(box).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#reasons")).to_contain_text("quality below min_score")
    expect(page.locator("#plans-section")).to_be_hidden()
    relax = page.locator('#relaxations button[data-constraint="budget.max_cost_per_month"]')
    expect(relax).to_contain_text("/month")
    _shot(page, "web-infeasible-1280x800.png")
    needed = relax.inner_text()

    relax.click()
    expect(page.locator("#plans-table tbody tr").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    expect(box).to_be_hidden()
    budget = float(page.input_value("#f-month"))
    assert f"{budget:,.0f}" in needed  # the form now holds the relaxed budget
    month = page.locator("#plans-table tbody tr").first.locator("td").nth(6).inner_text()
    assert float(month.strip("$").replace(",", "")) <= budget
    _shot(page, "web-relaxed-1280x800.png")

    # a request the service refuses loses nothing: the plans on screen stay, said to be the last planned
    # form's (Save saves them with that workload, state.body), not this one's
    page.fill("#f-rps", "-1")
    page.click("#plan-button")
    expect(page.locator("#status")).to_contain_text("Planning failed", timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#status")).to_contain_text("The plans below are for infeasible-on-purpose as it was "
                                                    "last planned")
    expect(page.locator("#plans-section")).to_be_visible()
    assert page.evaluate("state.stale") is True and page.evaluate("state.body.traffic.requests_per_s") > 0
    errors = page.console_errors  # type: ignore[attr-defined]
    errors[:] = [e for e in errors if "status of 422" not in e]  # the refusal itself, which the page shows


def test_the_detail_says_how_the_plan_deploys(page: Page) -> None:
    """edge-assistant's plan 1 (NVFP4 on vLLM) loads weights a quantisation job writes first: its detail says so,
    from the answer's `deploy` (tests/test_export_quantise.py checks that against hwplan export)."""
    _choose(page, "edge-assistant")
    page.click("#plan-button")
    expect(page.locator("#plans-table tbody tr").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#detail-list")).to_contain_text(
        "load weights quantised once beforehand (llm-compressor NVFP4 (GPTQ))")


def test_a_serving_relaxation_replans_with_the_feature_allowed(page: Page) -> None:
    """A workload the form has no input for (constraints.serving) keeps it through a relaxation: qwen2.5-7b has no
    EAGLE head, so `speculative: required` has no plan; the button allows the feature and plans
    (tests/test_explain_serving.py checks the relaxation itself)."""
    workload = {"name": "spec-required",
                "traffic": {"requests_per_s": 2, "input_tokens": {"mean": 500, "p95": 1500},
                            "output_tokens": {"mean": 300, "p95": 800}},
                "slo": {"ttft_ms": {"p99": 2000}, "tpot_ms": {"p99": 60}},
                "constraints": {"models": ["qwen2.5-7b"], "serving": {"speculative": "required"}}}
    page.evaluate("(w) => fillForm(w)", workload)
    page.click("#plan-button")
    expect(page.locator("#infeasible")).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    relax = page.locator('#relaxations button[data-constraint="constraints.serving.speculative"]')
    expect(relax).to_contain_text("allowed (not required)")
    relax.click()
    expect(page.locator("#plans-table tbody tr").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#infeasible")).to_be_hidden()
    assert page.evaluate("() => state.loaded.constraints.serving.speculative") == "allowed"


def test_save_share_in_a_new_context_compare_and_download_an_export(page: Page, browser: Browser,
                                                                    server: str) -> None:
    """plan -> save -> the link in a NEW browser context (no shared storage) -> compare with a second
    saved plan -> download the Kubernetes manifests. The second plan halves the traffic, so the
    comparison must name that field and its top plan cannot cost more (the first plan still
    serves half the load)."""
    page.select_option("#example", "heterogeneous-mix")
    expect(page.locator("#f-rps")).to_have_value("60")
    page.fill("#f-top", "4")
    page.click("#plan-button")
    expect(page.locator("#plans-table tbody tr").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#export-download")).to_be_disabled()  # exports come from a saved plan
    page.click("#save-button")
    expect(page.locator("#save-status")).to_contain_text("Saved as", timeout=PLAN_TIMEOUT_MS)
    link = page.locator("#share-link").get_attribute("href") or ""
    first = link.split("#plan=")[1]
    assert link == f"{server}/#plan={first}" and page.url == link
    saved = httpx.get(f"{server}/v1/plans/{first}").json()
    assert saved["workload"]["traffic"]["requests_per_s"] == 60 and saved["saved_by"] == "anonymous"

    page.fill("#f-rps", "30")
    page.fill("#f-peak", "30")
    page.click("#plan-button")
    expect(page.locator("#save-button")).to_be_enabled(timeout=PLAN_TIMEOUT_MS)  # a new, unsaved result
    page.click("#save-button")
    expect(page.locator("#save-status")).to_contain_text("Saved as", timeout=PLAN_TIMEOUT_MS)
    second = (page.locator("#share-link").get_attribute("href") or "").split("#plan=")[1]
    assert second != first

    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    other = context.new_page()
    errors: list[str] = []
    other.on("pageerror", lambda exc: errors.append(str(exc)))
    other.goto(link)
    expect(other.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(other.locator("#status")).to_contain_text(f"Saved plan {first}")
    expect(other.locator("#f-rps")).to_have_value("60")  # the saved workload, not the default example's
    top = saved["result"]["plans"][0]
    expect(other.locator("#detail-h")).to_have_text(f"Plan 1: {top['model']}")
    row = other.locator('#plans-table tbody tr[data-rank="1"]')
    for d in top["deployments"]:
        expect(row).to_contain_text(f"{d['replicas']} × {d['chips_per_replica']} {d['hardware']}")
    expect(other.locator("#export-download")).to_be_enabled()

    other.click("#tab-saved")
    expect(other.locator(f'#saved-table tbody tr[data-id="{first}"]')).to_be_visible()
    expect(other.locator(f'#saved-table tbody tr[data-id="{second}"]')).to_be_visible()
    other.select_option("#compare-a", first)
    other.select_option("#compare-b", second)
    other.click("#compare-button")
    table = other.locator("#compare-result table.compare")
    expect(table).to_be_visible()
    expect(table.locator("thead")).to_contain_text(f"A: {first}")
    expect(table.locator("thead")).to_contain_text(f"B: {second}")
    workload_change = other.locator('#compare-result li[data-change="workload"]')
    expect(workload_change).to_contain_text("traffic.requests_per_s 60 → 30")
    expect(workload_change).to_contain_text("traffic.peak_requests_per_s 60 → 30")
    expect(other.locator('#compare-result li[data-change="catalog"]')).to_have_text("Catalog: the same version.")
    # both priced on demand, the same chips: compared, and unchanged (not "not compared")
    expect(other.locator('#compare-result li[data-change="prices"]')).to_have_text("Price per chip-hour: unchanged.")
    cost_a = top["cost"]["per_month"]
    cost_b = httpx.get(f"{server}/v1/plans/{second}").json()["result"]["plans"][0]["cost"]["per_month"]
    assert cost_b <= cost_a
    cost_row = table.locator('tr[data-row="$/month"] td')
    expect(cost_row.nth(0)).to_have_text(f"${cost_a:,.0f}")
    expect(cost_row.nth(1)).to_have_text(f"${cost_b:,.0f}")
    _shot(other, "web-compare-1280.png")

    other.click("#tab-plan")
    other.select_option("#export-format", "k8s")
    with other.expect_download() as download:
        other.click("#export-download")
    text = Path(download.value.path()).read_text()
    assert download.value.suggested_filename == "quota-limited-mix.k8s.yaml"
    assert text == httpx.get(f"{server}/v1/plans/{first}/export", params={"format": "k8s"}).text
    docs = [d for d in yaml.safe_load_all(text) if d]
    pods = [d for d in docs if d["kind"] == "Deployment"]
    assert sorted(d["spec"]["replicas"] for d in pods) == sorted(d["replicas"] for d in top["deployments"])
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler"}

    # Open on the plan the page already shows (its hash unchanged, so no hashchange) shows it: it did nothing
    other.click("#tab-saved")
    row = other.locator(f'#saved-table tbody tr[data-id="{first}"]')
    expect(row).to_be_visible()
    other.wait_for_load_state("networkidle")
    assert other.url.endswith(f"#plan={first}")
    row.locator("td.actions a").click()
    expect(other.locator("#tab-plan")).to_have_attribute("aria-selected", "true")
    expect(other.locator("#status")).to_contain_text(f"Saved plan {first}")

    # on a phone the saved plans are cards: each one's Open and Delete on the screen, not past a sideways scroll
    other.set_viewport_size({"width": 400, "height": 800})
    other.click("#tab-saved")
    card = other.locator(f'#saved-table tbody tr[data-id="{first}"]')
    expect(card).to_be_visible()
    # the tab lists the saved plans again and redraws its rows, so the actions' boxes are read in one call
    # (a row read between two calls could be gone), from whichever row is there once the list is drawn
    boxes = other.wait_for_function(f"""() => {{
        const row = document.querySelector('#saved-table tbody tr[data-id="{first}"]');
        const cells = row ? [...row.querySelectorAll('td.actions a, td.actions button.delete')] : [];
        return cells.length === 2 && cells.map(c => {{ const b = c.getBoundingClientRect(); return [b.x, b.width]; }});
    }}""").json_value()
    for x, width in boxes:  # (x does not depend on the vertical scroll)
        assert x >= 0 and x + width <= 400, boxes
    _table_fits(other, "#saved-table")
    context.close()
    assert errors == [], f"errors in the page: {errors}"


def _table_fits(page: Page, table: str) -> None:
    """Every column of ``table`` lies inside its scrolling wrapper: no column (the cost, the binding
    constraints) sits past the right edge at this viewport, reachable only by scrolling sideways."""
    widths = page.eval_on_selector(table, "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{table} is {widths[0]} px wide in a {widths[1]} px wrapper"


def test_the_plans_table_flags_uncalibrated_deployments(page: Page) -> None:
    # the CLI says "(tp1, uncalibrated)"; the table said nothing (the detail panel alone did)
    page.select_option("#example", "support-chatbot")
    expect(page.locator("#f-name")).to_have_value("support-chatbot")
    page.click("#plan-button")
    first = page.locator("#plans-table tbody tr").first
    expect(first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    expect(first.locator("td").nth(1)).to_contain_text("uncalibrated")  # its L4 has no fit of its own
    # at 1280 px beside the form, $/month, $/M out and Binding were 250 px past the wrapper's edge
    _table_fits(page, "#plans-table")
    # and under the table, the calibration's held-out error under load, the figures calibration.yaml records
    on = yaml.safe_load((ROOT / "hardware_catalog/data/calibration.yaml").read_text())["fitted_on"]
    cv, later = on["cv_under_load_median_ape"], on["cv_by_round_under_load_median_ape"]
    note = page.locator("#accuracy")
    expect(note).to_be_visible()
    expect(note).to_contain_text(f"SLO capacity {cv['slo_capacity_requests_per_s'] * 100:.1f}% "
                                 f"({later['slo_capacity_requests_per_s'] * 100:.1f}% on an MLPerf round held out)")
    expect(note).to_contain_text(f"TTFT p99 {cv['ttft_p99_ms'] * 100:.1f}%")


def test_a_bad_field_is_marked_where_it_is_and_named_by_its_label(page: Page) -> None:
    """An error went only to the status line, as an API path (body.traffic.requests_per_s); typed text that
    is not a number was dropped without a word (the browser reads it as empty), and 2.5 chips became 3."""
    page.select_option("#example", "support-chatbot")
    expect(page.locator("#f-name")).to_have_value("support-chatbot")
    page.fill("#f-rps", "-5")  # a number the form accepts and the API refuses
    page.click("#plan-button")
    expect(page.locator("#status")).to_contain_text("Planning failed", timeout=PLAN_TIMEOUT_MS)
    rps = page.locator("#f-rps")
    expect(rps).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-f-rps")).to_contain_text("greater than or equal to 0.000001")
    expect(rps).to_be_focused()
    page.console_errors.clear()  # type: ignore[attr-defined]  # (the 422 is logged as a failed resource)
    page.fill("#f-rps", "40")
    page.fill("#f-peak", "")
    page.locator("#f-peak").press_sequentially("1e")  # not a number: the input's value reads ""
    page.click("#plan-button")
    expect(page.locator("#status")).to_have_text("Peak requests/s is not a number")
    expect(page.locator("#f-peak")).to_have_attribute("aria-invalid", "true")
    expect(rps).not_to_have_attribute("aria-invalid", "true")  # the last attempt's marks are cleared
    page.fill("#f-peak", "100")
    page.fill("#f-maxchips", "2.5")
    page.click("#plan-button")
    expect(page.locator("#status")).to_contain_text("must be a whole number")
    expect(page.locator("#f-maxchips")).to_have_attribute("aria-invalid", "true")


def test_plans_say_when_the_form_has_changed_since_and_fit_at_1024(page: Page) -> None:
    # a new example or an edit left the previous workload's plans on screen as if they were the form's; at
    # 1024 x 768 the table was 832 px wide in a 623 px column (two columns now start at 1280 px)
    page.set_viewport_size({"width": 1024, "height": 768})
    page.select_option("#example", "support-chatbot")
    expect(page.locator("#f-name")).to_have_value("support-chatbot")
    page.click("#plan-button")
    expect(page.locator("#plans-table tbody tr").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    _table_fits(page, "#plans-table")
    expect(page.locator("#status")).not_to_contain_text("has changed")
    page.select_option("#example", "code-assistant")
    expect(page.locator("#status")).to_contain_text("These plans are for support-chatbot as it was planned; the form "
                                                    "has changed since")
    page.click("#plan-button")
    expect(page.locator("#status")).to_contain_text("code-assistant", timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#status")).not_to_contain_text("has changed")


def test_every_chart_point_is_seen_and_in_rank_order_for_tab(page: Page) -> None:
    """edge-assistant has plans at one cost and latency: drawn on one spot, plans 3-6 were hidden under 1
    and 8. And the selected point was moved last (to draw it on top), so Tab from plan 1 left the chart."""
    page.select_option("#example", "edge-assistant")
    expect(page.locator("#f-name")).to_have_value("edge-assistant")
    page.click("#plan-button")
    expect(page.locator("#plans-table tbody tr").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    centres = page.eval_on_selector_all("#chart .pt .dot", """dots => dots.map(d => {
        const b = d.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; })""")
    assert len(centres) >= 2
    for i, (x1, y1) in enumerate(centres):
        for x2, y2 in centres[:i]:
            assert abs(x1 - x2) >= 4 or abs(y1 - y2) >= 4, centres
    ranks = page.eval_on_selector_all("#chart .pt", "gs => gs.map(g => Number(g.dataset.rank))")
    assert ranks == sorted(ranks)  # DOM order is rank order, with plan 1 selected
    page.focus('#chart .pt[data-rank="1"]')
    page.keyboard.press("Tab")
    expect(page.locator(f'#chart .pt[data-rank="{ranks[1]}"]')).to_be_focused()


def test_the_page_says_what_a_measured_slow_chip_costs(page: Page, server: str) -> None:
    """tests/data/tpu_jetstream_task.yaml's plan 1 runs on TPU v5e with JetStream, whose measured runs reached 0.41x
    the predicted throughput: the page, planning that workload (opened as a saved plan, then planned again from
    the form), shows the best plan at that speed (the CLI's line), and drops it for a workload whose plans run on
    no such chip."""
    body = yaml.safe_load((ROOT / "tests" / "data" / "tpu_jetstream_task.yaml").read_text())
    saved = httpx.post(f"{server}/v1/plans", json=body, params={"save": "true", "top": 3}, timeout=120)
    assert saved.status_code == 201, saved.text
    plan_id = saved.headers["X-Plan-Id"]
    page.goto(f"{server}/#plan={plan_id}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.locator("#status")).to_contain_text(f"Saved plan {plan_id}")
    page.click("#plan-button")
    expect(page.locator("#status")).to_contain_text("tpu-jetstream-task", timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#plans-table tbody tr").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    note = page.locator("#measured-replan")
    expect(note).to_be_visible()
    expect(note).to_contain_text("At the measured speed (tpu-v5e on jetstream at 0.41x), the best plan: $1,104/month")
    expect(note).to_contain_text("(+26% vs plan 1), plan 2's deployment · qwen2.5-7b fp8 sglang")
    _replan(page, "support-chatbot")
    expect(note).to_be_hidden()


@pytest.mark.parametrize("example", ["disagg-long-prompts", "rag-prefix-cache"])
def test_the_page_plans_what_the_cli_plans_for_fields_the_form_lacks(page: Page, example: str) -> None:
    """The form has no input for constraints.serving or traffic.prefix: the page dropped them and planned
    disagg-long-prompts aggregated at $676,479/month (the CLI: two pools, $322,865) and rag-prefix-cache
    without its cache ($37,668 against $10,658). Basis: the API's answer to the example file itself."""
    import httpx as client_http

    body = yaml.safe_load((ROOT / "examples" / f"{example}.yaml").read_text())
    server_url = page.url.rstrip("/").split("#")[0]
    expected = client_http.post(f"{server_url}/v1/plans?top=8&objective=cost&time_limit_s=10", json=body,
                                timeout=120).json()["plans"][0]
    sent: list[dict] = []
    page.on("request", lambda r: sent.append(json.loads(r.post_data)) if r.method == "POST"
            and "/v1/plans" in r.url and r.post_data else None)
    page.select_option("#example", example)
    expect(page.locator("#f-name")).to_have_value(body["name"])
    page.click("#plan-button")
    first = page.locator("#plans-table tbody tr").first
    expect(first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    assert sent and _holds(sent[-1], body)  # every field of the example is sent (the form adds its defaults)
    expect(first).to_contain_text(f"{expected['cost']['per_month']:,.0f}")
    if any(d["role"] != "both" for d in expected["deployments"]):
        expect(first).to_contain_text("prefill")  # the two pools' roles, as the CLI shows them
        _table_fits(page, "#plans-table")  # the widest deployments of the examples, at 1280 px
        first.click()
        expect(page.locator("#detail-list")).to_contain_text("disaggregation")


def _holds(sent: object, example: object) -> bool:
    """Every key and value of ``example`` is in ``sent``, recursively."""
    if isinstance(example, dict):
        return isinstance(sent, dict) and all(k in sent and _holds(sent[k], v) for k, v in example.items())
    return sent == example


def test_a_chip_slower_than_one_it_beats_on_paper_is_flagged(page: Page) -> None:
    """planner.model.chip_order's flag reaches the page: H200 x TensorRT-LLM reads slower per token at batch 1
    than H100-class chips it matches or beats on every datasheet figure (the CLI prints a "chip order"
    line; the API's plan has ``order``, whose figures tests/test_chip_order.py checks against the estimates).
    The page showed neither before: a flag in the H200 plan's row and a detail item."""
    page.select_option("#example", "support-chatbot")
    expect(page.locator("#f-name")).to_have_value("support-chatbot")
    page.select_option("#f-hardware", ["h200", "h100-sxm"])
    page.select_option("#f-models", ["llama-3.1-8b"])
    page.select_option("#f-precisions", ["fp8"])
    page.select_option("#f-runtimes", ["tensorrt-llm"])
    page.fill("#f-minq", "0")
    page.click("#plan-button")
    rows = page.locator("#plans-table tbody tr")
    expect(rows.first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    h200 = rows.filter(has_text="h200")
    expect(h200.first).to_contain_text("chip order: h200")
    expect(rows.filter(has_text="h100-sxm").filter(has_not_text="h200").first).not_to_contain_text("chip order")
    h200.first.click()
    expect(page.locator("#detail-list")).to_contain_text("Chip order")
    expect(page.locator("#detail-list")).to_contain_text("slower per token at batch 1")


def test_plan_pressed_while_an_example_loads_plans_that_example(page: Page) -> None:
    """The example's workload arrives by a request after the choice: Plan pressed before it came planned the
    previous form (the CI saw support-chatbot answered where code-assistant was chosen). Its response is held
    here until Plan has been pressed; the plans must be the chosen example's."""
    page.select_option("#example", "support-chatbot")
    expect(page.locator("#f-name")).to_have_value("support-chatbot")
    held: list[Route] = []
    page.route("**/v1/examples/code-assistant", lambda route: held.append(route))
    page.select_option("#example", "code-assistant")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the example's request was not made"
    page.click("#plan-button")
    held[0].continue_()
    expect(page.locator("#status")).to_contain_text("code-assistant", timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#f-name")).to_have_value(re.compile("^code-assistant"))


def test_a_save_the_service_declines_is_said_and_can_be_retried(page: Page) -> None:
    """Saving re-solves the workload (POST /v1/plans?save=true); a re-solve that ran out of time before any plan
    is not saved (200, X-Plan-Saved, no X-Plan-Id). The page said 'Saved as null' and linked #plan=null. The
    service's answer is played here by the route (its own behaviour: tests/test_store_errors.py)."""
    page.select_option("#example", "heterogeneous-mix")
    expect(page.locator("#f-rps")).to_have_value("60")
    page.click("#plan-button")
    expect(page.locator("#plans-table tbody tr").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    shown = page.locator("#plans-table tbody tr").count()
    why = "the search ran out of time before it found any plan: nothing to save (try a longer time limit)"
    page.route("**/v1/plans?*save=true*", lambda route: route.fulfill(
        status=200, headers={"X-Plan-Saved": f"no: {why}"}, content_type="application/json",
        body=json.dumps({"plans": [], "pareto": [], "complete": False, "search": {"solver_status": "TIME_LIMIT"}})))
    page.click("#save-button")
    expect(page.locator("#save-status")).to_contain_text(f"Not saved: {why}", timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#save-button")).to_be_enabled()
    assert "#plan=" not in page.url
    assert page.locator("#plans-table tbody tr").count() == shown  # the plans shown stay
    page.unroute("**/v1/plans?*save=true*")
    page.click("#save-button")  # a retry reaches the service and saves
    expect(page.locator("#save-status")).to_contain_text("Saved as", timeout=PLAN_TIMEOUT_MS)


def _hold_first_plan(page: Page) -> list[Route]:
    """Route /v1/plans: the first request is held (returned, to continue later), the rest go through."""
    held: list[Route] = []

    def handle(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/v1/plans?*", handle)
    return held


def _wait_held(page: Page, held: list[Route]) -> None:
    for _ in range(200):
        if held:
            return
        page.wait_for_timeout(50)
    raise AssertionError("the plan request was not made")


def test_an_answer_for_an_older_form_is_never_shown_as_the_forms(page: Page) -> None:
    """A web audit (2026-12-07): an edit made while the service planned left its answer shown as the form's,
    and of two plans asked for, the older answer arriving last replaced the newer (two relaxation clicks)."""
    page.select_option("#example", "support-chatbot")
    expect(page.locator("#f-name")).to_have_value("support-chatbot")
    held = _hold_first_plan(page)
    page.fill("#f-rps", "3")
    page.click("#plan-button")
    _wait_held(page, held)
    page.fill("#f-rps", "40")  # edited while the service plans rps 3
    with page.expect_response(lambda r: "/v1/plans" in r.url, timeout=PLAN_TIMEOUT_MS):
        held[0].continue_()
    expect(page.locator("#status")).to_contain_text("the form has changed since", timeout=PLAN_TIMEOUT_MS)
    page.unroute("**/v1/plans?*")
    held = _hold_first_plan(page)
    page.fill("#f-rps", "3")
    page.evaluate("() => { runPlan(); }")  # (as a relaxation button does; not awaited: its request is held)
    _wait_held(page, held)
    page.fill("#f-rps", "40")
    page.evaluate("() => { runPlan(); }")  # the newer plan: answered first
    expect(page.locator("#status")).to_contain_text("plans for support-chatbot", timeout=PLAN_TIMEOUT_MS)
    with page.expect_response(lambda r: "/v1/plans" in r.url, timeout=PLAN_TIMEOUT_MS):
        held[0].continue_()  # the older answer arrives last
    page.wait_for_timeout(300)
    assert page.evaluate("state.body.traffic.requests_per_s") == 40
    expect(page.locator("#status")).not_to_contain_text("has changed")
    expect(page.locator("#plan-button")).to_be_enabled()


def test_a_failed_plan_keeps_the_plans_shown_and_says_whose_they_are(page: Page) -> None:
    page.select_option("#example", "support-chatbot")
    expect(page.locator("#f-name")).to_have_value("support-chatbot")
    page.click("#plan-button")
    expect(page.locator("#plans-table tbody tr").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    rows = page.locator("#plans-table tbody tr").count()
    page.route("**/v1/plans?*", lambda route: route.abort())  # the service does not answer
    page.console_errors.clear()  # type: ignore[attr-defined]
    page.click("#plan-button")
    expect(page.locator("#status")).to_contain_text("the service did not answer", timeout=PLAN_TIMEOUT_MS)
    expect(page.locator("#status")).to_contain_text("The plans below are for support-chatbot as it was last planned")
    assert page.locator("#plans-table tbody tr").count() == rows
    page.console_errors.clear()  # type: ignore[attr-defined]  # (the aborted request is logged)


def test_the_pages_yaml_export_reads_back_as_numbers(page: Page) -> None:
    # PyYAML (YAML 1.1) reads 1e-7 as a string; the page wrote numbers in JavaScript's own form
    text = page.evaluate("toYaml({tiny: 1e-7, huge: 1e21, plain: 0.5, whole: 3, big: 2.5e+30})")
    assert yaml.safe_load(text) == {"tiny": 1e-7, "huge": 1e21, "plain": 0.5, "whole": 3, "big": 2.5e30}


def test_the_charts_cost_labels_do_not_run_into_one_another_on_a_phone(page: Page) -> None:
    # a web audit (2026-12-07): at 375 px the five six-figure labels of disagg-long-prompts read as one string
    page.set_viewport_size({"width": 375, "height": 800})
    page.select_option("#example", "disagg-long-prompts")
    expect(page.locator("#f-name")).to_have_value(re.compile("^disagg"))
    page.click("#plan-button")
    expect(page.locator("#chart .pt").first).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    boxes = page.eval_on_selector_all("#chart .tick text[text-anchor=middle]", """ts => ts.map(t => {
        const b = t.getBoundingClientRect(); return [b.left, b.right]; })""")
    assert len(boxes) >= 2
    boxes.sort()
    for (_l1, r1), (l2, _r2) in zip(boxes, boxes[1:], strict=False):
        assert l2 >= r1 + 2, boxes


def test_a_compared_latency_or_cost_reads_with_its_unit(page: Page) -> None:
    # a web audit (2026-12-07): the top plan's changes printed raw numbers ("e2e_ms_p99 35957 -> 19822")
    assert page.evaluate("changeValue(35957, false, 'predicted.e2e_ms_p99')") == "36 s"
    assert page.evaluate("changeValue(412.5, false, 'predicted.ttft_ms_p99')") == "413 ms"
    assert page.evaluate("changeValue(2508.6, false, 'cost.per_month')") == "$2,509"
    assert page.evaluate("changeValue('l40s', false, 'deployments.0.hardware')") == "l40s"


def test_an_error_about_a_row_of_targets_marks_the_row(page: Page) -> None:
    # a web audit (2026-12-07): p50 above p99 (the service's field: body.slo.ttft_ms) was named only in the
    # status line; no input was marked or focused
    page.select_option("#example", "support-chatbot")
    expect(page.locator("#f-name")).to_have_value("support-chatbot")
    page.fill("#f-slo-ttft_ms-p50", "5000")
    page.fill("#f-slo-ttft_ms-p99", "100")
    page.console_errors.clear()  # type: ignore[attr-defined]
    page.click("#plan-button")
    expect(page.locator("#status")).to_contain_text("Planning failed", timeout=PLAN_TIMEOUT_MS)
    for p in ("p50", "p99"):
        expect(page.locator(f"#f-slo-ttft_ms-{p}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-f-slo-ttft_ms-p50")).to_be_visible()
    page.console_errors.clear()  # type: ignore[attr-defined]  # (the 422 is logged as a failed resource)


def test_the_page_says_what_demand_over_time_a_plan_does_not_size_for(page: Page) -> None:
    """A workload whose traffic.profile's busiest hour is above the rate planned for gets the service's warning
    (result.warnings) above the plans, as the CLI prints it under the search line; a workload without one none."""
    _choose(page, "support-chatbot")
    page.evaluate("() => { state.loaded.traffic.profile = Array(24).fill(3); }")  # (a field the form lacks)
    page.click("#plan-button")
    note = page.locator("#result-warnings")
    expect(note).to_be_visible(timeout=PLAN_TIMEOUT_MS)
    expect(note).to_contain_text("busiest hour")
    _replan(page, "edge-assistant")
    expect(note).to_be_hidden()
