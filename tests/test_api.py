"""Worked examples for the public API (rag.api, rag.config): input validation and corpus management.

Bad input raises the library's own errors with messages that name the bad value:
QuestionError for questions and history, ConfigError for settings, CorpusError for files.
Adding a broken file changes nothing on disk; file names from users are sanitised.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

import rag
from rag import api, store
from rag.config import Config
from rag.errors import ArticleExistsError, ConfigError, CorpusError, QuestionError, RagError


def snapshot_of_disk(config: Config) -> dict[str, bytes]:
    """Every file under the corpus and index folders (lock files aside) with its bytes."""
    files = {}
    for root in (Path(config.corpus_dir), Path(config.index_dir)):
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.endswith(".lock"):
                files[str(path)] = path.read_bytes()
    return files


# --- questions ------------------------------------------------------------------------------

@pytest.mark.parametrize("question, message", [
    ("", "question is empty"),
    ("   ", "question is empty"),
    ("\n\t", "question is empty"),
    ("x" * 10_000, "10000 characters long; the limit is 2000"),
    (42, "must be a string, got int"),
    (None, "must be a string, got NoneType"),
    (b"Why?", "must be a string, got bytes"),
    (["Why?"], "must be a string, got list"),
])
def test_bad_questions_raise_question_error(tiny_config: Config, question, message: str) -> None:
    with pytest.raises(QuestionError, match=re.escape(message)):
        rag.ask(question, config=tiny_config)


@pytest.mark.parametrize("question, named", [
    ("Who\ud800 met Putin?", "question holds '\\ud800' at position 3"),
    ("\udcff\udcfe?", "question holds '\\udcff' at position 0"),  # b"\xff\xfe" read with surrogateescape
])
def test_text_that_is_not_unicode_raises_question_error(tiny_config: Config, question: str, named: str) -> None:
    with pytest.raises(QuestionError, match=re.escape(named) + ".*not text"):
        rag.ask(question, config=tiny_config)
    with pytest.raises(QuestionError, match=re.escape(named.replace("question", "query"))):
        rag.retrieve(question, config=tiny_config)
    with pytest.raises(QuestionError, match=re.escape(named.replace("question", "history[0]"))):
        rag.ask("When?", [(question, "An answer.")], config=tiny_config)


@pytest.mark.parametrize("dirty", [
    "Where did\x00 protesters gather?",
    "Where did \x1b[1;31mprotesters\x1b[0m gather?",
    "\x1b]0;title\x07Where did protesters\x7f gather?\x1b[K",
    "Where\x0b did\x85protesters\x1bc gather?",
])
def test_control_characters_and_terminal_escapes_do_not_change_the_answer(tiny_config: Config, dirty: str) -> None:
    clean = rag.ask("Where did protesters gather?", config=tiny_config)
    answer = rag.ask(dirty, config=tiny_config)
    assert answer.question == "Where did protesters gather?"
    assert (answer.text, answer.citations) == (clean.text, clean.citations)
    assert [p.text for p in rag.retrieve(dirty, config=tiny_config)] == [p.text for p in clean.passages]


def test_history_nested_100k_deep_raises_question_error(tiny_config: Config) -> None:
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(QuestionError, match=re.escape("history[0] must be a (question, answer) pair")):
        rag.ask("When did he arrive?", deep, config=tiny_config)


def test_question_limit_follows_the_config(tiny_config: Config) -> None:
    with pytest.raises(QuestionError, match="21 characters long; the limit is 20"):
        rag.ask("Why was he not held??", config=tiny_config.replace(max_question_chars=20))


@pytest.mark.parametrize("history, named", [
    ([("only a question",)], "('only a question',)"),
    ([("Who?", 5)], "('Who?', 5)"),
    ([None], "None"),
    ([("a", "b", "c")], "('a', 'b', 'c')"),
    ([("ok", "fine"), 7], "history[1]"),
])
def test_malformed_history_raises_question_error_naming_the_turn(tiny_config: Config, history, named) -> None:
    with pytest.raises(QuestionError, match=re.escape(named)):
        rag.ask("When did he arrive?", history, config=tiny_config)


@pytest.mark.parametrize("history", [5, 3.5, object()], ids=["int", "float", "object"])
def test_non_list_history_raises_question_error(tiny_config: Config, history) -> None:
    with pytest.raises(QuestionError, match="history"):
        rag.ask("When did he arrive?", history, config=tiny_config)


def test_question_errors_are_rag_errors() -> None:
    assert issubclass(QuestionError, RagError) and issubclass(ConfigError, RagError)
    assert issubclass(CorpusError, RagError) and issubclass(rag.IndexCorruptError, RagError)


# --- configuration --------------------------------------------------------------------------

@pytest.mark.parametrize("changes, named", [
    ({"top_k": 0}, "top_k must be a positive integer, got 0"),
    ({"top_k": -3}, "got -3"),
    ({"top_k": True}, "top_k must be a positive integer, got True"),
    ({"top_k": 2.5}, "got 2.5"),
    ({"candidates": 0}, "candidates must be a positive integer, got 0"),
    ({"chunk_sentences": 0}, "chunk_sentences must be a positive integer, got 0"),
    ({"chunk_overlap": 4}, "< chunk_sentences (4), got 4"),
    ({"chunk_overlap": 5}, "got 5"),
    ({"chunk_overlap": -1}, "got -1"),
    ({"mode": "nope"}, "got 'nope'"),
    ({"llm_model_size": "7b"}, "got '7b'"),
    ({"duplicate_threshold": 1.5}, "duplicate_threshold must be between 0 and 1, got 1.5"),
    ({"min_support": -0.1}, "got -0.1"),
    ({"max_history_turns": -1}, "got -1"),
    ({"date_from": date(2024, 9, 3), "date_to": date(2024, 9, 2)}, "date_from 2024-09-03 is after date_to 2024-09-02"),
    ({"date_from": "2024-09-03", "date_to": "2024-09-01"}, "is after date_to 2024-09-01"),
    ({"date_from": "yesterday"}, "got 'yesterday'"),
])
def test_bad_config_values_raise_config_error_naming_the_value(changes: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        Config(**changes)


def test_replace_validates_too(tiny_config: Config) -> None:
    with pytest.raises(ConfigError, match="top_k"):
        tiny_config.replace(top_k=0)
    assert tiny_config.replace(top_k=8).top_k == 8


@pytest.mark.parametrize("changes", [
    {"max_history_turns": "3"}, {"duplicate_threshold": "abc"}, {"min_support": None},
], ids=["max_history_turns", "duplicate_threshold", "min_support"])
def test_wrongly_typed_config_values_raise_config_error(changes: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(changes))):
        Config(**changes)


def test_config_coerces_paths_dates_and_outlets(tmp_path: Path) -> None:
    config = Config(corpus_dir=str(tmp_path), index_dir="~/idx", outlets=["Law Daily"], date_from="2024-09-02")
    assert config.corpus_dir == tmp_path
    assert config.index_dir == Path("~/idx").expanduser()
    assert config.outlets == ("Law Daily",)
    assert config.date_from == date(2024, 9, 2)


@pytest.mark.parametrize("environ, field, expected", [
    ({"NEWSDESK_TOP_K": "8"}, "top_k", 8),
    ({"NEWSDESK_TOP_K": ""}, "top_k", 6),  # empty means unset
    ({}, "top_k", 6),
    ({"NEWSDESK_MODEL": "hash"}, "model", "hash"),
    ({"NEWSDESK_MODE": "extractive"}, "mode", "extractive"),
    ({"NEWSDESK_MIN_SUPPORT": "0.5"}, "min_support", 0.5),
    ({"NEWSDESK_CORPUS_DIR": "/tmp/articles"}, "corpus_dir", Path("/tmp/articles")),
])
def test_from_env_with_a_dict(environ: dict, field: str, expected) -> None:
    assert getattr(Config.from_env(environ), field) == expected


def test_from_env_overrides_win_and_os_environ_is_not_read_when_given_a_dict(monkeypatch) -> None:
    monkeypatch.setenv("NEWSDESK_TOP_K", "9")
    assert Config.from_env({}).top_k == 6
    assert Config.from_env().top_k == 9
    assert Config.from_env({"NEWSDESK_TOP_K": "8"}, top_k=3).top_k == 3


@pytest.mark.parametrize("environ, named", [
    ({"NEWSDESK_TOP_K": "x"}, "NEWSDESK_TOP_K='x'"),
    ({"NEWSDESK_TOP_K": "2.5"}, "NEWSDESK_TOP_K='2.5'"),
    ({"NEWSDESK_MIN_SUPPORT": "lots"}, "NEWSDESK_MIN_SUPPORT='lots'"),
    ({"NEWSDESK_TOP_K": "0"}, "top_k must be a positive integer, got 0"),
    ({"NEWSDESK_MODE": "nope"}, "got 'nope'"),
])
def test_from_env_invalid_values_name_the_variable(environ: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        Config.from_env(environ)


# --- adding documents -----------------------------------------------------------------------

@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


def test_add_document_indexes_the_new_article(tiny_config: Config, uploads: Path) -> None:
    rag.build_index(tiny_config)
    src = uploads / "yaks.txt"
    src.write_text("Herders moved 3,000 yaks to the northern pastures in May.\n", encoding="utf-8")
    report = rag.add_document(src, tiny_config)
    assert report.added == ("yaks.txt",)
    assert (Path(tiny_config.corpus_dir) / "yaks.txt").read_bytes() == src.read_bytes()
    assert src.exists()  # copied, not moved
    answer = rag.ask("Where did herders move the yaks?", config=tiny_config)
    assert [c.source for c in answer.citations] == ["yaks.txt"]


@pytest.mark.parametrize("name, data, message", [
    ("broken.pdf", b"%PDF-1.4\nnot really a pdf", "broken or unreadable"),
    ("text.pdf", b"Putin arrived in Mongolia on Monday.", "is named .pdf but is not a PDF"),
    ("pdf.txt", b"%PDF-1.4\n...", "holds binary data"),
    ("image.html", b"\x89PNG\r\n\x1a\n....", "holds binary data"),
    ("nul.txt", b"Putin\x00arrived", "NUL bytes"),
    ("empty.txt", b"", "contains no text"),
    ("tool.exe", b"MZ...", "unsupported type '.exe'"),
])
def test_add_document_refuses_bad_files_and_changes_nothing(tiny_config: Config, uploads: Path,
                                                             name: str, data: bytes, message: str) -> None:
    rag.build_index(tiny_config)
    before = snapshot_of_disk(tiny_config)
    src = uploads / name
    src.write_bytes(data)
    with pytest.raises(CorpusError, match=re.escape(message)) as info:
        rag.add_document(src, tiny_config)
    assert name in str(info.value)
    assert snapshot_of_disk(tiny_config) == before
    assert sorted(d.source for d in rag.list_documents(tiny_config)) == ["court.txt", "pipeline.txt", "wire.txt"]


def test_add_document_decodes_utf16_by_its_byte_order_mark(tiny_config: Config, uploads: Path) -> None:
    rag.build_index(tiny_config)
    text = "Herders moved 3,000 yaks to the northern pastures in May.\n"
    src = uploads / "yaks.txt"
    src.write_bytes(text.encode("utf-16"))  # with a BOM; NUL bytes follow it
    assert rag.add_document(src, tiny_config).added == ("yaks.txt",)
    assert rag.get_document("yaks.txt", tiny_config).text == text


def test_binary_data_after_the_first_kilobytes_is_refused_not_indexed(tiny_config: Config, uploads: Path) -> None:
    """The upload sniff reads the first 2 KB; the loader still refuses NULs anywhere in the file."""
    rag.build_index(tiny_config)
    before = snapshot_of_disk(tiny_config)
    src = uploads / "report.txt"
    src.write_bytes(b"Herders moved yaks north in May. " * 100 + b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    with pytest.raises(CorpusError, match="'report.txt' holds NUL characters"):
        rag.add_document(src, tiny_config)
    assert snapshot_of_disk(tiny_config) == before


@pytest.fixture
def court_upload(uploads: Path) -> Path:
    """A user's own article that happens to share a file name with court.txt (which has a sidecar)."""
    src = uploads / "court.txt"
    src.write_text("My own notes: the court met in the capital on Friday.\n", encoding="utf-8")
    return src


def test_add_document_refuses_to_replace_an_article_by_default(tiny_config: Config, court_upload: Path) -> None:
    rag.build_index(tiny_config)
    before = snapshot_of_disk(tiny_config)
    with pytest.raises(ArticleExistsError, match=r"article named 'court\.txt' is already in the corpus.*replace=True"):
        rag.add_document(court_upload, tiny_config)
    assert issubclass(ArticleExistsError, CorpusError)
    assert snapshot_of_disk(tiny_config) == before
    assert rag.get_document("court.txt", tiny_config).outlet == "Law Daily"


def test_add_document_replace_drops_the_old_sidecar(tiny_config: Config, court_upload: Path) -> None:
    rag.build_index(tiny_config)
    corpus = Path(tiny_config.corpus_dir)
    report = rag.add_document(court_upload, tiny_config, replace=True)
    assert report.updated == ("court.txt",) and report.documents == 3
    assert (corpus / "court.txt").read_bytes() == court_upload.read_bytes()
    assert not (corpus / "court.txt.meta.json").exists()  # it described the old article
    doc = rag.get_document("court.txt", tiny_config)
    assert (doc.outlet, doc.published) == (None, None)  # not "Law Daily" any more
    assert doc.title == "My own notes: the court met in the capital on Friday."  # its own first sentence
    answer = rag.ask("When did the court meet in the capital?", config=tiny_config)
    assert answer.citations[0].source == "court.txt" and answer.citations[0].outlet is None


def test_add_document_refuses_oversized_files(tiny_config: Config, uploads: Path) -> None:
    src = uploads / "long.txt"
    src.write_text("This article is longer than ten bytes.", encoding="utf-8")
    with pytest.raises(CorpusError, match="long.txt"):
        rag.add_document(src, tiny_config.replace(max_upload_bytes=10))
    assert not (Path(tiny_config.corpus_dir) / "long.txt").exists()


def test_add_document_missing_file(tiny_config: Config, uploads: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        rag.add_document(uploads / "nowhere.txt", tiny_config)


@pytest.mark.parametrize("name, stored", [
    ("../../evil.txt", "evil.txt"),
    ("..\\..\\evil.txt", "evil.txt"),
    ("/etc/cron.d/evil.txt", "evil.txt"),
    ("../../evil name?.TXT", "evil-name.txt"),
    (".hidden.txt", "hidden.txt"),
])
def test_add_document_sanitises_path_traversal(tiny_config: Config, uploads: Path, tmp_path: Path,
                                               name: str, stored: str) -> None:
    rag.build_index(tiny_config)
    src = uploads / "upload.txt"
    src.write_text("Herders moved their yaks north in May.\n", encoding="utf-8")
    report = rag.add_document(src, tiny_config, name=name)
    assert report.added == (stored,)
    corpus = Path(tiny_config.corpus_dir)
    assert (corpus / stored).is_file()
    written = {p for p in tmp_path.rglob("*") if p.is_file() and "evil" in p.name}
    assert written <= {corpus / stored}
    assert not Path("/etc/cron.d/evil.txt").exists()


@pytest.mark.parametrize("name, expected", [
    ("../../evil name?.PDF", "evil-name.pdf"),
    ("..\\..\\evil.txt", "evil.txt"),
    ("/etc/passwd.txt", "passwd.txt"),
    ("....txt", "article.txt"),
    ("Putin\u2019s visit (AP).html", "Putin-s-visit-AP.html"),
    ("a" * 300 + ".md", "a" * 100 + ".md"),
])
def test_safe_file_name(name: str, expected: str) -> None:
    assert api.safe_file_name(name) == expected


@pytest.mark.parametrize("name, message", [
    ("noext", "has no extension"),
    ("", "has no extension"),
    ("x.exe", "unsupported type '.exe'"),
    ("court.txt.meta.json", "unsupported type '.json'"),  # cannot overwrite a sidecar
])
def test_safe_file_name_refuses(name: str, message: str) -> None:
    with pytest.raises(CorpusError, match=re.escape(message)):
        api.safe_file_name(name)


# --- removing, listing ------------------------------------------------------------------------

def test_remove_document_deletes_the_article_and_its_sidecar(tiny_config: Config) -> None:
    rag.build_index(tiny_config)
    corpus = Path(tiny_config.corpus_dir)
    report = rag.remove_document("court.txt", tiny_config)
    assert report.removed == ("court.txt",)
    assert not (corpus / "court.txt").exists()
    assert not (corpus / "court.txt.meta.json").exists()
    assert [d.source for d in rag.list_documents(tiny_config)] == ["pipeline.txt", "wire.txt"]
    assert "court.txt" not in store.load(tiny_config.index_dir).documents


@pytest.mark.parametrize("source", ["missing.txt", "court.txt.meta.json", "../corpus/court.txt", ""])
def test_remove_document_refuses_unknown_names(tiny_config: Config, source: str) -> None:
    before = snapshot_of_disk(tiny_config)
    with pytest.raises(CorpusError, match="no article named"):
        rag.remove_document(source, tiny_config)
    assert snapshot_of_disk(tiny_config) == before


def test_list_and_get_documents(tiny_config: Config) -> None:
    docs = rag.list_documents(tiny_config)
    assert [d.source for d in docs] == ["court.txt", "pipeline.txt", "wire.txt"]
    assert [d.title for d in docs] == [
        "Court without police", "Pipeline plans",  # a headline line; a sidecar's title
        "The court has no enforcement mechanism, so members decide whether to arrest suspects."]
    court = rag.get_document("court.txt", tiny_config)
    assert court == docs[0]
    assert court.outlet == "Law Daily" and court.published == date(2024, 9, 3)
    assert court.text == (Path(tiny_config.corpus_dir) / "court.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("source", ["nope.txt", "court.txt.meta.json", "COURT.TXT"])
def test_get_document_unknown_name(tiny_config: Config, source: str) -> None:
    with pytest.raises(CorpusError, match=re.escape(repr(source))):
        rag.get_document(source, tiny_config)


@pytest.mark.parametrize("call", ["ask", "build_index", "list_documents"])
def test_missing_corpus_folder_is_a_corpus_error(tmp_path: Path, call: str) -> None:
    config = Config(corpus_dir=tmp_path / "no-such-folder", index_dir=tmp_path / "index", model="hash")
    with pytest.raises(CorpusError, match="no-such-folder"):
        if call == "ask":
            rag.ask("Why?", config=config)
        else:
            getattr(rag, call)(config)


# --- the public surface ---------------------------------------------------------------------

def test_every_public_name_imports() -> None:
    namespace: dict = {}
    exec("from rag import *", namespace)
    for name in rag.__all__:
        assert namespace[name] is getattr(rag, name)
    assert {"ask", "Answer", "Citation", "Config", "build_index", "RagError"} <= set(rag.__all__)
    assert len(rag.__all__) == len(set(rag.__all__))
