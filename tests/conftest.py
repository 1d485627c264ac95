"""Shared fixtures: tiny corpora in temp folders, a deterministic fake embedder, fresh live indexes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag import Config
from rag.config import PROJECT_ROOT
from rag.live_index import forget_live_indexes

SEED_CORPUS = PROJECT_ROOT / "corpus"

TINY_ARTICLES = {
    "pipeline.txt": (
        "Russia plans a gas pipeline called Power of Siberia 2.\n\n"
        "The pipeline would carry 50 billion cubic meters of gas a year through Mongolia.\n\n"
        "Mr. Ivanov, a U.N. adviser, said on Sept. 2 that talks would resume.\n"
    ),
    "court.txt": (
        "The court has no enforcement mechanism, so members decide whether to arrest suspects.\n\n"
        "Mongolia depends on Russia for fuel and electricity because it has few power plants.\n\n"
        "Your email address will not be published. Required fields are marked *\n"
    ),
    "wire.txt": (
        "The court has no enforcement mechanism, so members decide whether to arrest suspects.\n\n"
        "Protesters gathered in Sukhbaatar Square on Monday.\n"
    ),
}
TINY_META = {
    "pipeline.txt": {"title": "Pipeline plans", "outlet": "Energy Wire", "published": "2024-09-02"},
    "court.txt": {"title": "Court without police", "outlet": "Law Daily", "published": "2024-09-03"},
}


def write_corpus(folder: Path, articles: dict[str, str], meta: dict[str, dict] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in articles.items():
        (folder / name).write_text(text, encoding="utf-8")
    for name, data in (meta or {}).items():
        (folder / (name + ".meta.json")).write_text(json.dumps(data), encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def _fresh_engines():
    """Every test starts without cached live indexes (they hold indexes of other tests' folders)."""
    forget_live_indexes()
    yield
    forget_live_indexes()


@pytest.fixture
def tiny_config(tmp_path: Path) -> Config:
    """A three-article corpus indexed with the fast deterministic fake embedder."""
    corpus = write_corpus(tmp_path / "corpus", TINY_ARTICLES, TINY_META)
    return Config(corpus_dir=corpus, index_dir=tmp_path / "index", model="hash", stale_check_seconds=0.0)


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A private copy of the five seed articles (tests may modify it)."""
    target = tmp_path / "seed-corpus"
    shutil.copytree(SEED_CORPUS, target)
    return target


@pytest.fixture(scope="session")
def real_config(tmp_path_factory) -> Config:
    """The seed corpus with the real all-MiniLM-L6-v2 model, indexed once per test session."""
    index = tmp_path_factory.mktemp("real-index")
    return Config(corpus_dir=SEED_CORPUS, index_dir=index)
