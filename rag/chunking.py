"""Cut documents into sentences and overlapping windows of whole sentences (chunks).

Sentences that fall in junk spans, or repeat an earlier sentence of the same article
(captions printed twice), are kept in the sentence table but marked not retrievable,
and no chunk window spans across them.

>>> from rag.types import Document
>>> doc = Document(source="a.txt", text="One. Two. Three. Four. Five.", title="A")
>>> sents, chunks = chunk_document(doc, size=2, overlap=1)
>>> [c.text for c in chunks]
['One. Two.', 'Two. Three.', 'Three. Four.', 'Four. Five.']
"""

from __future__ import annotations

from collections.abc import Callable

import hashlib
from dataclasses import dataclass

from .cleaning import overlaps
from .types import Chunk, Document, Sentence
from .segment import split_sentences


@dataclass(frozen=True)
class SentenceRecord:
    """A sentence plus whether retrieval and answers may use it."""

    sentence: Sentence
    retrievable: bool


def text_hash(text: str) -> str:
    """Short content hash used as the embedding-cache key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def chunk_document(doc: Document, size: int, overlap: int, first_sentence_id: int = 0,
                   first_chunk_id: int = 0, on_progress: Callable[[int], None] | None = None
                   ) -> tuple[list[SentenceRecord], list[Chunk]]:
    """Sentences of ``doc`` and chunk windows of ``size`` sentences sharing ``overlap``;
    ``on_progress(chars_segmented)`` as segmentation goes."""
    records: list[SentenceRecord] = []
    seen: set[str] = set()
    for s, e in split_sentences(doc.text, on_progress=on_progress):
        text = doc.text[s:e]
        key = _normal(text)
        retrievable = not overlaps((s, e), doc.junk) and key not in seen and any(c.isalnum() for c in text)
        seen.add(key)
        records.append(SentenceRecord(Sentence(first_sentence_id + len(records), doc.source, s, e, text),
                                      retrievable))
    runs: list[list[Sentence]] = [[]]
    for rec in records:
        if rec.retrievable:
            runs[-1].append(rec.sentence)
        elif runs[-1]:
            runs.append([])
    chunks: list[Chunk] = []
    step = size - overlap
    for run in runs:
        if not run:
            continue
        starts = range(0, max(len(run) - overlap, 1), step) if len(run) > size else [0]
        for i in starts:
            window = run[i:i + size]
            chunks.append(Chunk(
                id=first_chunk_id + len(chunks), source=doc.source,
                start=window[0].start, end=window[-1].end,
                sentence_ids=tuple(s.id for s in window),
                text=" ".join(" ".join(s.text.split()) for s in window),
            ))
    return records, chunks
