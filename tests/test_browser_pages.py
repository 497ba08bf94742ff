"""The pages as a person uses them, in headless Chromium (Debian's, through
Playwright; no browser download): click a matrix cell and read its evidence,
follow an entity link, pick a search suggestion. Any console error (a CSP
violation shows up as one) fails the test.

Screenshots go to /tmp/shots/ for a human look (not committed)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("TKG_SHOTS", "/tmp/shots"))


@pytest.fixture(scope="module")
def base_url(built_store):
    from werkzeug.serving import make_server

    from web import create_app

    app = create_app({"store": built_store, "rate_limit": "0"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()
    assert errors == [], errors


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_matrix_cell_shows_evidence_then_entity_link(page, base_url):
    page.goto(base_url + "/")
    cell = page.locator('a[data-cell="/matrix/CART/TumorMicroenvironmentBarrier.json"]')
    assert cell.count() == 1
    shot(page, "dashboard")
    panel = page.locator("#cell-panel")
    assert panel.is_hidden()
    cell.click()
    quotes = page.locator("#cell-panel-list blockquote.quote")
    quotes.first.wait_for(state="visible", timeout=10_000)
    assert quotes.count() >= 1
    texts = quotes.all_inner_texts()
    assert all(len(t) > 20 for t in texts)
    assert "tumor microenvironment" in page.locator("#cell-panel-title").inner_text().lower()
    assert page.url.rstrip("/") == base_url  # the panel opened in place
    shot(page, "matrix-cell")
    # follow an entity link from the evidence to its page, and see its relations
    link = page.locator("#cell-panel-list .evidence-meta a.ent").last
    target = link.get_attribute("href")
    assert target and target.startswith("/entity/")
    link.click()
    page.wait_for_url(base_url + target)
    assert page.locator(".relation-group").count() >= 1
    assert page.locator("h1").inner_text().strip()


def test_cell_page_without_javascript(browser, base_url):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(base_url + "/")
    page.locator('a[href="/matrix/CART/TumorMicroenvironmentBarrier"]').click()
    page.wait_for_url(base_url + "/matrix/CART/TumorMicroenvironmentBarrier")
    assert page.locator("blockquote.quote").count() >= 1
    context.close()


def test_search_suggestion_navigates(page, base_url):
    page.goto(base_url + "/downloads")
    box = page.locator("#site-search-input")
    box.click()
    box.type("kymri", delay=30)
    option = page.locator("#site-search-list li[role=option]").first
    option.wait_for(state="visible", timeout=10_000)
    assert "tisagenlecleucel" in option.inner_text().lower()
    shot(page, "search")
    option.click()
    page.wait_for_url(base_url + "/entity/Tisagenlecleucel")
    assert "tisagenlecleucel" in page.locator("h1").inner_text().lower()


def test_search_keyboard(page, base_url):
    page.goto(base_url + "/")
    box = page.locator("#site-search-input")
    box.click()
    box.type("cytokine release", delay=20)
    page.locator("#site-search-list li[role=option]").first.wait_for(state="visible", timeout=10_000)
    box.press("ArrowDown")
    box.press("Enter")
    page.wait_for_url(base_url + "/entity/CytokineReleaseSyndrome")


def test_pages_render_without_console_errors(page, base_url):
    for name, path in (
        ("entity-cart", "/entity/CART"),
        ("study", "/study/review-2026-tcell-therapies"),
        ("downloads", "/downloads"),
        ("void", "/void?format=html"),
        ("cell-page", "/matrix/TCellEngager/SafetyBarrier"),
    ):
        response = page.goto(base_url + path)
        assert response is not None and response.status == 200, path
        assert page.locator("main h1").count() >= 1, path
        shot(page, name)
    page.goto(base_url + "/study/review-2026-tcell-therapies")
    assert page.locator("mark").count() >= 1
    first = page.locator("a[data-highlight]").first
    first.click()
    assert page.locator("mark.current").count() == 1
    response = page.goto(base_url + "/entity/NoSuchEntity")
    assert response is not None and response.status == 404
    assert "404" in page.locator("main h1").inner_text()
    shot(page, "not-found")
    page.console_errors.clear()  # the browser logs the 404 status itself
