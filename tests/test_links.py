"""Worked examples for the rule that nothing is read through a link leading out of its folder.

A ``passwd.txt`` link to ``/etc/passwd`` in the corpus folder is refused with a reason (the
build reports it as skipped), so it is never indexed, answered from or served by
``get_document`` (the UI's ``/document``); a link inside the corpus folder is fine. Files
of the index folder linking out of it make the index corrupt, and it is rebuilt.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import rag
from rag import store
from rag.config import Config
from rag.corpus import file_hash, load_document
from rag.errors import CorpusError, IndexCorruptError
from rag.live_index import forget_live_indexes, live_index
from tests.checks import index_file

SECRET = "root:x:0:0 The vault code is swordfish.\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the corpus folder ----------------------------------------------------------------------

@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file next to the corpus folder, not in it: what a link must never bring in."""
    return write(tmp_path, "secret.txt", SECRET)


def test_an_article_linking_out_of_its_folder_is_refused(tmp_path: Path, outside: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "passwd.txt").symlink_to(outside)
    with pytest.raises(CorpusError, match=r"article '.*passwd\.txt' resolves to '.*secret\.txt', outside"):
        load_document(corpus / "passwd.txt")
    with pytest.raises(CorpusError, match="outside"):
        file_hash(corpus / "passwd.txt")


def test_a_sidecar_linking_out_of_its_folder_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write(tmp_path, "stolen.json", json.dumps({"title": "Sidecar from elsewhere"}))
    path = write(corpus, "a.txt", "Body text.\n")
    (corpus / "a.txt.meta.json").symlink_to(tmp_path / "stolen.json")
    with pytest.raises(CorpusError, match=r"metadata file '.*a\.txt\.meta\.json' resolves to .*outside"):
        load_document(path)


def test_a_link_to_another_article_in_the_folder_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "Putin arrived on Monday.\n")
    (tmp_path / "alias.txt").symlink_to(path)
    assert load_document(tmp_path / "alias.txt").text == load_document(path).text


def test_a_corpus_link_to_a_file_outside_is_skipped_with_a_reason_and_never_served(
        tiny_config: Config, tmp_path: Path) -> None:
    (Path(tiny_config.corpus_dir) / "passwd.txt").symlink_to(write(tmp_path, "secret.txt", SECRET))
    report = rag.build_index(tiny_config)
    assert [name for name, _ in report.skipped] == ["passwd.txt"]
    assert re.search(r"passwd\.txt' resolves to '.*secret\.txt', outside the folder", report.skipped[0][1])
    assert report.documents == 3
    with pytest.raises(CorpusError, match="no indexed article named 'passwd.txt'"):
        rag.get_document("passwd.txt", tiny_config)  # what the UI's /document endpoint serves
    answer = rag.ask("What is the vault code?", config=tiny_config)
    assert "swordfish" not in answer.text and all(p.source != "passwd.txt" for p in answer.passages)


def test_an_article_swapped_for_a_link_out_leaves_the_index(tiny_config: Config, tmp_path: Path) -> None:
    """Same size and mtime as the file it replaced: the change detector must still notice."""
    wire = Path(tiny_config.corpus_dir) / "wire.txt"
    rag.ask("Where did protesters gather?", config=tiny_config)
    outside = tmp_path / "outside.txt"
    shutil.copy2(wire, outside)  # copy2 keeps the mtime
    wire.unlink()
    wire.symlink_to(outside)
    rag.list_documents(tiny_config)  # notices the change; the index is updated in the background
    assert live_index(tiny_config).wait(60)
    assert "wire.txt" not in [d.source for d in rag.list_documents(tiny_config)]
    with pytest.raises(CorpusError, match="'wire.txt'"):
        rag.get_document("wire.txt", tiny_config)
    assert live_index(tiny_config).last_report.skipped[0][0] == "wire.txt"


# --- the index folder -----------------------------------------------------------------------

def _link_index_file(gen: Path, elsewhere: Path) -> None:
    path = index_file(gen, "documents")
    path.unlink()
    path.symlink_to(elsewhere / path.name)


def _link_current(gen: Path, elsewhere: Path) -> None:
    (elsewhere / "CURRENT").write_text(gen.name + "\n", encoding="utf-8")
    (gen.parent / "CURRENT").unlink()
    (gen.parent / "CURRENT").symlink_to(elsewhere / "CURRENT")


def _link_generation(gen: Path, elsewhere: Path) -> None:
    (gen.parent / "gen-linked").symlink_to(elsewhere)
    (gen.parent / "CURRENT").write_text("gen-linked\n", encoding="utf-8")


@pytest.mark.parametrize("link", [_link_index_file, _link_current, _link_generation],
                         ids=["articles pack", "CURRENT", "generation folder"])
def test_an_index_file_linking_out_of_the_index_folder_is_corrupt_and_rebuilt(
        tiny_config: Config, tmp_path: Path, link) -> None:
    rag.build_index(tiny_config)
    gen = store.current_generation(tiny_config.index_dir)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(gen, elsewhere)  # a complete, loadable generation: only its place is wrong
    link(gen, elsewhere)
    with pytest.raises(IndexCorruptError, match=r"resolves to '.*elsewhere.*', outside the folder"):
        store.load(tiny_config.index_dir)
    forget_live_indexes()
    assert "Sukhbaatar Square" in rag.ask("Where did protesters gather?", config=tiny_config).text
    live = store.current_generation(tiny_config.index_dir)
    assert not live.is_symlink() and not (Path(tiny_config.index_dir) / "CURRENT").is_symlink()
