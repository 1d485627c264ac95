"""The public front door: ask(), retrieve(), build_index(), evaluate() and corpus management.

Each function resolves its Config once (argument, else the process default read from the
environment) and hands it to the pipeline, the live index or the corpus folder."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from . import pipeline
from .config import Config, resolve
from .config import SUFFIXES
from .corpus import META_SUFFIX, bom_encoding, corpus_files, load_document
from .live_index import live_index
from .errors import ArticleExistsError, CorpusError
from .indexer import IndexReport, Progress
from .types import Answer, Document, Passage



def ask(question: str, history: list[tuple[str, str]] | None = None, *,
        config: Config | None = None,
        on_token: Callable[[str], None] | None = None) -> Answer:
    """Answer ``question`` from the corpus with verbatim, offset-exact citations.

    ``history`` holds earlier (question, answer) pairs, oldest first, so follow-ups like
    "When did he meet Putin?" are searched as standalone questions. ``on_token`` receives
    the answer text as it is produced (streaming). Builds the index on first use; while
    the corpus changed and the index is being updated, answers from the previous index
    (``Answer.index_status`` says so).
    """
    config = resolve(config)
    return pipeline.answer(question, history, config, on_token)


def retrieve(query: str, *, config: Config | None = None, top_k: int | None = None) -> list[Passage]:
    """The best passages for ``query`` (hybrid dense + BM25), without composing an answer."""
    config = resolve(config)
    return pipeline.search(query, config, top_k)


def build_index(config: Config | None = None, *, rebuild: bool = False,
                progress: Progress | None = None) -> IndexReport:
    """Build the index, or update it incrementally for added/changed/removed articles."""
    config = resolve(config)
    return live_index(config).update(rebuild=rebuild, progress=progress)


def index_status(config: Config | None = None) -> str | None:
    """'index updating: 40%' while the next index is built (questions are answered from the
    live one meanwhile), else None."""
    return live_index(resolve(config)).status()


def list_documents(config: Config | None = None) -> list[Document]:
    """The indexed articles (title, outlet, date, text), sorted by file name."""
    config = resolve(config)
    docs = live_index(config).snapshot().data.documents
    return [docs[name] for name in sorted(docs)]


def get_document(source: str, config: Config | None = None) -> Document:
    """One indexed article by file name; CorpusError if it is not in the index."""
    config = resolve(config)
    docs = live_index(config).snapshot().data.documents
    if source not in docs:
        raise CorpusError(f"no indexed article named {source!r}")
    return docs[source]


def add_document(path: str | Path, config: Config | None = None, *, name: str | None = None,
                 replace: bool = False, progress: Progress | None = None) -> IndexReport:
    """Copy an article into the corpus and index it; the corpus is untouched on error.

    The file is parsed before it is copied (a broken PDF raises CorpusError and nothing
    changes); ``name`` overrides the file name, which is sanitised either way. An article
    of that name already in the corpus raises ArticleExistsError unless ``replace``; a
    replacement also drops the old article's metadata sidecar (it described the old text).
    """
    config = resolve(config)
    path = Path(path)
    target_name = safe_file_name(name or path.name)
    if not path.is_file():
        raise CorpusError(f"file {str(path)!r} does not exist")
    size = path.stat().st_size
    if size > config.max_upload_bytes:
        raise CorpusError(f"file {target_name!r} is {size / 1e6:.1f} MB; the limit is "
                          f"{config.max_upload_bytes / 1e6:.0f} MB (Config.max_upload_bytes)")
    check_content_type(path, target_name)
    corpus = Path(config.corpus_dir)
    if not replace and os.path.lexists(corpus / target_name):
        raise _exists_error(target_name, corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    staging = corpus / f".upload-{uuid.uuid4().hex}-{target_name}"
    shutil.copyfile(path, staging)
    try:
        try:
            load_document(staging)  # raises CorpusError for broken or empty files
        except CorpusError as exc:
            raise CorpusError(str(exc).replace(staging.name, target_name)) from None
        _move_into_place(staging, corpus / target_name, replace)
    finally:
        staging.unlink(missing_ok=True)
    return build_index(config, progress=progress)


def _move_into_place(staging: Path, target: Path, replace: bool) -> None:
    """Put a checked upload at ``target``: over an existing article only when ``replace``
    (its sidecar is dropped first), else atomically refused if the name was taken meanwhile."""
    if replace:
        target.with_name(target.name + META_SUFFIX).unlink(missing_ok=True)
        os.replace(staging, target)
        return
    try:
        os.link(staging, target)  # unlike os.replace, never overwrites
    except FileExistsError:
        raise _exists_error(target.name, target.parent) from None


def _exists_error(name: str, corpus: Path) -> ArticleExistsError:
    return ArticleExistsError(f"an article named {name!r} is already in the corpus {str(corpus)!r}; "
                              "remove it first, or ask to replace it (replace=True)")


def remove_document(source: str, config: Config | None = None) -> IndexReport:
    """Delete an article (and its metadata sidecar) from the corpus and the index."""
    config = resolve(config)
    corpus = Path(config.corpus_dir)
    names = {p.name for p in corpus_files(corpus)}
    if source not in names:
        raise CorpusError(f"no article named {source!r} in {str(corpus)!r}")
    (corpus / source).unlink()
    (corpus / (source + META_SUFFIX)).unlink(missing_ok=True)
    return build_index(config)


def safe_file_name(name: str) -> str:
    """A plain file name with no path parts: '../../etc/x.txt' -> 'x.txt'.

    >>> safe_file_name("../../evil name?.PDF")
    'evil-name.pdf'
    """
    base = Path(str(name).replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        raise CorpusError(f"file name {name!r} has no extension; use one of {', '.join(SUFFIXES)}")
    clean = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-._")[:100]
    clean = "-".join(filter(None, clean.split("-")))
    suffix = "." + suffix.lower()
    if not clean:
        clean = "article"
    if suffix not in SUFFIXES:
        raise CorpusError(f"file {base!r} has unsupported type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    return clean + suffix


def check_content_type(path: Path, name: str) -> None:
    """Refuse files whose bytes do not match their extension (a .pdf must be a PDF...)."""
    head = Path(path).read_bytes()[:2048]
    suffix = Path(name).suffix.lower()
    if suffix == ".pdf":
        if not head.startswith(b"%PDF-"):
            raise CorpusError(f"file {name!r} is named .pdf but is not a PDF")
        return
    if head.startswith((b"%PDF-", b"PK\x03\x04", b"\x7fELF", b"MZ", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        raise CorpusError(f"file {name!r} is named {suffix} but holds binary data")
    if b"\x00" in head and not bom_encoding(head):  # UTF-16/32 text has NULs after its BOM
        raise CorpusError(f"file {name!r} is named {suffix} but holds binary data (NUL bytes)")
