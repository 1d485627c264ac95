"""Hybrid retrieval: dense (FAISS) + BM25 (bm25s), fused by reciprocal rank, duplicates collapsed.

Reciprocal-rank fusion scores a chunk ``sum(1 / (rrf_k + rank))`` over the two rankings, so
neither score scale dominates. Passages that several outlets carry almost verbatim (wire
copy) are collapsed into one, remembering the other sources in ``Passage.also_in``.
"""

from __future__ import annotations

import numpy as np

from .config import Config
from .store import IndexData
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
    return np.array([c.source in allowed for c in data.chunks], dtype=bool)


def retrieve(data: IndexData, embedder, query: str, config: Config, top_k: int | None = None) -> list[Passage]:
    """Best ``top_k`` passages for ``query`` (``top_k=None``: ``config.top_k``)."""
    k = config.top_k if top_k is None else top_k
    qvec = embedder.embed([query])[0]
    if not data.chunks or k <= 0:
        return []
    mask = chunk_mask(data, config)
    n_cand = max(config.candidates, k * 3)

    if mask is None:
        _, d_ids = data.store.search(qvec, n_cand)
    else:  # filtered: exact scores over the allowed subset
        allowed = np.flatnonzero(mask)
        scores = data.chunk_vectors[allowed] @ qvec
        order = np.argsort(-scores)[:n_cand]
        d_ids = allowed[order]
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


def _duplicate_of(data: IndexData, cid: int, chosen: list[int], threshold: float) -> int | None:
    if not chosen:
        return None
    sims = data.chunk_vectors[chosen] @ data.chunk_vectors[cid]
    best = int(np.argmax(sims))
    return chosen[best] if sims[best] >= threshold else None
