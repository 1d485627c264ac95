"""Worked examples for the on-disk index (rag.store, rag.indexer) and its life in rag.live_index.

Round trip (build -> load gives the same tables and vectors), incremental updates that only
embed new text, crash-safe generation swaps, corruption detection and recovery, the
no-pickle rule and compatibility checks (stale-corpus detection and background updates:
test_background_updates.py). Everything uses the deterministic fake embedder (``model="hash"``).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest

import rag
from rag import indexer, packs, store
from rag.config import Config
from rag.corpus import load_document
from rag.embedding import load_embedder
from rag.live_index import forget_live_indexes, live_index
from rag.errors import IndexCorruptError
from rag.indexer import build_index as indexer_build
from rag.retrieval import dense_ranking
from rag.sparse import BM25Index
from rag.dense import ExactStore, FaissStore, exact_or_faiss
from tests.checks import index_file


def live_generation(config: Config) -> str:
    return (Path(config.index_dir) / "CURRENT").read_text(encoding="utf-8").strip()


def index_folders(config: Config) -> list[str]:
    return sorted(p.name for p in Path(config.index_dir).iterdir() if p.is_dir())


def add_article(config: Config, name: str, text: str) -> Path:
    path = Path(config.corpus_dir) / name
    path.write_text(text, encoding="utf-8")
    return path


# --- round trip -----------------------------------------------------------------------------

def test_build_then_load_round_trip(tiny_config: Config) -> None:
    embedder = load_embedder("hash")
    built, report = indexer_build(tiny_config, embedder)
    loaded = store.load(tiny_config.index_dir)
    assert loaded is not None
    assert loaded.documents == built.documents
    assert loaded.sentences == built.sentences
    assert loaded.chunks == built.chunks
    assert np.array_equal(loaded.retrievable, built.retrievable)
    assert np.array_equal(loaded.chunk_vectors, built.chunk_vectors)
    assert np.array_equal(loaded.sentence_vectors, built.sentence_vectors)
    # (chunk -> sentence membership is part of ``chunks``, compared above)
    assert loaded.manifest == built.manifest
    assert (report.documents, report.chunks, report.sentences) == (
        3, len(built.chunks), len(built.sentences))
    # both search the same way
    query = embedder.embed(["gas pipeline through Mongolia"])[0]
    for a, b in zip(built.store.search(query, 3), loaded.store.search(query, 3)):
        assert np.allclose(a, b)
    assert [list(x) for x in built.bm25.search("pipeline", 3)[1:]] == \
        [list(x) for x in loaded.bm25.search("pipeline", 3)[1:]]


def test_loaded_tables_keep_the_offset_contract(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    data = store.load(tiny_config.index_dir)
    for s in data.sentences:
        assert load_document(Path(tiny_config.corpus_dir) / s.source).text[s.start:s.end] == s.text
    for c in data.chunks:
        assert c.start == data.sentences[c.sentence_ids[0]].start
        assert c.end == data.sentences[c.sentence_ids[-1]].end
        assert all(data.retrievable[list(c.sentence_ids)])


def test_junk_sentences_are_stored_but_not_retrievable(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    data = store.load(tiny_config.index_dir)
    junk = [s for s in data.sentences if "email address" in s.text]
    assert len(junk) == 1 and not data.retrievable[junk[0].id]
    assert not any(junk[0].id in c.sentence_ids for c in data.chunks)  # in no chunk


class RecordingEmbedder:
    """The fake embedder, remembering every text it was asked to embed."""

    def __init__(self) -> None:
        self.inner = load_embedder("hash")
        self.name, self.fingerprint, self.dim = self.inner.name, self.inner.fingerprint, self.inner.dim
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        return self.inner.embed(texts)


def test_a_sentence_nothing_reads_is_not_embedded(tiny_config: Config) -> None:
    """The junk sentence (a byline: in no chunk, never a candidate, skipped by dense search)
    is stored with a zero vector and never sent to the model; a sentence repeated in one
    article (the repeat is not retrievable) shares the first one's vector."""
    add_article(tiny_config, "caption.txt", "Herders moved their yaks north.\n\n"
                "The winter was harsh this year.\n\nHerders moved their yaks north.\n")
    embedder = RecordingEmbedder()
    data, report = indexer_build(tiny_config, embedder)
    (junk,) = [s for s in data.sentences if "email address" in s.text]
    assert not data.retrievable[junk.id] and not data.sentence_vectors[junk.id].any()
    assert not any("email address" in t for t in embedder.texts)
    assert report.embedded == len(embedder.texts) == len(set(embedder.texts))
    first, repeat = [s for s in data.sentences if s.text == "Herders moved their yaks north."]
    assert data.retrievable[first.id] and not data.retrievable[repeat.id]
    np.testing.assert_array_equal(data.sentence_vectors[repeat.id], data.sentence_vectors[first.id])
    assert data.sentence_vectors[first.id].any()


def test_empty_index_folder_loads_as_none(tmp_path: Path) -> None:
    assert store.load(tmp_path / "never-built") is None


# --- incremental updates --------------------------------------------------------------------

def test_first_build_embeds_everything_then_nothing(tiny_config: Config) -> None:
    first = rag.build_index(tiny_config)
    assert first.added == ("court.txt", "pipeline.txt", "wire.txt")
    assert first.embedded > 0 and first.unchanged == 0
    again = rag.build_index(tiny_config)
    assert (again.embedded, again.unchanged, again.changed) == (0, 3, False)
    assert again.added == again.updated == again.removed == ()


def test_adding_one_article_embeds_only_its_texts(tiny_config: Config) -> None:
    first = rag.build_index(tiny_config)
    add_article(tiny_config, "yaks.txt", "Herders moved their yaks north.\n\nThe winter was harsh.\n")
    report = rag.build_index(tiny_config)
    assert report.added == ("yaks.txt",)
    assert report.unchanged == 3
    assert report.embedded == 2  # its two sentences (the chunk "A. B." is their mean)
    assert report.documents == 4
    assert report.sentences == first.sentences + 2


def test_adding_one_article_tokenizes_only_its_sentences(tiny_config: Config, monkeypatch) -> None:
    import rag.terms

    rag.build_index(tiny_config)
    seen: list[str] = []
    real = rag.terms.tokenize
    monkeypatch.setattr(rag.terms, "tokenize", lambda texts: seen.extend(texts) or real(texts))
    add_article(tiny_config, "yaks.txt", "Herders moved their yaks north.\n\nThe winter was harsh.\n")
    rag.build_index(tiny_config)
    assert seen == ["Herders moved their yaks north.", "The winter was harsh."]


def test_modifying_one_article_updates_it(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    add_article(tiny_config, "wire.txt", "Protesters gathered in Genghis Khan Square on Tuesday.\n")
    report = rag.build_index(tiny_config)
    assert report.updated == ("wire.txt",)
    assert report.unchanged == 2
    assert report.embedded == 1  # chunk and sentence share the same text
    data = store.load(tiny_config.index_dir)
    assert "Genghis Khan Square" in data.documents["wire.txt"].text


def test_editing_only_the_sidecar_updates_metadata_without_embedding(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    meta = Path(tiny_config.corpus_dir) / "court.txt.meta.json"
    meta.write_text(json.dumps({"title": "Renamed", "outlet": "Court News"}), encoding="utf-8")
    report = rag.build_index(tiny_config)
    assert report.updated == ("court.txt",)
    assert report.embedded == 0  # same text, cached vectors
    assert rag.get_document("court.txt", tiny_config).outlet == "Court News"


def test_deleting_one_article_removes_it(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    (Path(tiny_config.corpus_dir) / "wire.txt").unlink()
    report = rag.build_index(tiny_config)
    assert report.removed == ("wire.txt",)
    assert (report.embedded, report.documents) == (0, 2)
    data = store.load(tiny_config.index_dir)
    assert "wire.txt" not in data.documents
    assert not [s for s in data.sentences if s.source == "wire.txt"]
    assert not [c for c in data.chunks if c.source == "wire.txt"]


def test_incremental_result_equals_a_fresh_build(tiny_config: Config, tmp_path: Path) -> None:
    rag.build_index(tiny_config)
    add_article(tiny_config, "yaks.txt", "Herders moved their yaks north.\n")
    (Path(tiny_config.corpus_dir) / "pipeline.txt").unlink()
    rag.build_index(tiny_config)
    incremental = store.load(tiny_config.index_dir)
    fresh_config = tiny_config.replace(index_dir=tmp_path / "fresh")
    rag.build_index(fresh_config)
    fresh = store.load(fresh_config.index_dir)
    assert incremental.sentences == fresh.sentences
    assert incremental.chunks == fresh.chunks
    assert np.allclose(incremental.chunk_vectors, fresh.chunk_vectors)
    assert np.allclose(incremental.sentence_vectors, fresh.sentence_vectors)
    # tokens reused from the last build (not tokenized again) are the tokens a fresh build makes
    sentence_tokens = [t.span_tokens(i, i) for t in (incremental.terms, fresh.terms) for i in range(len(fresh.sentences))]
    assert sentence_tokens[:len(fresh.sentences)] == sentence_tokens[len(fresh.sentences):]
    assert sorted(incremental.terms.vocabulary) == sorted(fresh.terms.vocabulary)  # no term of the deleted article
    for query in ("herders yaks north", "pipeline gas Russia", "court warrant"):
        assert [a.tolist() for a in incremental.bm25.search(query, 5)] == [a.tolist() for a in fresh.bm25.search(query, 5)]


def test_a_build_with_nothing_changed_writes_nothing(tiny_config: Config) -> None:
    """`rag index` (and every eval, which brings the index up to date first) on an unchanged
    corpus keeps the live generation as it is; a changed article makes a new one."""
    rag.build_index(tiny_config)
    live = store.current_generation(tiny_config.index_dir)
    for fresh_process in (False, True):  # the live snapshot in memory, or read from disk
        if fresh_process:
            forget_live_indexes()
        report = rag.build_index(tiny_config)
        assert store.current_generation(tiny_config.index_dir) == live
        assert (report.embedded, report.changed, report.unchanged) == (0, False, 3)
    add_article(tiny_config, "yaks.txt", "Herders moved their yaks north.\n")
    assert rag.build_index(tiny_config).added == ("yaks.txt",)
    assert store.current_generation(tiny_config.index_dir) != live
    assert not live.exists()  # the old generation is removed once the new one is live


@pytest.mark.parametrize("chunk_vectors", ["sentence-mean", "encode"])
def test_re_indexing_one_article_hashes_only_its_texts(tiny_config: Config, tmp_path: Path, monkeypatch,
                                                       chunk_vectors: str) -> None:
    config = tiny_config.replace(chunk_vectors=chunk_vectors)
    rag.build_index(config)
    add_article(config, "wire.txt", "Protesters gathered in Genghis Khan Square on Tuesday.\n\nPolice watched.\n")
    before = store.load(config.index_dir)
    hashed: list[str] = []
    for module in (indexer, store):
        real = module.text_hash
        monkeypatch.setattr(module, "text_hash", lambda text, real=real: hashed.append(text) or real(text))
    report = rag.build_index(config)
    assert report.updated == ("wire.txt",) and report.unchanged == 2
    wire_texts = {" ".join(x.text.split()) for data in (before, store.load(config.index_dir))
                  for x in (*data.sentences, *data.chunks) if x.source == "wire.txt"}
    documents = {d.text for d in store.load(config.index_dir).documents.values()}  # their checksums
    assert hashed and set(hashed) - documents <= wire_texts  # the old and the new wire.txt's, none of the others'
    # and the vectors copied row for row are the ones a fresh build computes
    monkeypatch.undo()
    fresh = config.replace(index_dir=tmp_path / "fresh")
    rag.build_index(fresh)
    incremental, rebuilt = store.load(config.index_dir), store.load(fresh.index_dir)
    assert incremental.sentences == rebuilt.sentences and incremental.chunks == rebuilt.chunks
    assert np.allclose(incremental.sentence_vectors, rebuilt.sentence_vectors, atol=1e-6)
    assert np.allclose(incremental.chunk_vectors, rebuilt.chunk_vectors, atol=1e-6)


def test_unreadable_article_is_skipped_and_reported(tiny_config: Config) -> None:
    (Path(tiny_config.corpus_dir) / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    report = rag.build_index(tiny_config)
    assert [name for name, _ in report.skipped] == ["broken.pdf"]
    assert "broken.pdf" in report.skipped[0][1]
    assert report.documents == 3


# --- crash safety ---------------------------------------------------------------------------

def _boom(*args, **kwargs):
    raise OSError("disk full (simulated)")


def _fail_pointer_swap(monkeypatch) -> None:
    """Crash after the new generation folder is in place, before CURRENT is replaced."""
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == "CURRENT":
            raise OSError("power cut (simulated)")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(store.os, "replace", replace)


@pytest.mark.parametrize("crash", ["np.save", "packs.write_packs", "BM25Index.save", "CURRENT swap"])
def test_crash_while_saving_keeps_the_previous_generation(tiny_config: Config, monkeypatch, crash) -> None:
    rag.build_index(tiny_config)
    before = live_generation(tiny_config)
    add_article(tiny_config, "yaks.txt", "Herders moved their yaks north.\n")
    if crash == "np.save":
        monkeypatch.setattr(store.np, "save", _boom)
    elif crash == "packs.write_packs":
        monkeypatch.setattr(packs, "write_packs", _boom)
    elif crash == "BM25Index.save":
        monkeypatch.setattr(BM25Index, "save", _boom)
    else:
        _fail_pointer_swap(monkeypatch)
    with pytest.raises(OSError, match="simulated"):
        rag.build_index(tiny_config)
    monkeypatch.undo()

    assert live_generation(tiny_config) == before
    assert not [name for name in index_folders(tiny_config) if name.startswith(".tmp-")]
    data = store.load(tiny_config.index_dir)
    assert sorted(data.documents) == ["court.txt", "pipeline.txt", "wire.txt"]
    # the next build succeeds and leaves exactly one generation behind
    forget_live_indexes()
    report = rag.build_index(tiny_config)
    assert "yaks.txt" in report.added
    assert index_folders(tiny_config) == [live_generation(tiny_config)]


# --- corruption -----------------------------------------------------------------------------

def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage{[" * 10)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CORRUPTIBLE = ["manifest.json", "documents", "document_rows.npy", "sentences.npy", "chunks.npy", "sentence-vectors",
               "chunk-vectors", "sentence_vector_rows.npy", "bm25/size.txt", "bm25/vocab.index.json", "bm25/data.csc.index.npy"]


@pytest.mark.parametrize("damage", [_garbage, _truncate, Path.unlink], ids=["garbage", "truncated", "deleted"])
@pytest.mark.parametrize("name", CORRUPTIBLE)
def test_corrupted_file_raises_index_corrupt_error(tiny_config: Config, name: str, damage) -> None:
    rag.build_index(tiny_config)
    gen = store.current_generation(tiny_config.index_dir)
    damage(index_file(gen, name))
    with pytest.raises(IndexCorruptError, match="gen-"):
        store.load(tiny_config.index_dir)


@pytest.mark.parametrize("name", ["chunk_vectors.npy", "bm25/indptr.csc.index.npy"])
def test_empty_npy_file_raises_index_corrupt_error(tiny_config: Config, name: str) -> None:
    rag.build_index(tiny_config)
    (store.current_generation(tiny_config.index_dir) / name).write_bytes(b"")
    with pytest.raises(IndexCorruptError):
        store.load(tiny_config.index_dir)


def _reseal(gen: Path) -> None:
    """Rewrite the manifest's checksums to match the files, as a deliberate editor could."""
    store.write_manifest(gen, json.loads((gen / "manifest.json").read_text(encoding="utf-8")))


def test_a_manifest_written_fully_indented_still_verifies(tiny_config: Config) -> None:
    """Manifests used to be dumped with indent=1 all the way down; now only the top level is
    one key per line (the C encoder writes the values). The seal is checked on the bytes, so an
    index written before loads without a rebuild, and a changed byte is still caught."""
    rag.build_index(tiny_config)
    gen = store.current_generation(tiny_config.index_dir)
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    blank = json.dumps({**manifest, "sha256": "0" * 64}, indent=1, sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(blank).hexdigest()
    old_style = blank.replace(f'\n "sha256": "{"0" * 64}"'.encode(), f'\n "sha256": "{digest}"'.encode(), 1)
    (gen / "manifest.json").write_bytes(old_style)
    assert store.load(tiny_config.index_dir).manifest["built"] == manifest["built"]
    (gen / "manifest.json").write_bytes(old_style.replace(b'"built": "', b'"built": "1', 1))
    with pytest.raises(IndexCorruptError, match="does not match its SHA-256"):
        store.load(tiny_config.index_dir)


def _written_before_packs(gen: Path, data, faiss_file: str = "sentences.faiss", sentence_npy: bool = False) -> None:
    """Turn a generation into what the code wrote before packs (rag.packs): the articles in
    documents.jsonl, the sentence or chunk vectors in a FAISS file, chunk_vectors.npy, and
    (``sentence_npy``) sentence_vectors.npy; resealed, as that code sealed it."""
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    for name in packs.pack_names(manifest.pop("packs")) | {packs.rows_file(k) for k in packs.KINDS}:
        (gen / name).unlink()
    (gen / "documents.jsonl").write_text("".join(json.dumps(store._doc_row(d), ensure_ascii=False) + "\n"
                                                 for d in data.documents.values()), encoding="utf-8")
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    np.save(gen / "chunk_vectors.npy", data.chunk_vectors, allow_pickle=False)
    if sentence_npy:
        np.save(gen / "sentence_vectors.npy", data.sentence_vectors, allow_pickle=False)
    searched = data.sentence_vectors if faiss_file == "sentences.faiss" else data.chunk_vectors
    FaissStore.from_vectors(np.ascontiguousarray(searched)).write(gen / faiss_file)
    _reseal(gen)


def test_sentence_vectors_are_kept_once_in_their_packs(tiny_config: Config) -> None:
    """A sentence-search generation keeps its sentence vectors once, in its vector packs (no
    FAISS file, no sentence_vectors.npy): built or loaded, ``sentence_vectors`` is a read-only
    view of the vectors FAISS searches, not a second copy."""
    embedder = load_embedder("hash")
    built, _ = indexer_build(tiny_config, embedder)
    gen = store.current_generation(tiny_config.index_dir)
    assert index_file(gen, "sentence-vectors").exists()
    assert not (gen / "sentences.faiss").exists() and not (gen / "sentence_vectors.npy").exists()
    loaded = store.load(tiny_config.index_dir)
    expected = embedder.embed([" ".join(s.text.split()) for s in loaded.sentences])
    expected[~loaded.retrievable] = 0.0  # junk sentences are not embedded (test above)
    for data in (built, loaded):
        np.testing.assert_allclose(data.sentence_vectors, expected, atol=1e-6)
        assert np.shares_memory(data.sentence_vectors, data.store.vectors())
        assert not data.sentence_vectors.flags.writeable and data.sentence_vectors.flags.aligned
    vectors = loaded.sentence_vectors
    del built, loaded, data
    gc.collect()  # the index and its store are gone; the view keeps their memory alive
    np.testing.assert_allclose(vectors, expected, atol=1e-6)


@pytest.mark.parametrize("sentence_npy", [False, True], ids=["sentences.faiss", "and sentence_vectors.npy"])
def test_a_generation_written_before_packs_still_loads(tiny_config: Config, sentence_npy: bool) -> None:
    """Generations written before kept the sentence vectors in sentences.faiss (and before
    that also in sentence_vectors.npy); they load as they are, one copy in memory, and the
    next build writes packs."""
    built = rag.build_index(tiny_config) and store.load(tiny_config.index_dir)
    gen = store.current_generation(tiny_config.index_dir)
    _written_before_packs(gen, built, sentence_npy=sentence_npy)
    data = store.load(tiny_config.index_dir)
    np.testing.assert_array_equal(data.sentence_vectors, built.sentence_vectors)
    np.testing.assert_array_equal(data.chunk_vectors, built.chunk_vectors)
    assert np.shares_memory(data.sentence_vectors, data.store.vectors())
    add_article(tiny_config, "yaks.txt", "Herders moved their yaks north.\n")
    rag.build_index(tiny_config)
    newer = store.current_generation(tiny_config.index_dir)
    assert index_file(newer, "sentence-vectors").exists() and not (newer / "sentences.faiss").exists()


@pytest.mark.parametrize("vectors", ["sentence-mean", "encode"])
def test_vectors_of_the_wrong_size_are_detected(tiny_config: Config, vectors: str) -> None:
    config = tiny_config.replace(chunk_vectors=vectors)
    rag.build_index(config)
    gen = store.current_generation(config.index_dir)
    path = index_file(gen, "chunk-vectors" if vectors == "sentence-mean" else "sentence_vectors.npy")
    np.save(path, np.zeros((1, 256), np.float32), allow_pickle=False)
    with pytest.raises(IndexCorruptError, match=f"'{path.name}' .* does not match its SHA-256"):
        store.load(config.index_dir)
    _reseal(gen)  # checksums that match do not hide tables that disagree
    with pytest.raises(IndexCorruptError, match="disagree on sizes|not float32 \\(\\d+, 256\\)"):
        store.load(config.index_dir)


@pytest.mark.parametrize("pointer", ["gen-nonexistent", "../elsewhere", "garbage"])
def test_current_pointing_nowhere_is_corrupt(tiny_config: Config, pointer: str) -> None:
    rag.build_index(tiny_config)
    (Path(tiny_config.index_dir) / "CURRENT").write_text(pointer + "\n", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="missing generation"):
        store.load(tiny_config.index_dir)


@pytest.mark.parametrize("name", ["sentences.faiss", "chunk_vectors.npy", "manifest.json", "sentences.npy"])
def test_ask_recovers_from_a_corrupted_index_by_rebuilding(tiny_config: Config, name: str) -> None:
    rag.build_index(tiny_config)
    damaged = live_generation(tiny_config)
    _garbage(store.current_generation(tiny_config.index_dir) / name)
    forget_live_indexes()  # as in a new process: nothing cached in memory
    answer = rag.ask("Where did protesters gather?", config=tiny_config)
    assert not answer.abstained
    assert "Sukhbaatar Square" in answer.text
    assert live_generation(tiny_config) != damaged
    assert store.load(tiny_config.index_dir) is not None


@pytest.mark.parametrize("field, value", [("version", 99), ("format", "someone-elses-index")])
def test_unknown_manifest_format_is_refused_by_name(tiny_config: Config, field: str, value) -> None:
    rag.build_index(tiny_config)
    manifest_path = store.current_generation(tiny_config.index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest[field] = value
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=re.escape(repr(value))) as info:
        store.load(tiny_config.index_dir)
    assert f"version {store.FORMAT_VERSION}" in str(info.value)
    forget_live_indexes()
    assert not rag.ask("Where did protesters gather?", config=tiny_config).abstained
    assert store.read_manifest(tiny_config.index_dir)["version"] == store.FORMAT_VERSION


# --- no pickle ------------------------------------------------------------------------------

def test_no_file_in_the_index_is_a_pickle(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    files = [p for p in Path(tiny_config.index_dir).rglob("*") if p.is_file()]
    npy = [p for p in files if p.suffix == ".npy"]
    assert len(npy) >= 5  # two vector tables + the BM25 sparse matrix
    for path in npy:
        array = np.load(path, allow_pickle=False)
        assert array.dtype != object
    for path in files:
        assert path.suffix not in (".pkl", ".pickle", ".joblib")
        head = path.read_bytes()[:2]
        assert not (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05"), path


def test_a_planted_pickle_is_refused_not_loaded(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    gen = store.current_generation(tiny_config.index_dir)
    evil = np.array([{"payload": "would run on unpickle"}] * 3, dtype=object)
    with index_file(gen, "chunk-vectors").open("wb") as fh:
        np.save(fh, evil, allow_pickle=True)
    with pytest.raises(IndexCorruptError, match="checksum"):  # refused before it is parsed
        store.load(tiny_config.index_dir)
    _reseal(gen)  # and with matching checksums, np.load still refuses to unpickle
    with pytest.raises(IndexCorruptError, match="pickle"):
        store.load(tiny_config.index_dir)


# --- compatibility --------------------------------------------------------------------------

@pytest.mark.parametrize("changes, check", [
    ({"chunk_sentences": 2, "chunk_overlap": 0}, lambda m: m["chunking"]["sentences"] == 2),
    ({"chunk_overlap": 0}, lambda m: m["chunking"]["overlap"] == 0),
    ({"model": "hash-64"}, lambda m: m["dim"] == 64 and m["model"] == "hash-64"),
], ids=["chunk_sentences", "chunk_overlap", "model"])
def test_changed_chunking_or_model_rebuilds_the_index(tiny_config: Config, changes, check) -> None:
    rag.build_index(tiny_config)
    changed = tiny_config.replace(**changes)
    report = rag.build_index(changed)
    assert report.added == ("court.txt", "pipeline.txt", "wire.txt")  # nothing reused
    assert report.unchanged == 0 and report.embedded > 0
    assert check(store.read_manifest(changed.index_dir))
    # and asking with the old settings rebuilds it back (in the background when only the
    # chunking differs: the index can answer meanwhile; another model's cannot)
    forget_live_indexes()
    rag.ask("Where did protesters gather?", config=tiny_config)
    assert live_index(tiny_config).wait(60)
    assert store.read_manifest(tiny_config.index_dir)["chunking"]["sentences"] == tiny_config.chunk_sentences
    assert store.read_manifest(tiny_config.index_dir)["dim"] == 256


def test_current_that_is_not_utf8_is_corrupt_and_rebuilt_with_a_logged_reason(tiny_config: Config,
                                                                               caplog) -> None:
    rag.build_index(tiny_config)
    (Path(tiny_config.index_dir) / "CURRENT").write_bytes(b"gen-\xff\xfe\n")
    with pytest.raises(IndexCorruptError, match=r"CURRENT' is not UTF-8 text: b'gen-\\xff\\xfe\\n'"):
        store.load(tiny_config.index_dir)
    forget_live_indexes()  # as in a new process
    with caplog.at_level(logging.WARNING, logger="rag.indexer"):
        answer = rag.ask("Where did protesters gather?", config=tiny_config)
    assert "Sukhbaatar Square" in answer.text
    assert "rebuilding the index" in caplog.text and "is not UTF-8 text" in caplog.text
    assert live_generation(tiny_config).startswith("gen-")


def test_a_long_article_reports_segmenting_progress_as_it_goes(tiny_config: Config) -> None:
    """A 20 MB article takes minutes to split into sentences: the build says how far it is
    (characters of new articles, per paragraph) instead of sitting at "reading 1/1"."""
    rag.build_index(tiny_config)
    long_text = "\n\n".join(f"Paragraph {i} says the herders moved north. It rained." for i in range(200))
    add_article(tiny_config, "long.txt", long_text)
    seen: list[tuple[str, int, int]] = []
    rag.build_index(tiny_config, progress=lambda stage, done, total: seen.append((stage, done, total)))
    segmenting = [(done, total) for stage, done, total in seen if stage == "segmenting"]
    assert len(segmenting) > 200  # one report per paragraph, not one per article
    assert [d for d, _ in segmenting] == sorted(d for d, _ in segmenting)
    assert segmenting[-1][0] == segmenting[-1][1] >= len(long_text)  # only the new article is segmented
    assert rag.index_status(tiny_config) is None  # the build is done


# --- term statistics are saved, not recounted at every start --------------------------------

def stats_of(data) -> tuple:
    from rag.evidence import TermStats

    stats = TermStats(data)
    return (stats.n, stats.df, stats.vocabulary, dict(stats.sentence_terms), dict(stats.article_terms))


def test_term_statistics_from_the_saved_table_equal_a_fresh_count(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    gen = Path(tiny_config.index_dir) / live_generation(tiny_config)
    assert {"terms.json", "terms_offsets.npy", "terms_ids.npy"} <= {p.name for p in gen.iterdir()}
    loaded = store.load(tiny_config.index_dir)
    recounted = store.make_index_data(loaded.manifest, loaded.documents, loaded.sentences, loaded.retrievable,
                                      loaded.chunks, loaded.chunk_vectors, loaded.sentence_vectors)
    assert stats_of(loaded) == stats_of(recounted)
    n, df, _, sentence_terms, article_terms = stats_of(loaded)
    assert df["sukhbaatar"] == 1 and "enforc" in article_terms["wire.txt"]
    assert set(sentence_terms) == set(np.flatnonzero(loaded.retrievable).tolist()) and n == len(sentence_terms)


def test_an_index_saved_before_the_term_table_still_loads(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    expected = stats_of(store.load(tiny_config.index_dir))
    gen = Path(tiny_config.index_dir) / live_generation(tiny_config)
    for name in ("terms.json", "terms_offsets.npy", "terms_ids.npy"):
        (gen / name).unlink()
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    store.write_manifest(gen, manifest)  # sealed as the older code sealed it: without those files
    assert stats_of(store.load(tiny_config.index_dir)) == expected  # counted again, the same


def test_dense_search_is_exact_for_a_small_archive_and_a_graph_for_a_big_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(3000, 48)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = FaissStore.from_vectors(vectors)  # far below dense.EXACT_LIMIT
    graph = FaissStore.from_vectors(vectors, exact_limit=1000)
    assert (exact.kind, graph.kind) == ("exact", "hnsw")
    graph.write(tmp_path / "chunks.faiss")
    loaded = FaissStore.read(tmp_path / "chunks.faiss")  # memory-mapped
    assert loaded.kind == "hnsw" and len(loaded) == 3000
    queries = rng.normal(size=(40, 48)).astype(np.float32)
    found = [len(set(exact.search(q, 10)[1]) & set(loaded.search(q, 10)[1])) for q in queries]
    assert sum(found) / (10 * len(queries)) >= 0.98  # recall@10 against exact search


def test_numpy_exact_search_finds_what_faiss_exact_search_finds(tmp_path: Path) -> None:
    """ExactStore (a sentence-searching index's search below EXACT_LIMIT) answers as FAISS's
    exact index: the same ids and scores, in the same order (equal scores: the lower id
    first, where FAISS's heap leaves them in any order)."""
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors[1500] = vectors[20]  # a tie
    ours, theirs = ExactStore(vectors), FaissStore.from_vectors(vectors)
    for q in [*rng.normal(size=(20, 32)).astype(np.float32), vectors[20]]:
        (s1, i1), (s2, i2) = ours.search(q, 25), theirs.search(q, 25)
        i2 = i2[np.lexsort((i2, -np.round(s2, 5)))]
        assert i1.tolist() == i2.tolist() and np.allclose(s1, np.sort(s2)[::-1], atol=1e-5)
    assert ours.search(vectors[20], 2)[1].tolist() == [20, 1500]
    assert ours.search(vectors[0], 5000)[1].shape == (2000,) and len(ours.search(vectors[0], 0)[1]) == 0
    assert np.shares_memory(ours.vectors(), vectors) and not ours.vectors().flags.writeable
    ours.write(tmp_path / "sentences.faiss")  # readable as a FAISS exact index
    assert FaissStore.read(tmp_path / "sentences.faiss").search(vectors[3], 3)[1].tolist() == ours.search(vectors[3], 3)[1].tolist()
    assert isinstance(exact_or_faiss(vectors), ExactStore) and exact_or_faiss(vectors, exact_limit=100).kind == "hnsw"


def test_a_generation_written_with_json_tables_is_still_read(tiny_config: Config) -> None:
    """Indexes written before the sentence and chunk tables became NumPy files load as they
    are (no rebuild, no re-embedding) and give the same tables."""
    rag.build_index(tiny_config)
    want = store.load(tiny_config.index_dir)
    gen = store.current_generation(tiny_config.index_dir)
    names = list(want.documents)
    for table in ("sentences", "chunks"):
        rows = np.load(gen / f"{table}.npy", allow_pickle=False).tolist()
        lines = (json.dumps([names[r[0]], r[1], r[2], bool(r[3]) if table == "sentences" else r[3], *r[4:]])
                 for r in rows)
        (gen / f"{table}.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        (gen / f"{table}.npy").unlink()
    store.write_manifest(gen, json.loads((gen / "manifest.json").read_text(encoding="utf-8")))
    old = store.load(tiny_config.index_dir)
    assert old.sentences == want.sentences and old.chunks == want.chunks
    assert old.retrievable.tolist() == want.retrievable.tolist()


def test_a_sentence_mean_index_searches_sentences_also_when_written_before_that(tiny_config: Config) -> None:
    """A "sentence-mean" generation searches its sentence vectors. One written before sentence
    search (chunks.faiss only, sentence vectors in an npy) is still read: the sentence index is
    made from its sentence vectors, and the next build writes them as packs."""
    config = tiny_config.replace(chunk_vectors="sentence-mean")
    rag.build_index(config)
    gen = store.current_generation(config.index_dir)
    data = store.load(config.index_dir)
    assert not (gen / "chunks.faiss").exists()
    assert len(data.store) == len(data.sentences)
    q = data.sentence_vectors[1]
    expected = dense_ranking(data, q, 3).tolist()
    _written_before_packs(gen, data, faiss_file="chunks.faiss", sentence_npy=True)
    older = store.load(config.index_dir)
    assert len(older.store) == len(older.sentences)
    assert dense_ranking(older, q, 3).tolist() == expected
    add_article(config, "yaks.txt", "Herders moved their yaks north.\n")
    rag.build_index(config)
    assert index_file(store.current_generation(config.index_dir), "sentence-vectors").exists()
