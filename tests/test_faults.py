"""Fault injection (issue 11): a build killed at every point of its write path, and every
kind of index file damaged; the old index or a rebuilt one must answer with verified
citations, and whatever had to be cleaned up or rebuilt is logged with its reason.

The kills are real and deterministic: a forked child (rag already imported, so it starts in
milliseconds) runs ``indexer.build_index`` and SIGKILLs itself on the k-th call into the
write path (each file written, each rename, the pointer swap, the old generation's removal)
for k = 1, 2, ... until a build runs through. No ``except`` or ``finally`` runs in the child,
exactly as after a power cut or the OOM killer.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import packs, store
from rag.config import Config
from rag.embedding import load_embedder
from rag.indexer import build_index
from rag.live_index import forget_live_indexes, live_index
from rag.sparse import BM25Index
from rag.dense import FaissStore
from tests.checks import assert_quotes_verbatim, index_file
from tests.conftest import TINY_ARTICLES, TINY_META, write_corpus

YAKS = "Herders moved 3,000 yaks to the northern pastures in May.\n"
OLD_DOCS = sorted(TINY_ARTICLES)
NEW_DOCS = sorted([*TINY_ARTICLES, "yaks.txt"])
# Called, in this order, while a build writes a generation and makes it live.
WRITE_PATH = [(packs, "write_line_packs"), (store.np, "save"), (FaissStore, "write"), (packs.os, "link"), (BM25Index, "save"),
              (Path, "write_text"), (store, "write_manifest"), (store, "_fsync_tree"), (store.os, "replace"),
              (store.shutil, "rmtree")]


def fresh_config(folder: Path) -> Config:
    corpus = write_corpus(folder / "corpus", TINY_ARTICLES, TINY_META)
    return Config(corpus_dir=corpus, index_dir=folder / "index", model="hash", stale_check_seconds=0.0)


def build_killed_at(config: Config, k: int) -> bool:
    """Run a build in a forked child that SIGKILLs itself on its k-th write-path call;
    True when it was killed, False when the build finished first."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest; exit code 1 if the build fails
        code = 1
        try:
            calls = [0]
            for owner, name in WRITE_PATH:
                setattr(owner, name, _dying(getattr(owner, name), calls, k))
            build_index(config, load_embedder("hash"))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0
    return False


def _dying(function, calls: list[int], k: int):
    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == k:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return wrapper


def index_entries(config: Config) -> list[str]:
    return sorted(p.name for p in Path(config.index_dir).iterdir() if p.name != ".build.lock")


def ask_yaks(config: Config) -> rag.Answer:
    """As a new process after the crash: the first question is answered at once from the live
    generation if it can be (old or new, whole), a damaged one is rebuilt first; a stale one is
    updated in the background, after which yaks.txt answers."""
    forget_live_indexes()
    first = rag.ask("How many yaks did herders move?", config=config)
    assert_quotes_verbatim(first, config.corpus_dir)
    assert "3,000 yaks" in first.text or first.index_status  # the new generation, or the old one updating
    assert live_index(config).wait(60)
    answer = rag.ask("How many yaks did herders move?", config=config)
    assert "3,000 yaks" in answer.text
    assert_quotes_verbatim(answer, config.corpus_dir)
    return answer


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_build_killed_at_any_point_leaves_a_whole_index_that_answers(tmp_path: Path, caplog) -> None:
    kills = 0
    for k in range(1, 100):
        config = fresh_config(tmp_path / f"k{k}")
        build_index(config, load_embedder("hash"))
        Path(config.corpus_dir, "yaks.txt").write_text(YAKS, encoding="utf-8")
        if not build_killed_at(config, k):
            break
        kills += 1
        # the old generation or the new one is live, whole: never a mix, never damaged
        assert sorted(store.load(config.index_dir).documents) in (OLD_DOCS, NEW_DOCS), k
        leftovers = [n for n in index_entries(config) if n.startswith((".tmp-gen-", ".CURRENT."))]
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            ask_yaks(config)
            rag.build_index(config)
        for name in leftovers:  # what the killed build left is removed, and said so
            assert f"removed {name!r}" in caplog.text and "interrupted build" in caplog.text, k
        assert [n for n in index_entries(config) if n != "CURRENT"] == [store.current_generation(
            config.index_dir).name], k
    assert kills >= 15, kills  # every file written, renamed or removed was a kill point


def _truncate(path: Path, other: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _delete(path: Path, other: Path) -> None:
    path.unlink()


def _from_another_generation(path: Path, other: Path) -> None:
    """A valid file of the same kind, from the generation before (a stale backup restored)."""
    shutil.copyfile(other, path)


FILE_KINDS = ["manifest.json", "documents", "document_rows.npy", "sentences.npy", "chunks.npy", "sentence-vectors",
              "chunk-vectors", "sentence_vector_rows.npy", "chunk_vector_rows.npy", "bm25/data.csc.index.npy",
              "bm25/vocab.index.json", "bm25/size.txt"]


@pytest.mark.parametrize("damage", [_truncate, _delete, _from_another_generation],
                         ids=["truncated", "deleted", "from another generation"])
@pytest.mark.parametrize("name", FILE_KINDS)
def test_a_damaged_index_file_is_rebuilt_with_a_logged_reason(tmp_path: Path, caplog, name: str, damage) -> None:
    config = fresh_config(tmp_path)
    rag.build_index(config)
    older = tmp_path / "older"
    shutil.copytree(store.current_generation(config.index_dir), older)
    Path(config.corpus_dir, "yaks.txt").write_text(YAKS, encoding="utf-8")
    rag.build_index(config)
    damaged = store.current_generation(config.index_dir)
    target = index_file(damaged, name)  # read before the damage: the manifest names the packs
    damage(target, index_file(older, name))
    name = target.relative_to(damaged).as_posix()
    # the error names the file; an older manifest is whole itself, but not for these files
    whole_but_older = (name, damage) == ("manifest.json", _from_another_generation)
    # (it lists the vector packs of its own generation: another pack is then not listed)
    reason = (r"'\S+' in '\S+' (does not match its SHA-256|is not listed in the manifest)" if whole_but_older
              else f"'{name}' in '\\S+{damaged.name}'")
    with pytest.raises(rag.IndexCorruptError, match=reason):
        store.load(config.index_dir)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ask_yaks(config)
    assert "rebuilding the index from the corpus" in caplog.text and re.search(reason, caplog.text)
    assert store.current_generation(config.index_dir) != damaged
    assert sorted(store.load(config.index_dir).documents) == NEW_DOCS


class _Counting:
    """The fake embedder, counting the texts it embeds; SIGKILLs its process on call ``die_at``."""

    def __init__(self, die_at: int = 0) -> None:
        self.inner, self.die_at, self.calls, self.texts = load_embedder("hash"), die_at, 0, 0
        self.name, self.fingerprint, self.dim = self.inner.name, self.inner.fingerprint, self.inner.dim

    def embed(self, texts):
        self.calls += 1
        if self.calls == self.die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_first_build_killed_while_embedding_resumes_where_it_stopped(tmp_path: Path) -> None:
    # 4 texts a batch; chunks embedded too ("encode"), so the tiny corpus makes enough batches
    clean_config = Config(**{**vars(fresh_config(tmp_path / "clean")), "batch_size": 1, "chunk_vectors": "encode"})
    clean = _Counting()
    build_index(clean_config, clean)
    assert clean.calls >= 3, clean.calls  # the kill below comes after two whole batches
    config = Config(**{**vars(fresh_config(tmp_path / "killed")), "batch_size": 1, "chunk_vectors": "encode"})
    pid = os.fork()
    if pid == 0:  # a first build that dies on its third batch, after two were computed
        try:
            build_index(config, _Counting(die_at=3))
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert store.load(config.index_dir) is None  # nothing was made live
    assert len(list(Path(config.index_dir, ".pending").glob("batch-*.json"))) == 2

    resumed = _Counting()
    data, report = build_index(config, resumed)
    assert resumed.texts == clean.texts - 8 == report.embedded  # the two journalled batches were not redone
    want = store.load(clean_config.index_dir)
    np.testing.assert_array_equal(data.sentence_vectors, want.sentence_vectors)
    np.testing.assert_array_equal(data.chunk_vectors, want.chunk_vectors)
    assert not Path(config.index_dir, ".pending").exists()  # saved: the journal is gone


def test_a_damaged_or_foreign_journal_is_not_trusted(tmp_path: Path) -> None:
    from rag.journal import Journal

    journal = Journal(tmp_path, "model-a", 3)
    journal.append(["k1", "k2"], np.ones((2, 3), dtype=np.float32))
    journal.append(["k3"], np.full((1, 3), 2.0, dtype=np.float32))
    Path(tmp_path, ".pending", "batch-000001.npy").write_bytes(b"\x93NUMPY torn")  # killed mid-write
    assert sorted(Journal(tmp_path, "model-a", 3).load()) == ["k1", "k2"]
    assert Journal(tmp_path, "model-b", 3).load() == {}  # another model's vectors: discarded
    assert not Path(tmp_path, ".pending").exists()
