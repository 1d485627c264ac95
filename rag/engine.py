"""The loaded state for one corpus + index + model, shared by all threads of a process.

``get_engine(config)`` returns one Engine per (corpus, index, model, chunking); it loads
the index (building it on first use), notices when the corpus changed (checked at most
every ``config.stale_check_seconds``) and updates the index incrementally. Queries read an
immutable snapshot, so concurrent questions never see a half-updated index.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import store
from .config import Config
from .embedding import load_embedder
from .errors import CorpusError, IndexCorruptError, QuestionError
from .evidence import TermStats
from .extractive import ExtractiveAnswerer
from .backends import chat_model
from .generate import GenerativeAnswerer, make_llm_judge
from .history import standalone_query
from .protocols import AnswerGenerator
from .indexer import IndexReport, Progress, build_index, corpus_state, is_compatible
from .retrieval import retrieve
from .schema import Answer, Passage
from .store import IndexData


@dataclass(frozen=True)
class Snapshot:
    """An index and the statistics derived from it, swapped as one."""

    data: IndexData
    stats: TermStats


class Engine:
    """Index, embedder and answer generators for one corpus/index/model."""

    def __init__(self, config: Config, embedder=None) -> None:
        self.config = config
        self.embedder = embedder or load_embedder(config.model, config.batch_size)
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self.last_report: IndexReport | None = None

    # -- index lifecycle -------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The current index, loading, building or updating it when needed."""
        snap = self._snapshot
        if snap is not None and time.monotonic() - self._checked < self.config.stale_check_seconds:
            return snap
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self._load_or_build()
            elif self._is_stale(self._snapshot.data):
                self.update()
            self._checked = time.monotonic()
            return self._snapshot

    def update(self, *, rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
        """Bring the index up to date with the corpus (incrementally unless ``rebuild``)."""
        with self._lock:
            previous = self._snapshot.data if self._snapshot and not rebuild else None
            data, report = build_index(self.config, self.embedder, rebuild=rebuild,
                                       progress=progress, previous=previous)
            self._snapshot = Snapshot(data, TermStats(data))
            self._checked = time.monotonic()
            self.last_report = report
            return report

    def _load_or_build(self) -> Snapshot:
        data = None
        for _ in range(2):  # another process may swap generations while we read
            try:
                data = store.load(self.config.index_dir)
                break
            except IndexCorruptError:
                time.sleep(0.05)
        if data is None or not is_compatible(data.manifest, self.config, self.embedder) or self._is_stale(data):
            data, self.last_report = build_index(self.config, self.embedder, previous=data)
        return Snapshot(data, TermStats(data))

    def _is_stale(self, data: IndexData) -> bool:
        if str(Path(self.config.corpus_dir).resolve()) != data.manifest.get("corpus_dir"):
            return True
        if not Path(self.config.corpus_dir).is_dir():
            raise CorpusError(f"corpus folder {str(self.config.corpus_dir)!r} does not exist or is not a folder")
        return corpus_state(self.config.corpus_dir) != data.manifest.get("corpus_state")

    # -- answering steps (used by rag.chain) ------------------------------------------------
    def validate(self, question: Any, history: Any, config: Config) -> tuple[str, list[tuple[str, str]]]:
        if not isinstance(question, str):
            raise QuestionError(f"question must be a string, got {type(question).__name__}")
        question = question.strip()
        if not question:
            raise QuestionError("question is empty; ask something like \"Why wasn't Putin arrested?\"")
        if len(question) > config.max_question_chars:
            raise QuestionError(f"question is {len(question)} characters long; the limit is "
                                f"{config.max_question_chars} (Config.max_question_chars)")
        if history is not None and not isinstance(history, (list, tuple)):
            raise QuestionError(f"history must be a list of (question, answer) pairs, got "
                                f"{type(history).__name__} {history!r:.80}")
        turns: list[tuple[str, str]] = []
        for i, turn in enumerate(history or []):
            if (not isinstance(turn, (tuple, list)) or len(turn) != 2
                    or not all(isinstance(x, str) or x is None for x in turn)):
                raise QuestionError(f"history[{i}] must be a (question, answer) pair of strings, got {turn!r:.80}")
            turns.append((turn[0] or "", turn[1] or ""))
        return question, turns

    def rewrite(self, question: str, history: list[tuple[str, str]], config: Config) -> str:
        return standalone_query(question, history, config.max_history_turns)

    def retrieve(self, query: str, config: Config, top_k: int | None = None, pool: bool = False) -> list[Passage]:
        """Passages for ``query``; ``pool=True`` returns ``config.candidates`` of them."""
        snap = self.snapshot()
        k = max(config.candidates, config.top_k) if pool else top_k
        return retrieve(snap.data, self.embedder, query, config, k)

    def compose(self, state: dict[str, Any]) -> Answer:
        config: Config = state["config"]
        snap = self.snapshot()
        pool: list[Passage] = state["retrieval"]
        t = time.perf_counter()
        generator = self.generator(config, snap)
        comp = generator.compose(state["question"], state["query"], pool, state.get("on_token"))
        timings = {**state["timings"], **comp.timings, "answer": time.perf_counter() - t}
        timings["total"] = time.perf_counter() - state["started"]
        return Answer(question=state["question"], text=comp.text, citations=list(comp.citations),
                      abstained=comp.abstained, query=state["query"],
                      passages=shown_passages(pool, comp.citations, config.top_k),
                      timings=timings, mode=config.mode, support_counts=list(comp.support_counts),
                      unsupported=list(comp.unsupported), drafted=comp.drafted)

    def generator(self, config: Config, snap: Snapshot) -> AnswerGenerator:
        """The answer generator for ``config.mode``; LLM modes fall back to extractive."""
        extractive = ExtractiveAnswerer(snap.data, self.embedder, config, snap.stats)
        if config.mode == "extractive":
            return extractive
        model = chat_model(config)
        judge = (make_llm_judge(model) if config.llm_judge and config.mode == "llama-cpp"
                 and config.llm_model_path is None and config.llm_model_size == "1.5b" else None)
        return GenerativeAnswerer(config, self.embedder, chat_model=model, fallback=extractive,
                                  documents=snap.data.documents, min_similarity=config.llm_min_similarity,
                                  judge=judge)


def shown_passages(pool: list[Passage], citations, top_k: int) -> list[Passage]:
    """The top ``top_k`` passages, plus any lower one that holds a cited quote (keeping its
    retrieval rank), so every citation can be seen in context."""
    chosen = list(pool[:top_k])
    for c in citations:
        if not any(_holds(p, c) for p in chosen):
            holder = next((p for p in pool if _holds(p, c)), None)
            if holder is not None:
                chosen.append(holder)
    return chosen


def _holds(passage: Passage, citation) -> bool:
    return passage.source == citation.source and passage.start <= citation.start and citation.end <= passage.end


_engines: dict[tuple, Engine] = {}
_engines_lock = threading.Lock()


def engine_key(config: Config) -> tuple:
    return (str(Path(config.corpus_dir).resolve()), str(Path(config.index_dir).resolve()), config.model,
            config.chunk_sentences, config.chunk_overlap, config.chunk_vectors)


def get_engine(config: Config) -> Engine:
    """The shared Engine for this config's corpus, index, model and chunking."""
    key = engine_key(config)
    with _engines_lock:
        eng = _engines.get(key)
        if eng is None:
            eng = _engines[key] = Engine(config)
        return eng


def reset_engines() -> None:
    """Forget all loaded engines (tests; after deleting an index folder by hand)."""
    with _engines_lock:
        _engines.clear()
