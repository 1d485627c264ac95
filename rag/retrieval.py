"""Hybrid retrieval: dense (FAISS) + BM25 (bm25s), fused by reciprocal rank, duplicates collapsed.

Reciprocal-rank fusion scores a chunk ``sum(1 / (rrf_k + rank))`` over the two rankings, so
neither score scale dominates. Passages that several outlets carry almost verbatim (wire
copy) are collapsed into one, remembering the other sources in ``Passage.also_in``.
"""

from __future__ import annotations

import numpy as np

from .config import Config
from .store import IndexData, searches_sentences
from .types import Passage


def allowed_sources(data: IndexData, config: Config) -> set[str] | None:
    """Articles allowed by the outlet/date filters (None: no filter set)."""
    if not (config.outlets or config.date_from or config.date_to):
        return None
    wanted = {o.casefold() for o in config.outlets}
    allowed = set()
    for source, doc in data.documents.items():
        if wanted and (doc.outlet or "").casefold() not in wanted:
            continue
        if config.date_from and (doc.published is None or doc.published < config.date_from):
            continue
        if config.date_to and (doc.published is None or doc.published > config.date_to):
            continue
        allowed.add(source)
    return allowed


def chunk_mask(data: IndexData, config: Config) -> np.ndarray | None:
    """Boolean mask of chunks allowed by the outlet/date filters (None: all allowed)."""
    allowed = allowed_sources(data, config)
    if allowed is None:
        return None
    articles = np.array([d.source in allowed for d in data.chunks.sentences.docs], dtype=bool)
    return articles[data.chunks.articles]


def retrieve(data: IndexData, embedder, query: str, config: Config, top_k: int | None = None) -> list[Passage]:
    """Best ``top_k`` passages for ``query`` (``top_k=None``: ``config.top_k``)."""
    k = config.top_k if top_k is None else top_k
    qvec = embedder.embed([query])[0]
    if not data.chunks or k <= 0:
        return []
    mask = chunk_mask(data, config)
    n_cand = max(config.candidates, k * 3)

    d_ids = dense_ranking(data, qvec, n_cand, mask)
    s_scores, s_ids = data.bm25.search(query, n_cand, mask=mask)

    fused: dict[int, float] = {}
    for ranking in (d_ids, s_ids):
        for rank, cid in enumerate(ranking.tolist(), start=1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (config.rrf_k + rank)
    sparse = dict(zip(s_ids.tolist(), s_scores.tolist()))
    ordered = sorted(fused, key=lambda cid: (-fused[cid], cid))

    chosen: list[int] = []
    also: dict[int, list[str]] = {}
    for cid in ordered:
        twin = _duplicate_of(data, cid, chosen, config.duplicate_threshold)
        if twin is None:
            chosen.append(cid)
            also[cid] = []
            if len(chosen) >= k:
                break
        elif data.chunks[cid].source != data.chunks[twin].source:
            if data.chunks[cid].source not in also[twin]:
                also[twin].append(data.chunks[cid].source)

    chunk_vecs = data.chunk_vectors[chosen] if chosen else np.zeros((0, len(qvec)), np.float32)
    dense = chunk_vecs @ qvec
    passages = []
    for rank, (cid, cos) in enumerate(zip(chosen, dense.tolist()), start=1):
        chunk = data.chunks[cid]
        doc = data.documents[chunk.source]
        passages.append(Passage(
            rank=rank, chunk_id=cid, source=chunk.source, title=doc.title, outlet=doc.outlet,
            published=doc.published, start=chunk.start, end=chunk.end,
            text=doc.text[chunk.start:chunk.end], score=fused[cid], dense_score=float(cos),
            sparse_score=float(sparse.get(cid, 0.0)), also_in=tuple(also[cid]),
        ))
    return passages


def dense_ranking(data: IndexData, qvec: np.ndarray, n: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Up to ``n`` chunk ids by dense similarity to ``qvec``, best first (``mask``: only
    these chunks, scored exactly). Chunks score as their vector, or in a sentence-searching
    index (``store.searches_sentences``) as their best retrievable sentence."""
    if not searches_sentences(data.manifest):
        if mask is None:
            return data.store.search(qvec, n)[1]
        allowed = np.flatnonzero(mask)
        return allowed[np.argsort(-(data.chunk_vectors[allowed] @ qvec), kind="stable")[:n]]
    first, last = data.chunk_bounds
    if mask is None:  # a chunk holds chunk_sentences sentences: fetch enough for n chunks
        _, sentence_ids = data.store.search(qvec, n * int(np.max(last - first + 1, initial=1)))
    else:
        allowed = np.flatnonzero(mask)
        members = np.unique(np.concatenate([np.arange(first[c], last[c] + 1) for c in allowed.tolist()]
                                           or [np.zeros(0, dtype=np.int64)]))
        sentence_ids = members[np.argsort(-(data.sentence_vectors[members] @ qvec), kind="stable")]
    chosen: dict[int, None] = {}
    for sid in sentence_ids.tolist():
        if not data.retrievable[sid]:
            continue
        c = int(np.searchsorted(first, sid, side="right")) - 1
        while c >= 0 and last[c] >= sid:  # overlapping windows: every chunk holding it
            if mask is None or mask[c]:
                chosen.setdefault(c, None)
            c -= 1
        if len(chosen) >= n:
            break
    return np.fromiter(chosen, dtype=np.int64, count=len(chosen))[:n]


def _duplicate_of(data: IndexData, cid: int, chosen: list[int], threshold: float) -> int | None:
    if not chosen:
        return None
    sims = data.chunk_vectors[chosen] @ data.chunk_vectors[cid]
    best = int(np.argmax(sims))
    return chosen[best] if sims[best] >= threshold else None
