"""Installed like a library (issue 13): ``pip install .`` gives ``import rag`` outside the
repository, the shipped reader inside the package, and a ``newsdesk`` command that answers
from a corpus folder anywhere, keeping its index in the user's cache, not in the folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT
from tests.conftest import TINY_ARTICLES, write_corpus

pytestmark = pytest.mark.e2e  # builds a wheel: seconds, not milliseconds


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project built as a wheel (no network: the venv's setuptools) and installed into a
    folder of its own (its dependencies come from the test's venv)."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    root = tmp_path_factory.mktemp("pkg")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(root / "dist"), str(PROJECT_ROOT)], capture_output=True, text=True,
                           timeout=300, cwd=root)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (root / "dist").glob("newsdesk_qa-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "rag/models/reader/head.json" in names and "rag/models/reader/manifest.json" in names
    site = root / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return site


def run_outside(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site), HOME=str(cwd), NEWSDESK_MODEL="hash")
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_import_rag_works_outside_the_repository(installed: Path, tmp_path: Path) -> None:
    done = run_outside(installed, tmp_path, sys.executable, "-c",
                       "import rag, rag.reader as r; print(rag.__file__); print(r.MODEL_DIR.is_dir())")
    assert done.returncode == 0, done.stderr[-2000:]
    where, model_there = done.stdout.split()
    assert Path(where).is_relative_to(installed) and model_there == "True"


def test_the_newsdesk_command_answers_from_any_folder(installed: Path, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "articles", TINY_ARTICLES)
    command = installed / "bin" / "newsdesk"
    done = run_outside(installed, tmp_path, sys.executable, str(command), "ask",
                       "Where did protesters gather?", "--corpus", str(corpus), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    assert answer["citations"][0]["quote"] == "Protesters gathered in Sukhbaatar Square on Monday."
    assert sorted(p.name for p in corpus.iterdir()) == sorted(TINY_ARTICLES)  # no index in the folder
    assert list((tmp_path / ".cache" / "newsdesk-qa" / "indexes").glob("articles-*/CURRENT"))


def test_a_saved_news_page_is_cited_with_its_headline_outlet_and_date(installed: Path, tmp_path: Path) -> None:
    """The issue's example end to end: a page saved from a news site, asked about with the
    installed command, is cited as its outlet's headline of its day, not as 'News page'."""
    corpus = tmp_path / "saved"
    corpus.mkdir()
    page = Path(__file__).parent / "data" / "news-page.html"
    (corpus / "news-page.html").write_bytes(page.read_bytes())
    done = run_outside(installed, tmp_path, sys.executable, str(installed / "bin" / "newsdesk"), "ask",
                       "What does Mongolia depend on Russia for?", "--corpus", str(corpus), "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    cited = json.loads(done.stdout)["citations"][0]
    assert (cited["title"], cited["outlet"], cited["published"]) == (
        "Putin visits Mongolia despite ICC arrest warrant", "The Daily Ledger", "2024-09-03")
    assert "fuel and electricity" in cited["quote"]
