"""Packs (rag/packs.py): a re-index writes the vectors and articles of what changed and links
the rest from the generation before; dead rows are bounded; damage is still caught."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rag import packs, store
from rag.chunking import text_hash
from rag.config import Config
from rag.embedding import load_embedder
from rag.errors import IndexCorruptError
from rag.indexer import build_index
from tests.checks import index_file


def corpus_of(folder: Path, n: int = 6) -> Config:
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for i in range(n):
        (corpus / f"a{i}.txt").write_text(f"Article {i} opens. It says {i} things. It ends on {i}.\n", encoding="utf-8")
    return Config(corpus_dir=corpus, index_dir=folder / "index", model="hash", stale_check_seconds=0.0)


def listed(config: Config, kind: str = "sentence") -> list:
    return json.loads((store.current_generation(config.index_dir) / "manifest.json").read_text())["packs"][kind]


def edit(config: Config, name: str, text: str) -> None:
    Path(config.corpus_dir, name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize("in_process", [True, False], ids=["live index in memory", "loaded from disk"])
def test_a_re_index_links_the_packs_and_writes_only_the_changed_vectors(tmp_path: Path, in_process: bool) -> None:
    config, embedder = corpus_of(tmp_path), load_embedder("hash")
    first, _ = build_index(config, embedder)
    ((pack, rows),) = listed(config)
    inode = (store.current_generation(config.index_dir) / pack).stat().st_ino
    edit(config, "a2.txt", "Article 2 was rewritten. Entirely. With four sentences now. The end.\n")
    updated, report = build_index(config, embedder, previous=first if in_process else None)
    assert report.updated == ("a2.txt",)
    gen = store.current_generation(config.index_dir)
    (old, old_rows), (new, new_rows) = listed(config)
    assert (old, old_rows) == (pack, rows) and (gen / old).stat().st_ino == inode  # the same file, linked
    assert new_rows == 4 == len(np.load(gen / new))  # only the rewritten article's sentences
    (old_docs, _), (new_docs, one) = listed(config, "document")  # the articles: the same
    assert one == 1 and b"rewritten" in (gen / new_docs).read_bytes()  # the rewritten one's row
    assert b"rewritten" not in (gen / old_docs).read_bytes()  # (its old row stays, dead)
    assert list(updated.documents) == [f"a{i}.txt" for i in range(6)]  # in article order
    again = store.load(config.index_dir)  # (checks every document's text against its checksum,
    # carried over from the manifest before for the unchanged ones)
    sums = json.loads((gen / "manifest.json").read_text())["checksums"]["documents"]
    assert sums == {source: text_hash(doc.text) for source, doc in again.documents.items()}
    np.testing.assert_array_equal(again.sentence_vectors, updated.sentence_vectors)
    np.testing.assert_array_equal(again.chunk_vectors, updated.chunk_vectors)
    fresh, _ = build_index(config.replace(index_dir=tmp_path / "fresh"), embedder)
    np.testing.assert_allclose(again.sentence_vectors, fresh.sentence_vectors, atol=1e-6)


def test_dead_rows_and_packs_are_bounded_by_rewriting_the_packs(tmp_path: Path) -> None:
    config, embedder = corpus_of(tmp_path, n=10), load_embedder("hash")
    data, _ = build_index(config, embedder)
    counts = []
    for i in range(10):  # each article rewritten once, in turn
        edit(config, f"a{i}.txt", f"Article {i} was rewritten. It has new words {i * 7}. More of them.\n")
        data, _ = build_index(config, embedder, previous=data)
        kept = listed(config)
        counts.append(len(kept))
        assert len(kept) <= packs.MAX_PACKS
        assert sum(rows for _, rows in kept) <= len(data.sentences) / (1 - packs.MAX_DEAD_SHARE)
    assert counts[:3] == [2, 3, 4]  # the first pack linked, one small pack per re-index ...
    assert 1 in counts  # ... until the first pack was mostly dead: all rewritten as one
    np.testing.assert_array_equal(store.load(config.index_dir).sentence_vectors, data.sentence_vectors)


def test_without_hard_links_everything_is_written(tmp_path: Path, monkeypatch) -> None:
    config, embedder = corpus_of(tmp_path), load_embedder("hash")
    first, _ = build_index(config, embedder)

    def refused(*args):
        raise OSError(1, "Operation not permitted (simulated file system without hard links)")
    monkeypatch.setattr(packs.os, "link", refused)
    edit(config, "a1.txt", "Article 1 changed. A little.\n")
    updated, _ = build_index(config, embedder, previous=first)
    ((name, rows),) = listed(config)
    assert rows == len(updated.sentences)
    np.testing.assert_array_equal(store.load(config.index_dir).sentence_vectors, updated.sentence_vectors)


def test_a_pack_damaged_under_a_running_process_is_caught_at_the_next_load(tmp_path: Path) -> None:
    """A process re-indexing from memory links the live packs without reading them: a pack
    damaged on disk meanwhile keeps its recorded checksum in the new generation, so the next
    load refuses it (and a build then starts from the corpus) instead of serving it."""
    config, embedder = corpus_of(tmp_path), load_embedder("hash")
    first, _ = build_index(config, embedder)
    damaged = index_file(store.current_generation(config.index_dir), "sentence-vectors")
    raw = bytearray(damaged.read_bytes())
    raw[-5] ^= 0x01
    damaged.write_bytes(bytes(raw))
    edit(config, "a4.txt", "Article 4 changed.\n")
    build_index(config, embedder, previous=first)
    with pytest.raises(IndexCorruptError, match="does not match its SHA-256"):
        store.load(config.index_dir)
    _, report = build_index(config, embedder)
    assert report.repaired and report.unchanged == 0
    assert store.load(config.index_dir) is not None


def test_a_manifest_naming_a_file_outside_the_packs_is_refused(tmp_path: Path) -> None:
    config = corpus_of(tmp_path)
    build_index(config, load_embedder("hash"))
    gen = store.current_generation(config.index_dir)
    with pytest.raises(ValueError, match="as a pack of sentence vectors"):
        packs.read_packs(gen, "sentence", [["../" + index_file(gen, "documents").name, 3]], 256)
    rows = np.load(gen / packs.rows_file("sentence"))
    rows[0, 1] = 10_000
    np.save(gen / packs.rows_file("sentence"), rows)
    with pytest.raises(ValueError, match="points outside its packs"):
        packs.read_packs(gen, "sentence", listed(config), 256)
    assert index_file(gen, "documents").exists()
