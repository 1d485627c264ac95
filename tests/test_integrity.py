"""Worked examples for index checksums and visible repairs (issue 11, defect 6).

The manifest holds the SHA-256 of every file of its generation, of each document's text and of
itself. An edited ``documents.jsonl`` (valid JSON, changed text), shifted offsets or one flipped
byte in any file make ``store.load`` raise IndexCorruptError naming the file; ``ask`` and
``build_index`` then rebuild from the corpus, log a WARNING saying what was wrong and what was
done, and put the same words in ``IndexReport.repaired``. Nothing of the damaged index is served
or carried into the next build.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import store
from rag.config import Config
from rag.corpus import load_document
from rag.errors import IndexCorruptError
from rag.live_index import forget_live_indexes, live_index
from tests.checks import assert_quotes_verbatim, index_file

QUESTION = "Where did protesters gather?"
INDEX_FILES = ["manifest.json", "documents", "document_rows.npy", "sentences.npy", "chunks.npy", "sentence-vectors",
               "chunk-vectors", "sentence_vector_rows.npy", "chunk_vector_rows.npy", "bm25/size.txt", "bm25/vocab.index.json",
               "bm25/params.index.json", "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy",
               "bm25/indptr.csc.index.npy", "terms.json", "terms_offsets.npy", "terms_ids.npy"]


def generation(config: Config) -> Path:
    return store.current_generation(config.index_dir)


def flip_byte(path: Path) -> None:
    """Change one bit of the middle byte: the smallest damage there is."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def edit_documents(gen: Path, old: str, new: str) -> None:
    """Edit article text inside the pack of articles, keeping every line valid JSON."""
    path = index_file(gen, "documents")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        row["text"] = row["text"].replace(old, new)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def shift_offsets(gen: Path, name: str) -> None:
    """Move every span of sentences.npy / chunks.npy one character to the right."""
    rows = np.load(gen / name, allow_pickle=False)
    rows[:, 1:3] += 1
    np.save(gen / name, rows, allow_pickle=False)


def assert_index_matches_corpus(config: Config) -> None:
    data = store.load(config.index_dir)
    for source, doc in data.documents.items():
        assert doc.text == load_document(Path(config.corpus_dir) / source).text, source
    for s in data.sentences:
        assert data.documents[s.source].text[s.start:s.end] == s.text


def ask_and_check_repair(config: Config, caplog, *words: str) -> rag.Answer:
    """As in a new process: ask, expect a rebuilt index, a logged reason naming ``words``."""
    forget_live_indexes()
    with caplog.at_level(logging.WARNING, logger="rag.indexer"):
        answer = rag.ask(QUESTION, config=config)
    assert "Sukhbaatar Square" in answer.text
    assert_quotes_verbatim(answer, config.corpus_dir)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rebuilding the index from the corpus" in warnings[0]
    assert all(word in warnings[0] for word in words), warnings[0]
    assert live_index(config).last_report.repaired == warnings[0]
    assert_index_matches_corpus(config)
    return answer


# --- what is stored -------------------------------------------------------------------------

def test_manifest_holds_a_checksum_per_file_and_document(tiny_config: Config) -> None:
    report = rag.build_index(tiny_config)
    assert report.repaired is None
    manifest = store.read_manifest(tiny_config.index_dir)
    gen = generation(tiny_config)
    assert sorted(manifest["checksums"]["files"]) == sorted(index_file(gen, n).relative_to(gen).as_posix()
                                                            for n in INDEX_FILES[1:])
    assert sorted(manifest["checksums"]["documents"]) == ["court.txt", "pipeline.txt", "wire.txt"]
    assert len(manifest["sha256"]) == 64
    assert "checksums" not in store.load(tiny_config.index_dir).manifest  # facts of the files, not the data


# --- edited text and offsets ----------------------------------------------------------------

def test_edited_document_text_is_corrupt_and_names_file_and_document(tiny_config: Config, caplog) -> None:
    rag.build_index(tiny_config)
    edit_documents(generation(tiny_config), "Sukhbaatar Square", "Genghis Khan Square")
    with pytest.raises(IndexCorruptError, match=r"'documents-[0-9a-f]{12}.jsonl' .*checksum \(changed documents: 'wire.txt'\)"):
        store.load(tiny_config.index_dir)
    answer = ask_and_check_repair(tiny_config, caplog, "documents-", "wire.txt")
    assert "Genghis" not in answer.text


@pytest.mark.parametrize("tamper", [
    lambda gen: edit_documents(gen, "Sukhbaatar Square", "Genghis Khan Square"),
    lambda gen: shift_offsets(gen, "sentences.npy"),
    lambda gen: shift_offsets(gen, "chunks.npy"),
    lambda gen: flip_byte(index_file(gen, "sentence-vectors")),  # where the sentence vectors are kept
], ids=["document text", "sentence offsets", "chunk offsets", "sentence vectors"])
def test_a_build_after_tampering_does_not_carry_it_over(tiny_config: Config, caplog, tamper) -> None:
    rag.build_index(tiny_config)
    tamper(generation(tiny_config))
    forget_live_indexes()  # a new process: nothing trusted in memory
    with caplog.at_level(logging.WARNING, logger="rag.indexer"):
        report = rag.build_index(tiny_config)
    assert report.repaired and "checksum" in report.repaired and report.repaired in caplog.text
    assert report.unchanged == 0 and report.embedded > 0  # nothing reused from the damaged index
    assert_index_matches_corpus(tiny_config)
    assert "Genghis" not in index_file(generation(tiny_config), "documents").read_text(encoding="utf-8")


def test_per_document_checksums_catch_an_edit_whose_file_checksums_were_rewritten(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    gen = generation(tiny_config)
    edit_documents(gen, "Sukhbaatar Square", "Genghis Khan Square")
    store.write_manifest(gen, json.loads((gen / "manifest.json").read_text(encoding="utf-8")))
    with pytest.raises(IndexCorruptError, match="hold text that differs from the text indexed for 'wire.txt'"):
        store.load(tiny_config.index_dir)


# --- one flipped byte in any file -----------------------------------------------------------

@pytest.mark.parametrize("name", INDEX_FILES)
def test_a_flipped_byte_in_any_index_file_is_corrupt_and_rebuilt_with_a_logged_reason(
        tiny_config: Config, caplog, name: str) -> None:
    rag.build_index(tiny_config)
    damaged = generation(tiny_config)
    target = index_file(damaged, name)
    name = target.relative_to(damaged).as_posix()
    flip_byte(target)
    with pytest.raises(IndexCorruptError, match=f"'{name}' in '.*gen-"):
        store.load(tiny_config.index_dir)
    ask_and_check_repair(tiny_config, caplog, name)
    assert generation(tiny_config) != damaged


def test_whitespace_added_to_the_manifest_is_detected(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    path = generation(tiny_config) / "manifest.json"
    path.write_bytes(path.read_bytes() + b"\n")  # same JSON, other bytes
    with pytest.raises(IndexCorruptError, match="'manifest.json' .* does not match its SHA-256"):
        store.load(tiny_config.index_dir)


@pytest.mark.parametrize("change", ["missing", "planted"])
def test_a_missing_or_planted_file_is_corrupt(tiny_config: Config, change: str) -> None:
    rag.build_index(tiny_config)
    gen = generation(tiny_config)
    if change == "missing":
        (gen / "bm25" / "params.index.json").unlink()
        match = "'bm25/params.index.json' .* is missing"
    else:
        (gen / "notes.txt").write_text("hello", encoding="utf-8")
        match = "'notes.txt' .* is not listed in the manifest"
    with pytest.raises(IndexCorruptError, match=match):
        store.load(tiny_config.index_dir)


# --- older, foreign and stale indexes are repaired out loud ----------------------------------

def test_an_index_without_checksums_is_an_older_format_and_rebuilt(tiny_config: Config, caplog) -> None:
    rag.build_index(tiny_config)
    path = generation(tiny_config) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for key in ("checksums", "sha256"):
        del manifest[key]
    path.write_text(json.dumps({**manifest, "version": 1}), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=f"version 1; this code reads .* version {store.FORMAT_VERSION}"):
        store.load(tiny_config.index_dir)
    ask_and_check_repair(tiny_config, caplog, "version 1")


def test_an_index_of_another_model_is_rebuilt_with_a_logged_reason(tiny_config: Config, caplog) -> None:
    rag.build_index(tiny_config.replace(model="hash-64"))
    ask_and_check_repair(tiny_config, caplog, "was built with model 'hash-64', not 'hash-256'")


def test_an_index_of_another_corpus_folder_never_reuses_an_article_by_its_file_dates(
        tiny_config: Config, tmp_path: Path, caplog) -> None:
    """Same name, size and modification time in another folder is not the same article."""
    rag.build_index(tiny_config)
    old = Path(tiny_config.corpus_dir) / "wire.txt"
    other = tmp_path / "other-corpus"
    other.mkdir()
    moved = other / "wire.txt"
    moved.write_text(old.read_text(encoding="utf-8").replace("Monday", "Sunday"), encoding="utf-8")
    stat = old.stat()
    os.utime(moved, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    config = tiny_config.replace(corpus_dir=other)
    with caplog.at_level(logging.WARNING, logger="rag.indexer"):
        report = rag.build_index(config)
    assert report.repaired and "it was built for" in report.repaired and report.repaired in caplog.text
    assert report.updated == ("wire.txt",) and report.removed == ("court.txt", "pipeline.txt")
    assert "Sunday" in rag.get_document("wire.txt", config).text


def test_a_routine_update_is_not_a_repair(tiny_config: Config, caplog) -> None:
    rag.build_index(tiny_config)
    (Path(tiny_config.corpus_dir) / "yaks.txt").write_text("Herders moved their yaks north.\n", encoding="utf-8")
    forget_live_indexes()
    with caplog.at_level(logging.WARNING, logger="rag.indexer"):
        report = rag.build_index(tiny_config)
    assert report.added == ("yaks.txt",) and report.repaired is None and not caplog.records
