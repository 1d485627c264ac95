"""Adapter for our pipeline: rag with the default Config (hybrid dense + BM25, sentence windows).

Only the public API is used, except ``rag.live_index.live_index`` to load the model before the
index (so model load and index load are timed separately) and ``forget_live_indexes``.
"""

from __future__ import annotations

from pathlib import Path

import rag
from rag.live_index import live_index

NAME = "ours"
DESCRIPTION = "rag default Config: hybrid dense+BM25 (RRF), 4-sentence windows, overlap 1"


class System:
    def __init__(self, corpus_dir: Path, index_dir: Path) -> None:
        self.config = rag.Config(corpus_dir=corpus_dir, index_dir=index_dir)
        self.live = live_index(self.config)  # loads the embedding model, not the index

    def build(self) -> dict:
        """Index from scratch (read, segment, chunk, embed chunks + sentences, write)."""
        report = rag.build_index(self.config, rebuild=True)
        return {"chunks": report.chunks, "embedded": report.embedded, "documents": report.documents,
                "sentences": report.sentences}

    def update(self, changed: str) -> dict:
        """The documented way: rag.build_index() notices changed files by hash and re-embeds
        only texts it has not embedded before. ``changed`` is not passed: ours finds it."""
        report = rag.build_index(self.config)
        return {"how": "rag.build_index() incremental (finds the changed file itself by hash)",
                "embedded": report.embedded, "updated": list(report.updated)}

    def load(self) -> None:
        self.live.snapshot()  # loads the saved index (rebuilds only if stale/incompatible)

    def search(self, query: str, k: int) -> list[tuple[str, str, tuple[str, ...]]]:
        return [(p.source, p.text, p.also_in)
                for p in rag.retrieve(query, config=self.config, top_k=k)]

    def ask(self, question: str, history: list[tuple[str, str]]):
        return rag.ask(question, history, config=self.config)
