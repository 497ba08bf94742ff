"""An export format is one record: `tkg export`, `tkg release` and the
downloads page all follow it, and never disagree with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kg import KnowledgeGraph
from kg.cli import main
from kg.export import _FORMATS, ExportFormat, export_format, formats, register
from web import create_app

RECORDS = Path(__file__).resolve().parent / "data" / "records"


def write_count(kg: KnowledgeGraph, path: Path) -> None:
    """A toy format: the number of studies, as text."""
    path.write_text(f"{kg.stats()['studies']}\n", encoding="utf-8")


COUNT = ExportFormat("count", ".count.txt", "text/plain; charset=utf-8", "the number of studies", writer=f"{__name__}:write_count")


@pytest.fixture
def store(tmp_path) -> str:
    url = str(tmp_path / "var")
    with KnowledgeGraph.open(url, mode="write") as kg:
        kg.ingest(sorted(RECORDS.glob("*.yaml")))
        kg.publish()
    return url


@pytest.fixture
def count_format():
    saved = dict(_FORMATS)
    register(COUNT)
    yield COUNT
    _FORMATS.clear()
    _FORMATS.update(saved)


def test_downloads_page_agrees_with_every_record(store):
    app = create_app({"store": store, "rate_limit": 0})
    client = app.test_client()
    try:
        listing = client.get("/downloads.json").get_json()["files"]
        assert [f["format"] for f in listing] == [f.name for f in formats()]
        for entry in listing:
            record = export_format(entry["format"])
            assert entry["name"] == record.filename
            assert entry["media_type"] == record.media_type
            assert entry["description"] == record.description
            assert entry["dataset"] == record.dataset
            response = client.get(f"/downloads/{entry['name']}")
            response.close()
            assert response.status_code == 200 and response.headers["Content-Type"] == record.media_type, entry["name"]
    finally:
        app.extensions["tkg_sparql"].close()


def test_a_new_format_is_one_record(store, count_format, tmp_path):
    out = tmp_path / "n.count.txt"
    result = CliRunner().invoke(main, ["export", "--store", store, "--format", "count", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().strip().isdigit()
    help_text = " ".join(CliRunner().invoke(main, ["export", "--help"]).output.split())
    assert "count: the number of studies" in help_text
    released = CliRunner().invoke(main, ["release", "--store", store, str(tmp_path / "releases")])
    assert released.exit_code == 0, released.output
    assert (next((tmp_path / "releases").glob("2*")) / "tcell-kg.count.txt").is_file()
    app = create_app({"store": store, "rate_limit": 0})
    try:
        names = [f["name"] for f in app.test_client().get("/downloads.json").get_json()["files"]]
        assert "tcell-kg.count.txt" in names
    finally:
        app.extensions["tkg_sparql"].close()


def test_a_format_needs_a_way_to_be_written():
    from kg.errors import TkgError

    with pytest.raises(TkgError, match="neither a store dump nor a writer"):
        register(ExportFormat("nothing", ".x", "text/plain", "nothing"))


def test_one_download_build_projects_the_store_once(store, monkeypatch):
    """The graph formats (csv, cyjs, gexf, graphml, kgx) share one projection
    per build: it reads every finding, minutes at 100,000 studies."""
    import kg.projection
    from kg.views.downloads import downloads

    real, calls = kg.projection.project, []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(kg.projection, "project", counted)
    graph_formats = [f for f in formats() if not f.is_rdf and f.writer.startswith("kg.export_graph:")]
    assert len(graph_formats) >= 2  # else sharing proves nothing
    with KnowledgeGraph.open(store) as graph:
        listing = downloads(graph)["files"]
    assert all(f["available"] for f in listing)
    assert len(calls) == 1


def test_served_downloads_answer_503_until_every_file_is_built(store, monkeypatch):
    """`tkg serve` builds the exports in the background: until each registered
    file is in the release's folder, the downloads routes answer 503 with
    Retry-After, and a missing file counts as not built."""
    from kg.views import downloads as dl
    from kg.views.cache import release_key
    from web.security import DownloadBuilder

    started: list[str | None] = []
    monkeypatch.setattr(DownloadBuilder, "start", lambda self, graph, release=None: started.append(release))
    app = create_app({"store": store, "rate_limit": 0})
    app.config["TKG_BACKGROUND_DOWNLOADS"] = True
    client = app.test_client()
    waiting = client.get("/downloads.json")
    assert waiting.status_code == 503 and int(waiting.headers["Retry-After"]) > 0
    assert len(started) == 1

    with KnowledgeGraph.open(store) as kg:
        release = release_key(kg, exact=True)
        listing = dl.downloads(kg)  # what the background process does
        assert dl.is_built(kg, release)
        missing = dl._folder(kg, release) / listing["files"][0]["name"]
        missing.unlink()
        assert not dl.is_built(kg, release)
        dl.downloads(kg)
        assert dl.is_built(kg, release)
    ready = client.get("/downloads.json")
    assert ready.status_code == 200 and len(ready.get_json()["files"]) == len(formats())
