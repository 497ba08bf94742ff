"""The query editor and the graph explorer as a person uses them, in headless
Chromium (Debian's, through Playwright; no browser download): type a query
and see rows, pick an example, draw a CONSTRUCT result; search CAR-T in the
graph, expand a node, read an edge's evidence, show the strategies for its
barriers, a path and a filter. Any console error (a CSP violation shows up as
one) fails the test.

Screenshots go to /tmp/shots/ for a human look (not committed)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("TKG_SHOTS", "/tmp/shots"))
TIMEOUT = 15_000


@pytest.fixture(scope="module")
def base_url(built_store):
    from werkzeug.serving import make_server

    from web import create_app

    app = create_app({"store": built_store, "rate_limit": "0", "workers": 1})
    app.extensions["tkg_sparql"].start()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    app.extensions["tkg_sparql"].close()


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
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], errors


def shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def result_rows(page):
    rows = page.locator("#yasgui .yasr table.dataTable tbody tr")
    rows.first.wait_for(state="visible")
    return rows


# -- /query ---------------------------------------------------------------------
def test_type_a_query_and_see_rows(page, base_url):
    page.goto(base_url + "/query")
    page.locator("#yasgui .CodeMirror").first.wait_for()
    page.locator("#yasgui .CodeMirror").first.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(
        "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
        "SELECT ?x ?label WHERE { ?x rdfs:subClassOf <https://w3id.org/tcell-kg/CART> ; rdfs:label ?label } ORDER BY ?label"
    )
    page.locator("#yasgui .yasqe_queryButton").first.click()
    rows = result_rows(page)
    assert rows.count() >= 3
    assert "tisagenlecleucel" in page.locator("#yasgui .yasr table.dataTable").inner_text().lower()


def test_pick_an_example_and_see_rows(page, base_url):
    page.goto(base_url + "/query")
    page.locator("button.example[data-name^='cq01']").click()
    rows = result_rows(page)
    assert rows.count() >= 1
    assert "cq01" in page.url
    assert page.locator("button.example[data-name^='cq01']").get_attribute("aria-current") == "true"
    assert "CQ1" in page.locator("#yasgui .CodeMirror").first.inner_text()
    page.wait_for_timeout(300)
    shot(page, "query-results")


def test_fresh_load_shows_our_example_not_stale_state(page, base_url):
    page.goto(base_url + "/query?example=cq02")
    result_rows(page)
    page.goto(base_url + "/query?example=cq03")
    result_rows(page)
    text = page.locator("#yasgui .CodeMirror").first.inner_text()
    assert "CQ3" in text and "CQ2" not in text
    assert page.locator("#yasgui .tabsList .tab").count() == 1


def test_construct_result_is_drawn(page, base_url):
    query = (
        "PREFIX tkg: <https://w3id.org/tcell-kg/> CONSTRUCT { tkg:CART tkg:facesBarrier ?b } "
        "WHERE { ?f tkg:subject tkg:CART ; tkg:relation tkg:facesBarrier ; tkg:object ?b }"
    )
    from urllib.parse import quote

    page.goto(base_url + "/query?query=" + quote(query))
    section = page.locator("#construct-graph")
    section.wait_for(state="visible")
    page.locator("#construct-cy canvas").first.wait_for()
    assert "triples" in page.locator("#construct-note").inner_text()
    shot(page, "query-construct")


# -- /graph ---------------------------------------------------------------------
def node_count(page) -> int:
    return int(page.get_attribute("#graph-count", "data-nodes") or 0)


def open_cart(page, base_url):
    page.goto(base_url + "/graph")
    page.fill("#node-search", "CAR-T")
    page.locator("#node-suggestions li[role=option]").first.wait_for()
    page.locator("#node-suggestions li[role=option]").first.click()
    page.wait_for_function("() => Number(document.getElementById('graph-count').dataset.nodes) > 1")
    assert "CAR-T cell therapy" in page.locator("#graph-title").inner_text()


def click_element(page, element_id: str, *, edge: bool = False):
    where = "renderedMidpoint" if edge else "renderedPosition"
    pos = page.evaluate(f"(id) => window.tkgGraph.getElementById(id).{where}()", element_id)
    box = page.locator("#cy").bounding_box()
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])


def test_search_expand_and_read_evidence(page, base_url):
    open_cart(page, base_url)
    before = node_count(page)
    ids = page.evaluate("() => window.tkgGraph.nodes().map(n => n.id())")
    assert "AntigenEscape" in ids and "CytokineReleaseSyndrome" in ids
    click_element(page, "CytokineReleaseSyndrome")
    page.wait_for_function(f"() => Number(document.getElementById('graph-count').dataset.nodes) > {before}")
    assert node_count(page) > before
    assert "cytokine release syndrome" in page.locator("#details h2").inner_text().lower()
    assert page.locator("#details a[href='/entity/CytokineReleaseSyndrome']").count() == 1
    page.wait_for_timeout(400)
    shot(page, "graph-expanded", full_page=False)
    click_element(page, "CART|facesBarrier|AntigenEscape", edge=True)
    quotes = page.locator("#details .evidence-list blockquote")
    quotes.first.wait_for()
    assert quotes.count() >= 2 and all(len(t) > 20 for t in quotes.all_inner_texts())
    assert page.locator("#details .evidence-list a[href^='/study/']").count() >= 2
    shot(page, "graph-edge", full_page=False)


def test_strategies_for_its_barriers(page, base_url):
    open_cart(page, base_url)
    page.locator("#strategies-button").click()
    items = page.locator("#details .strategy-list li")
    items.first.wait_for()
    assert items.count() >= 3
    roles = page.evaluate("() => [...new Set(window.tkgGraph.nodes().map(n => n.data('role')))]")
    assert {"therapy", "barrier", "strategy"} <= set(roles)
    assert "strategies" in page.locator("#graph-title").inner_text()
    page.wait_for_timeout(300)
    shot(page, "graph-strategies", full_page=False)


def test_path_and_filter(page, base_url):
    open_cart(page, base_url)
    page.fill("#path-to", "tebentafusp")
    page.locator("#path-to + ul li[role=option]").first.wait_for()
    page.locator("#path-to + ul li[role=option]").first.click()
    page.locator("#path-form button[type=submit]").click()
    page.locator("#details .path-list li").first.wait_for()
    assert "tebentafusp" in page.locator("#details .path-list").inner_text().lower()
    ids = page.evaluate("() => window.tkgGraph.nodes().map(n => n.id())")
    assert "CART" in ids and "Tebentafusp" in ids

    open_cart(page, base_url)
    page.locator("#filter-relation input[value='facesBarrier']").check()
    page.locator("#apply-filters").click()
    page.wait_for_function(
        "() => window.tkgGraph.edges().length > 0 && window.tkgGraph.edges().every(e => e.data('relation') === 'facesBarrier')"
    )
    assert all(r == "facesBarrier" for r in page.evaluate("() => window.tkgGraph.edges().map(e => e.data('relation'))"))
