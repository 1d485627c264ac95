"""Adapter for plain BM25 (bm25s, English stopwords + Snowball stemmer) over the same
1000/200-character chunks as the LangChain pipeline. No embedding model at all."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import Stemmer
from langchain_text_splitters import RecursiveCharacterTextSplitter

NAME = "bm25"
DESCRIPTION = "bm25s over RecursiveCharacterTextSplitter(1000, 200) chunks"


def load_chunks(corpus_dir: Path) -> list[dict]:
    split = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = []
    for path in sorted(Path(corpus_dir).glob("*.txt")):
        for text in split.split_text(path.read_text(encoding="utf-8")):
            chunks.append({"source": path.name, "text": text})
    return chunks


class System:
    def __init__(self, corpus_dir: Path, index_dir: Path) -> None:
        self.corpus_dir, self.index_dir = Path(corpus_dir), Path(index_dir)
        self.stemmer = Stemmer.Stemmer("english")
        self.model = None
        self.chunks: list[dict] = []

    def build(self) -> dict:
        self.chunks = load_chunks(self.corpus_dir)
        tokens = bm25s.tokenize([c["text"] for c in self.chunks], stopwords="en",
                                stemmer=self.stemmer, show_progress=False)
        self.model = bm25s.BM25()
        self.model.index(tokens, show_progress=False)
        self.model.save(str(self.index_dir), show_progress=False)
        (self.index_dir / "chunks.json").write_text(json.dumps(self.chunks))
        return {"chunks": len(self.chunks), "embedded": 0,
                "documents": len({c["source"] for c in self.chunks})}

    def update(self, changed: str) -> dict:
        self.build()
        return {"how": "full rebuild (bm25s has no incremental update)", "embedded": 0}

    def load(self) -> None:
        self.model = bm25s.BM25.load(str(self.index_dir))
        self.chunks = json.loads((self.index_dir / "chunks.json").read_text())

    def search(self, query: str, k: int) -> list[tuple[str, str, tuple[str, ...]]]:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=self.stemmer, show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        k = min(k, len(self.chunks))
        ids, _ = self.model.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [(self.chunks[i]["source"], self.chunks[i]["text"], ()) for i in ids[0].tolist()]
