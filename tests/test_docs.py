"""Docs that tests check: the README shows the real `tkg --help`, the two
commands, and every setting is documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from kg.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def readme_help_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- tkg-help.*?-->\s*```text\n(.*?)```", text, re.DOTALL)
    assert match, "README.md must show `tkg --help` in a ```text block after the tkg-help marker"
    return match.group(1)


def test_readme_shows_the_real_help():
    """What the installed command prints (``Usage: tkg``), at 80 columns."""
    tkg = Path(sys.executable).with_name("tkg")
    actual = subprocess.run([str(tkg), "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"}, check=True).stdout
    assert actual.startswith("Usage: tkg ")
    assert readme_help_block() == actual, "README's `tkg --help` block is stale: paste the output of `COLUMNS=80 tkg --help`"


def test_readme_quick_start_is_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make serve" in text and "make test" in text
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^serve:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for setting in SETTINGS:
        assert setting.env in doc, f"{setting.env} is not documented in docs/configuration.md"
        assert f"`{setting.name}`" in doc or setting.name in doc
