"""The development set of real texts (../shared/real-texts): `tkg eval --real`
gives the same figures as the set's own scorer (score.py, run as a subprocess
with this venv's tkg), and no figure falls below the floors kept in
tests/real_text_floors.json (wrong links: a ceiling).

In CI (CI=true) a missing set fails the tests instead of skipping them: the
floors guard nothing if they do not run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SHARED

from kg.cli import main
from kg.evaluate import RealEvaluation, evaluate_real

FLOORS_FILE = Path(__file__).resolve().parent / "real_text_floors.json"
TEXT_LINE = re.compile(r"^(\S+): links (\d+)/(\d+), wrong (\d+)/(\d+), entities (\d+)/(\d+), findings (\d+)")
OVERALL = re.compile(
    r"link recall [\d.]+ \((\d+)/(\d+)\), precision ([\d.]+) .*wrong links (\d+) of (\d+), entity recall [\d.]+ \((\d+)/(\d+)\)"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def locate(shared: Path, ci: bool) -> Path:
    """The real-text set under ``shared``; missing, it fails in CI and skips elsewhere."""
    directory = shared / "real-texts"
    if (directory / "annotations.json").is_file() and (directory / "score.py").is_file():
        return directory
    message = f"the real-text set is not at {directory} (annotations.json and score.py); it sits in ../shared beside the checkout"
    if ci:
        pytest.fail(message + "; CI must run these tests")
    pytest.skip(message)


@pytest.fixture(scope="module")
def real_dir() -> Path:
    return locate(SHARED, in_ci())


@pytest.fixture(scope="module")
def result(real_dir: Path) -> RealEvaluation:
    return evaluate_real(real_dir)


def test_a_missing_set_fails_in_ci_and_skips_elsewhere(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="CI must run"):
        locate(tmp_path, ci=True)
    with pytest.raises(pytest.skip.Exception):
        locate(tmp_path, ci=False)


def test_figures_equal_those_of_score_py(real_dir: Path, result: RealEvaluation):
    tkg = Path(sys.executable).with_name("tkg")
    assert tkg.is_file(), f"no tkg beside {sys.executable}"
    run = subprocess.run(
        [sys.executable, str(real_dir / "score.py"), "--tkg", str(tkg)], capture_output=True, text=True, timeout=900, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    theirs = {m.group(1): tuple(map(int, m.groups()[1:])) for m in map(TEXT_LINE.match, run.stdout.splitlines()) if m}
    ours = {
        s.text.name: (
            len(s.found),
            len(s.text.must),
            len(s.wrong),
            len(s.text.must_not),
            len(s.entities_found),
            len(s.text.entities),
            len(s.findings),
        )
        for s in result.scores
    }
    assert len(ours) == len(result.scores) and ours == theirs
    failed = re.search(r"\((\d+) with ingest errors\)", run.stdout)
    assert failed and int(failed.group(1)) == result.totals.failed
    overall = OVERALL.search(run.stdout)
    assert overall, run.stdout[-500:]
    t = result.totals
    found, must, precision, wrong, must_not, ents_found, ents = overall.groups()
    assert (t.found, t.must, t.wrong, t.must_not, t.entities_found, t.entities) == tuple(
        map(int, (found, must, wrong, must_not, ents_found, ents))
    )
    assert f"{t.precision:.2f}" == precision


def test_no_figure_below_its_floor(result: RealEvaluation):
    floors = json.loads(FLOORS_FILE.read_text(encoding="utf-8"))
    t = result.totals
    figures = f"link recall {t.link_recall:.3f} ({t.found}/{t.must}), wrong links {t.wrong}, entity recall {t.entity_recall:.3f}"
    assert t.failed == 0, [s.error for s in result.scores if s.error]
    assert t.link_recall >= floors["link_recall_min"], f"{figures}: link recall fell below {floors['link_recall_min']}"
    assert t.wrong <= floors["wrong_links_max"], f"{figures}: more than {floors['wrong_links_max']} wrong links"
    assert t.entity_recall >= floors["entity_recall_min"], f"{figures}: entity recall fell below {floors['entity_recall_min']}"
    assert t.unannotated_share <= floors["unannotated_share_max"], (
        f"{t.unannotated} of {t.findings} findings match no annotation ({t.unannotated_share:.1%}), "
        f"over {floors['unannotated_share_max']:.0%}"
    )


def test_eval_command_prints_and_serializes_the_same_figures(real_dir: Path, result: RealEvaluation):
    t = result.totals
    out = CliRunner().invoke(main, ["eval", "--real", str(real_dir), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["real_texts"]["overall"] == t.as_dict()
    assert data["gold_set"]["relations"]["tp"] > 0
    assert [x["file"] for x in data["real_texts"]["texts"]] == [s.text.file for s in result.scores]
    unannotated = sum(len(x["unannotated"]) for x in data["real_texts"]["texts"])
    assert unannotated == t.unannotated and all(u["quote"] for x in data["real_texts"]["texts"] for u in x["unannotated"])

    out = CliRunner().invoke(main, ["eval", "--real", str(real_dir)])
    assert out.exit_code == 0, out.output
    real_part, gold_part = out.output.split("self-written gold set")
    assert f"link recall {t.link_recall:.2f} ({t.found}/{t.must})" in real_part and f"wrong links {t.wrong} of {t.must_not}" in real_part
    assert f"unannotated findings {t.unannotated} of {t.findings}" in real_part
    assert "gold texts:" in gold_part and "gold texts:" not in real_part
    missed = next(s for s in result.scores if s.missed)
    assert f"  miss  {missed.missed[0].shown}" in real_part


def test_one_text_can_be_scored_alone(real_dir: Path, result: RealEvaluation):
    name = result.scores[0].text.name
    out = CliRunner().invoke(main, ["eval", "--real", str(real_dir), "--text", name, "--json"])
    (only,) = json.loads(out.output)["real_texts"]["texts"]
    assert only["file"].endswith(name) and only["links"] == len(result.scores[0].found)
