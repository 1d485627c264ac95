"""The one orchestration of a question: validate -> rewrite -> retrieve -> compose -> Answer.

Every front door calls these functions: ``rag.ask`` (``answer``), ``rag.retrieve``
(``search``), the LangChain adapters and calibration (``start``/``rewrite``/``retrieve``).
A frozen ``State`` carries the question from step to step, and the index ``Snapshot`` is
taken once, in ``start``, and used by every later step, so one question never mixes two
versions of the index.

>>> from rag.config import Config
>>> validate_question("  Why wasn't Putin arrested?  ", Config())
"Why wasn't Putin arrested?"
>>> validate_question("who\\x00 met \\x1b[1mPutin\\x1b[0m?", Config())
'who met Putin?'
"""

from __future__ import annotations

import dataclasses
import re
import reprlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .errors import QuestionError
from .extractive import ExtractiveAnswerer
from .live_index import Snapshot, live_index
from .reader import reader_for
from .verifier import verifier_for
from .retrieval import retrieve as hybrid_retrieve
from .rewrite import standalone_query
from .types import Answer, AnswerGenerator, Citation, Embedder, Passage

Turns = tuple[tuple[str, str], ...]

# terminal escapes (CSI "\x1b[1m", OSC "\x1b]0;title\x07", two-byte "\x1bc"): removed whole
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~])")
# other control characters (NUL, DEL, C1; not tab or newline) with the blanks around them: one space
_CONTROLS = re.compile(r"[ \t]*[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]+[ \t]*")
_SURROGATE = re.compile("[\ud800-\udfff]")  # not text: what an undecodable byte becomes (surrogateescape)
_SHORT = reprlib.Repr()  # a bounded repr for error messages: safe for values nested 100k deep
_SHORT.maxstring = _SHORT.maxother = 80


@dataclass(frozen=True)
class State:
    """One question on its way through the pipeline; each step returns a new State."""

    question: str
    history: Turns
    config: Config
    snapshot: Snapshot  # the index every step reads
    embedder: Embedder
    query: str = ""  # the standalone query (follow-ups resolved); set by rewrite()
    passages: tuple[Passage, ...] = ()  # the retrieval pool, best first; set by retrieve()
    started: float = field(default_factory=time.perf_counter)
    timings: tuple[tuple[str, float], ...] = ()  # (stage, seconds), in order
    index_status: str | None = None  # "index updating: 40%": the snapshot is the index before it

    def after(self, stage: str, since: float, **changes: Any) -> "State":
        """This state with ``changes`` and the time spent in ``stage`` recorded."""
        return dataclasses.replace(self, timings=self.timings + ((stage, time.perf_counter() - since),),
                                   **changes)


def validate_question(question: object, config: Config) -> str:
    """The question as plain text (see ``plain_text``), stripped; QuestionError naming the
    problem otherwise (not text, empty, too long)."""
    question = plain_text(question, "question").strip()
    if not question:
        raise QuestionError("question is empty; ask something like \"Why wasn't Putin arrested?\"")
    if len(question) > config.max_question_chars:
        raise QuestionError(f"question is {len(question)} characters long; the limit is "
                            f"{config.max_question_chars} (Config.max_question_chars)")
    return question


def plain_text(text: object, what: str) -> str:
    """``text`` without terminal escapes, its other control characters as one space, so a
    pasted NUL or colour code cannot change the answer; QuestionError if it is not text.

    >>> plain_text("Where did\\x00 protesters \\x1b[31mgather\\x1b[0m?", "question")
    'Where did protesters gather?'
    """
    if not isinstance(text, str):
        raise QuestionError(f"{what} must be a string, got {type(text).__name__}")
    if bad := _SURROGATE.search(text):
        raise QuestionError(f"{what} holds {bad.group()!r} at position {bad.start()}, which is not text "
                            "(an undecodable byte or a lone surrogate); send UTF-8 text")
    return _CONTROLS.sub(" ", _ANSI.sub("", text))


def validate_history(history: object) -> Turns:
    """Earlier turns as (question, answer) string pairs, oldest first (None answers -> "").

    >>> validate_history([["Who came?", "Putin [1]."], ("And when?", None)])
    (('Who came?', 'Putin [1].'), ('And when?', ''))
    """
    if history is None:
        return ()
    if not isinstance(history, (list, tuple)):
        raise QuestionError(f"history must be a list of (question, answer) pairs, got "
                            f"{type(history).__name__} {_SHORT.repr(history):.80}")
    turns = []
    for i, turn in enumerate(history):
        if (not isinstance(turn, (tuple, list)) or len(turn) != 2
                or not all(isinstance(x, str) or x is None for x in turn)):
            raise QuestionError(f"history[{i}] must be a (question, answer) pair of strings, "
                                f"got {_SHORT.repr(turn):.80}")
        turns.append(tuple(plain_text(x or "", f"history[{i}]") for x in turn))
    return tuple(turns)


def start(question: object, history: object, config: Config) -> State:
    """Validate the input and take the index snapshot this question will use throughout."""
    started = time.perf_counter()
    question = validate_question(question, config)
    turns = validate_history(history)
    live = live_index(config)
    snapshot = live.snapshot()  # never waits for a build, unless there is no index yet
    return State(question=question, history=turns, config=config, snapshot=snapshot,
                 embedder=live.embedder, started=started, index_status=live.status())


def rewrite(state: State) -> State:
    """Resolve a follow-up ("When did he meet Putin?") into a standalone query."""
    t = time.perf_counter()
    query = standalone_query(state.question, list(state.history), state.config.max_history_turns)
    return state.after("rewrite", t, query=query)


def retrieve(state: State) -> State:
    """The candidate pool for composing: ``max(candidates, top_k)`` fused passages."""
    t = time.perf_counter()
    k = max(state.config.candidates, state.config.top_k)
    pool = hybrid_retrieve(state.snapshot.data, state.embedder, state.query, state.config, k)
    return state.after("retrieve", t, passages=tuple(pool))


def compose(state: State, on_token: Callable[[str], None] | None = None) -> Answer:
    """Write the cited answer from the retrieved pool and assemble the Answer."""
    t = time.perf_counter()
    comp = answerer_for(state).compose(state.question, state.query, list(state.passages), on_token)
    timings = {**dict(state.timings), **comp.timings, "answer": time.perf_counter() - t}
    timings["total"] = time.perf_counter() - state.started
    config = state.config
    return Answer(question=state.question, text=comp.text, citations=list(comp.citations),
                  abstained=comp.abstained, query=state.query,
                  passages=shown_passages(state.passages, comp.citations, config.top_k),
                  timings=timings, mode=config.mode, support_counts=list(comp.support_counts),
                  unsupported=list(comp.unsupported), drafted=comp.drafted, conflicts=list(comp.conflicts),
                  confidence=comp.confidence,
                  tentative=comp.tentative, index_status=state.index_status)


def answer(question: object, history: object, config: Config,
           on_token: Callable[[str], None] | None = None) -> Answer:
    """The whole pipeline for one question."""
    return compose(retrieve(rewrite(start(question, history, config))), on_token)


def search(query: str, config: Config, top_k: int | None = None) -> list[Passage]:
    """The best ``top_k`` passages for ``query`` (default ``config.top_k``), no answer."""
    query = plain_text(query, "query").strip()
    live = live_index(config)
    return hybrid_retrieve(live.snapshot().data, live.embedder, query, config, top_k)


def extractive_answerer(state: State) -> ExtractiveAnswerer:
    """The default, offline answer generator over this state's snapshot."""
    snap = state.snapshot
    return ExtractiveAnswerer(snap.data, state.embedder, state.config, snap.stats,
                              reader=reader_for(state.config.reader, state.embedder.fingerprint),
                              verifier=verifier_for(state.config.verifier))


def answerer_for(state: State) -> AnswerGenerator:
    """The answer generator for ``config.mode``; LLM modes fall back to the extractive one."""
    extractive = extractive_answerer(state)
    if state.config.mode == "extractive":
        return extractive
    from .llm.answerer import generative_answerer  # langchain only in LLM modes: 1.4 s of a cold start

    return generative_answerer(state.config, state.embedder, extractive, state.snapshot.data.documents)


def shown_passages(pool: Sequence[Passage], citations: Sequence[Citation], top_k: int) -> list[Passage]:
    """The top ``top_k`` passages, plus any lower one that holds a cited quote (keeping its
    retrieval rank), so every citation can be seen in context."""
    chosen = list(pool[:top_k])
    for c in citations:
        if not any(_holds(p, c) for p in chosen):
            holder = next((p for p in pool if _holds(p, c)), None)
            if holder is not None:
                chosen.append(holder)
    return chosen


def _holds(passage: Passage, citation: Citation) -> bool:
    return passage.source == citation.source and passage.start <= citation.start and citation.end <= passage.end
