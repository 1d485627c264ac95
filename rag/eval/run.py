"""Score the pipeline on a question set: load and check the JSONL, ask every question, and
measure retrieval, answers, citations, abstention and latency; plus the `rag eval` CLI glue.

The metric functions are pure and work on plain values, so each can be checked on a worked
example; ``evaluate`` only runs the questions and feeds them. The question-set format is
documented in tests/data/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from .. import api
from . import report
from ..config import MODES, PROJECT_ROOT, Config
from ..corpus import load_document
from ..errors import ConfigError, CorpusError, IndexCorruptError, RagError
from ..types import Answer, Citation, Passage

RUN_FORMAT = "newsdesk-eval-run/1"  # first key of every saved run; load_run refuses others
DEFAULT_QUESTIONS = PROJECT_ROOT / "tests" / "data" / "questions.jsonl"
NDCG_CUTOFF = 10
QUESTION_TYPES = ("fact", "who", "when", "where", "how-many", "why", "multi-source",
                  "follow-up", "unanswerable")

_FIELDS = ("id", "question", "history", "answerable", "answer", "alternatives", "patterns",
           "sources", "type", "notes")
_REQUIRED = ("id", "question", "answerable")


# --- the question set ------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    """One line of a question set (see tests/data/README.md)."""

    id: str
    question: str
    answerable: bool
    history: tuple[tuple[str, str], ...] = ()  # previous (question, answer) turns, oldest first
    answer: str = ""  # short gold answer; "" when unanswerable
    alternatives: tuple[str, ...] = ()  # other acceptable answers (normalised substrings)
    patterns: tuple[str, ...] = ()  # regexes; any match on the answer text counts as correct
    sources: tuple[str, ...] = ()  # corpus file names that state the answer
    type: str = "fact"  # one of QUESTION_TYPES
    line: int = 0  # 1-based line in the file, for messages


def load_questions(path: Path, *, corpus_dir: Path | None = None) -> tuple[Question, ...]:
    """Read and validate a JSONL question set; errors name the file, line and field.

    When ``corpus_dir`` is an existing folder, every ``sources`` entry must be a file in it.
    """
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"question set {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"question set {path} is not UTF-8: {exc}") from None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        where = f"{path} line {number}"
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        item = parse_question(obj, where=where, line=number)
        if item.id in seen:
            raise ConfigError(f"{where}: field 'id' {item.id!r} repeats line {seen[item.id]}")
        seen[item.id] = number
        if corpus_dir is not None and Path(corpus_dir).is_dir():
            for source in item.sources:
                if not (Path(corpus_dir) / source).is_file():
                    raise ConfigError(
                        f"{where}: field 'sources' names {source!r}, which is not a file in "
                        f"{corpus_dir}")
        questions.append(item)
    if not questions:
        raise ConfigError(f"question set {path} holds no questions")
    return tuple(questions)


def parse_question(obj: object, *, where: str = "question", line: int = 0) -> Question:
    """Validate one decoded JSON object and turn it into a Question.

    ``where`` prefixes every error message, e.g. "questions.jsonl line 3".
    """
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                          f"valid fields are {', '.join(_FIELDS)}")
    for name in _REQUIRED:
        if name not in obj:
            raise ConfigError(f"{where}: missing required field {name!r}")

    def text(name: str, *, empty_ok: bool = True) -> str:
        value = obj.get(name, "")
        if not isinstance(value, str) or (not empty_ok and not value.strip()):
            what = "a non-empty string" if not empty_ok else "a string"
            raise ConfigError(f"{where}: field {name!r} must be {what}, got {value!r}")
        return value

    def strings(name: str) -> tuple[str, ...]:
        value = obj.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(
                f"{where}: field {name!r} must be a list of non-empty strings, got {value!r}")
        return tuple(value)

    qid = text("id", empty_ok=False)
    question = text("question", empty_ok=False)
    answerable = obj["answerable"]
    if not isinstance(answerable, bool):
        raise ConfigError(f"{where}: field 'answerable' must be true or false, got {answerable!r}")
    history_raw = obj.get("history", [])
    if not isinstance(history_raw, list) or not all(
            isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) for t in turn)
            for turn in history_raw):
        raise ConfigError(f"{where}: field 'history' must be a list of [question, answer] "
                          f"string pairs, got {history_raw!r}")
    history = tuple((turn[0], turn[1]) for turn in history_raw)
    answer = text("answer")
    alternatives = strings("alternatives")
    patterns = strings("patterns")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}: field 'patterns' has an invalid regex {pattern!r}: "
                              f"{exc}") from None
    sources = strings("sources")
    default_type = "unanswerable" if not answerable else ("follow-up" if history else "fact")
    kind = obj.get("type", default_type)
    if kind not in QUESTION_TYPES:
        raise ConfigError(f"{where}: field 'type' must be one of {', '.join(QUESTION_TYPES)}; "
                          f"got {kind!r}")
    if "notes" in obj:
        text("notes")
    if answerable:
        if kind == "unanswerable":
            raise ConfigError(f"{where}: field 'type' is 'unanswerable' but 'answerable' is true")
        if not (answer.strip() or alternatives or patterns):
            raise ConfigError(f"{where}: answerable question {qid!r} gives no gold answer "
                              f"(fill 'answer', 'alternatives' or 'patterns')")
    else:
        if kind != "unanswerable":
            raise ConfigError(f"{where}: field 'type' must be 'unanswerable' when 'answerable' "
                              f"is false, got {kind!r}")
        for name, value in (("answer", answer), ("alternatives", alternatives),
                            ("patterns", patterns), ("sources", sources)):
            if value:
                raise ConfigError(f"{where}: field {name!r} must be empty for an unanswerable "
                                  f"question, got {value!r}")
    return Question(id=qid, question=question, answerable=answerable, history=history,
                    answer=answer, alternatives=alternatives, patterns=patterns,
                    sources=sources, type=kind, line=line)


# --- answer matching -------------------------------------------------------------------

_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u00a0": " "})
_MARKERS = re.compile(r"\s*\[\d+\]")


def normalize(text: str) -> str:
    """Fold case, diacritics, typographic quotes/dashes and runs of whitespace.

    "Ukhnaagiin  Khürelsükh’s" -> "ukhnaagiin khurelsukh's"
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_TYPOGRAPHY))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def matches_gold(text: str, answer: str, alternatives: Sequence[str] = (),
                 patterns: Sequence[str] = ()) -> bool:
    """True when ``text`` contains the gold answer or an alternative (after ``normalize``)
    or when any pattern matches (case-insensitive, on the text as given or normalised).

    Citation markers like "[2]" are removed first.
    ("Talks with Khürelsükh [1].", "Khurelsukh") -> True
    """
    plain = _MARKERS.sub("", text)
    folded = normalize(plain)
    for gold in (answer, *alternatives):
        wanted = normalize(gold)
        if wanted and wanted in folded:
            return True
    flags = re.IGNORECASE | re.DOTALL
    return any(re.search(p, plain, flags) or re.search(p, folded, flags) for p in patterns)


# --- retrieval metrics -----------------------------------------------------------------

def source_ranks(passages: Sequence[Passage]) -> dict[str, int]:
    """1-based rank of each distinct source in a best-first passage list.

    A passage counts for its own source and every source in ``also_in``, all at the same
    rank; a passage that brings no new source takes no rank.
    passages [a, b (also_in c), a, d] -> {"a": 1, "b": 2, "c": 2, "d": 3}
    """
    ranks: dict[str, int] = {}
    position = 0
    for passage in passages:
        new = [s for s in dict.fromkeys((passage.source, *passage.also_in)) if s not in ranks]
        if new:
            position += 1
            for source in new:
                ranks[source] = position
    return ranks


def _check_relevant(relevant: Iterable[str]) -> set[str]:
    wanted = set(relevant)
    if not wanted:
        raise ValueError("relevant must name at least one source")
    return wanted


def recall_at_k(ranks: Mapping[str, int], relevant: Iterable[str], k: int) -> float:
    """Share of relevant sources ranked within the top ``k``.

    ranks {"a": 1, "b": 3}, relevant {"a", "b"}, k=2 -> 0.5
    """
    wanted = _check_relevant(relevant)
    return sum(1 for s in wanted if ranks.get(s, k + 1) <= k) / len(wanted)


def reciprocal_rank(ranks: Mapping[str, int], relevant: Iterable[str]) -> float:
    """1 / rank of the best-ranked relevant source; 0.0 when none was retrieved.

    ranks {"a": 1, "b": 3}, relevant {"b"} -> 1/3
    """
    found = [ranks[s] for s in _check_relevant(relevant) if s in ranks]
    return 1.0 / min(found) if found else 0.0


def ndcg_at_k(ranks: Mapping[str, int], relevant: Iterable[str], k: int = NDCG_CUTOFF) -> float:
    """Binary-relevance nDCG@k; the ideal DCG counts only min(#relevant, k) items.

    ranks {"a": 2}, relevant {"a"} -> (1/log2(3)) / (1/log2(2)) = 0.6309...
    Sources tied at one rank (``also_in``) can beat the ideal ordering; the result is
    capped at 1.0.
    """
    wanted = _check_relevant(relevant)
    dcg = sum(1.0 / math.log2(ranks[s] + 1) for s in wanted if ranks.get(s, k + 1) <= k)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(wanted), k) + 1))
    return min(1.0, dcg / ideal)


# --- other aggregates ------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile; None for no values. ([10, 20, 30, 40], 50) -> 25.0"""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def survival_rate(drafts: Iterable[tuple[int, int]]) -> float | None:
    """Share of drafted sentences that survived verification, over (drafted, dropped) pairs
    with drafted > 0; None when nothing was drafted. [(4, 1), (2, 0), (0, 0)] -> 5/6
    """
    kept = total = 0
    for drafted, dropped in drafts:
        if drafted > 0:
            kept += drafted - dropped
            total += drafted
    return kept / total if total else None


def read_source_text(path: Path) -> str:
    """A corpus file's text exactly as the loader sees it (the text quotes are cut from):
    for .txt/.md the bytes decoded as UTF-8 with a BOM dropped and newlines untranslated,
    for .html/.pdf the extracted text."""
    return load_document(Path(path)).text


def citation_is_verbatim(citation: Citation, source_text: str | None,
                         passages: Sequence[Passage] = ()) -> bool:
    """True when the quote is exactly ``source_text[start:end]``.

    For formats whose loaded text cannot be re-read here (``source_text`` None: HTML, PDF),
    the quote must instead occur in a retrieved passage of the same source.
    """
    if source_text is not None:
        return (0 <= citation.start <= citation.end <= len(source_text)
                and source_text[citation.start:citation.end] == citation.quote)
    return any(p.source == citation.source and citation.quote in p.text for p in passages)


# --- results ---------------------------------------------------------------------------

@dataclass(frozen=True)
class QuestionResult:
    """How one question fared; ``failures`` says in words what went wrong."""

    id: str
    type: str
    question: str
    answerable: bool
    correct: bool  # answerable: matched gold without abstaining; unanswerable: abstained
    abstained: bool
    answer_text: str
    gold_answer: str
    gold_sources: tuple[str, ...]
    retrieved_sources: tuple[str, ...]  # distinct sources, best first
    cited_sources: tuple[str, ...]  # distinct sources of the citations, in citation order
    recall: float | None  # recall@k of gold sources; None without gold sources
    rr: float | None  # reciprocal rank
    ndcg: float | None  # nDCG@10
    citations: int = 0
    verbatim_citations: int = 0
    strict_citations: int = 0  # quote itself contains the gold answer
    source_citations: int = 0  # quote contains the gold answer or comes from a gold source
    wall_ms: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    drafted: int = 0
    dropped: int = 0  # drafted sentences that failed verification
    failures: tuple[str, ...] = ()
    error: str | None = None  # "ExceptionType: message" when ask() raised

    @property
    def cited_gold(self) -> int:
        return len(set(self.cited_sources) & set(self.gold_sources))


def score_question(question: Question, answer: Answer | None, *, k: int, wall_ms: float,
                   source_text: Callable[[str], str | None],
                   error: str | None = None) -> QuestionResult:
    """Score one answer (None when ask() failed with ``error``).

    ``source_text(name)`` returns a cited file's loaded text, None for formats checked
    against passages instead, or raises CorpusError when the file cannot be read.
    """
    gold = question.sources
    if answer is None:
        failures = (f"ask() failed: {error}",)
        recall, rr, ndcg = (0.0, 0.0, 0.0) if gold and question.answerable else (None,) * 3
        return QuestionResult(
            id=question.id, type=question.type, question=question.question,
            answerable=question.answerable, correct=False, abstained=False, answer_text="",
            gold_answer=question.answer, gold_sources=gold, retrieved_sources=(),
            cited_sources=(), recall=recall, rr=rr, ndcg=ndcg, wall_ms=wall_ms,
            failures=failures, error=error)

    ranks = source_ranks(answer.passages)
    retrieved = tuple(sorted(ranks, key=lambda s: ranks[s]))
    if question.answerable and gold:
        recall = recall_at_k(ranks, gold, k)
        rr = reciprocal_rank(ranks, gold)
        ndcg = ndcg_at_k(ranks, gold)
    else:
        recall = rr = ndcg = None

    failures: list[str] = []
    verbatim = strict = by_source = 0
    for citation in answer.citations:
        try:
            ok = citation_is_verbatim(citation, source_text(citation.source), answer.passages)
        except CorpusError as exc:
            ok = False
            failures.append(f"citation [{citation.n}]: {exc}")
        else:
            if not ok:
                failures.append(f"citation [{citation.n}] quote is not verbatim "
                                f"{citation.source}[{citation.start}:{citation.end}]")
        verbatim += ok
        if question.answerable:
            hit = matches_gold(citation.quote, question.answer, question.alternatives,
                               question.patterns)
            strict += hit
            by_source += hit or citation.source in gold
    cited = tuple(dict.fromkeys(c.source for c in answer.citations))

    if question.answerable:
        correct = not answer.abstained and matches_gold(
            answer.text, question.answer, question.alternatives, question.patterns)
        if answer.abstained:
            failures.insert(0, "abstained on an answerable question")
        elif not correct:
            failures.insert(0, "answer does not match the gold answer")
        if recall == 0.0:
            failures.append(f"no gold source in the top {k}")
        if not answer.abstained and answer.citations and not set(cited) & set(gold) and gold:
            failures.append("cites no gold source")
    else:
        correct = answer.abstained
        if not correct:
            failures.insert(0, "answered an unanswerable question")

    return QuestionResult(
        id=question.id, type=question.type, question=question.question,
        answerable=question.answerable, correct=correct, abstained=answer.abstained,
        answer_text=answer.text, gold_answer=question.answer, gold_sources=gold,
        retrieved_sources=retrieved, cited_sources=cited, recall=recall, rr=rr, ndcg=ndcg,
        citations=len(answer.citations), verbatim_citations=verbatim, strict_citations=strict,
        source_citations=by_source, wall_ms=wall_ms,
        timings_ms={key: float(value) * 1000.0 for key, value in answer.timings.items()},
        drafted=answer.drafted, dropped=len(answer.unsupported), failures=tuple(failures))


@dataclass(frozen=True)
class Metrics:
    """Aggregate scores of one run; None where a metric has no data (e.g. no citations)."""

    k: int
    n_questions: int
    n_answerable: int
    n_unanswerable: int
    n_errors: int
    accuracy: float | None  # answerable questions answered correctly (abstentions are wrong)
    recall_at_k: float | None
    mrr: float | None
    ndcg_at_10: float | None
    citation_verbatim_rate: float | None
    citation_precision_strict: float | None
    citation_precision_source: float | None
    citation_recall: float | None
    abstention_precision: float | None
    abstention_recall: float | None
    false_abstentions: int
    false_abstention_rate: float | None
    survival_rate: float | None
    latency_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)  # stage -> p50/p95
    accuracy_by_type: dict[str, float] = field(default_factory=dict)

    def flat(self) -> dict[str, float | int | None]:
        """Every metric under the name --fail-under/--fail-over use, e.g. "p95_total_ms"."""
        values: dict[str, float | int | None] = {
            f.name: getattr(self, f.name) for f in fields(self)
            if f.name not in ("latency_ms", "accuracy_by_type", "k")}
        for stage, stats in self.latency_ms.items():
            for name, value in stats.items():
                values[f"{name}_{stage}_ms"] = value
        return values


SCALAR_METRICS = tuple(f.name for f in fields(Metrics)
                       if f.name not in ("latency_ms", "accuracy_by_type", "k"))
_LATENCY_METRIC = re.compile(r"^p(50|95)_[a-z0-9_]+_ms$")


def _share(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _stage_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "stage"


def compute_metrics(results: Sequence[QuestionResult], *, k: int) -> Metrics:
    """Aggregate per-question results into Metrics (pure)."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    with_gold = [r for r in answerable if r.gold_sources and r.recall is not None]
    abstained = [r for r in results if r.abstained]
    true_abstentions = sum(1 for r in unanswerable if r.abstained)
    false_abstentions = sum(1 for r in answerable if r.abstained)
    cited_answerable = sum(r.citations for r in answerable)

    stages: dict[str, list[float]] = {}
    for r in results:
        for name, value in r.timings_ms.items():
            stages.setdefault(_stage_key(name), []).append(value)
    stages["wall"] = [r.wall_ms for r in results if r.error is None]
    latency = {stage: {"p50": percentile(values, 50), "p95": percentile(values, 95)}
               for stage, values in stages.items()}

    by_type: dict[str, float] = {}
    for kind in sorted({r.type for r in results}):
        group = [r for r in results if r.type == kind]
        by_type[kind] = sum(r.correct for r in group) / len(group)

    return Metrics(
        k=k,
        n_questions=len(results),
        n_answerable=len(answerable),
        n_unanswerable=len(unanswerable),
        n_errors=sum(1 for r in results if r.error is not None),
        accuracy=_share(sum(r.correct for r in answerable), len(answerable)),
        recall_at_k=_mean([r.recall for r in with_gold]),
        mrr=_mean([r.rr for r in with_gold]),
        ndcg_at_10=_mean([r.ndcg for r in with_gold]),
        citation_verbatim_rate=_share(sum(r.verbatim_citations for r in results),
                                      sum(r.citations for r in results)),
        citation_precision_strict=_share(sum(r.strict_citations for r in answerable),
                                         cited_answerable),
        citation_precision_source=_share(sum(r.source_citations for r in answerable),
                                         cited_answerable),
        citation_recall=_mean([r.cited_gold / len(set(r.gold_sources)) for r in with_gold]),
        abstention_precision=_share(true_abstentions, len(abstained)),
        abstention_recall=_share(true_abstentions, len(unanswerable)),
        false_abstentions=false_abstentions,
        false_abstention_rate=_share(false_abstentions, len(answerable)),
        survival_rate=survival_rate((r.drafted, r.dropped) for r in results),
        latency_ms=latency,
        accuracy_by_type=by_type,
    )


@dataclass(frozen=True)
class EvalRun:
    """One evaluation: what was run, the aggregate metrics and every question's result."""

    created: str  # ISO timestamp (UTC)
    questions_path: str
    questions_sha256: str  # of the question file's bytes; comparisons warn when it differs
    config: dict[str, object]  # the Config used, as JSON values
    metrics: Metrics
    results: tuple[QuestionResult, ...]
    format: str = RUN_FORMAT

    @property
    def failed(self) -> tuple[QuestionResult, ...]:
        return tuple(r for r in self.results if r.failures)

    def to_json(self) -> str:
        data = {"format": self.format, "created": self.created,
                "questions_path": self.questions_path,
                "questions_sha256": self.questions_sha256, "config": self.config,
                "metrics": asdict(self.metrics),
                "results": [asdict(r) for r in self.results]}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path


def load_run(path: Path) -> EvalRun:
    """Read a run saved by ``EvalRun.save`` (e.g. a previous report.json)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RagError(f"previous run {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RagError(f"previous run {path} is not readable JSON: {exc}") from None
    found = data.get("format") if isinstance(data, dict) else None
    if found != RUN_FORMAT:
        raise RagError(f"{path} has format {found!r}; this version reads {RUN_FORMAT!r}")
    try:
        metrics = Metrics(**data["metrics"])
        results = []
        for item in data["results"]:
            item = dict(item)
            for name in ("gold_sources", "retrieved_sources", "cited_sources", "failures"):
                item[name] = tuple(item[name])
            results.append(QuestionResult(**item))
        return EvalRun(created=data["created"], questions_path=data["questions_path"],
                       questions_sha256=data["questions_sha256"], config=data["config"],
                       metrics=metrics, results=tuple(results))
    except (KeyError, TypeError) as exc:
        raise RagError(f"{path} is not a complete evaluation run: {exc!r}") from None


# --- running ---------------------------------------------------------------------------

class _SourceTexts:
    """Cache of cited corpus files' text as loaded (every format is checked exactly)."""

    def __init__(self, corpus_dir: Path) -> None:
        self.corpus_dir = corpus_dir
        self._texts: dict[str, str | None] = {}

    def get(self, source: str) -> str | None:
        if source not in self._texts:
            self._texts[source] = read_source_text(self.corpus_dir / source)
        return self._texts[source]


def _config_json(config: Config) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, (Path, date)):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def evaluate(questions: Path, *, config: Config, k: int = 5,
             ask: Callable[..., Answer] | None = None, progress: bool = True) -> EvalRun:
    """Ask every question of the set and score the answers.

    ``ask`` defaults to ``rag.api.ask`` and is called as ``ask(question, history,
    config=config)``. Setup errors (ConfigError, CorpusError, IndexCorruptError) stop the
    run; any other exception is recorded against its question.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    path = Path(questions)
    items = load_questions(path, corpus_dir=config.corpus_dir)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    ask_fn = ask if ask is not None else api.ask
    texts = _SourceTexts(config.corpus_dir)
    results: list[QuestionResult] = []

    bar = Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.description}"),
                   console=Console(stderr=True), transient=True, disable=not progress)
    with bar:
        task = bar.add_task("", total=len(items))
        for item in items:
            bar.update(task, description=item.id)
            started = time.perf_counter()
            answer: Answer | None = None
            error: str | None = None
            try:
                answer = ask_fn(item.question, list(item.history), config=config)
                if not isinstance(answer, Answer):
                    error = f"TypeError: ask() returned {type(answer).__name__}, not an Answer"
                    answer = None
            except (ConfigError, CorpusError, IndexCorruptError):
                raise
            except Exception as exc:  # noqa: BLE001 - one broken question must not end the run
                error = f"{type(exc).__name__}: {exc}"
            wall_ms = (time.perf_counter() - started) * 1000.0
            results.append(score_question(item, answer, k=k, wall_ms=wall_ms, error=error,
                                          source_text=texts.get))
            bar.advance(task)

    return EvalRun(created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   questions_path=str(path), questions_sha256=digest,
                   config=_config_json(config), metrics=compute_metrics(results, k=k),
                   results=tuple(results))


# --- thresholds (--fail-under / --fail-over) ---------------------------------------------

@dataclass(frozen=True)
class Threshold:
    """A quality gate: ``metric`` must not be under (or over) ``value``."""

    metric: str
    value: float
    direction: str  # "under": fail when metric < value; "over": fail when metric > value


def parse_threshold(text: str, direction: str) -> Threshold:
    """Parse "accuracy=0.8" for --fail-under (direction "under") or --fail-over ("over").

    Latency names (p50_/p95_<stage>_ms) are checked against the run later, since stages
    depend on the pipeline.
    """
    flag = f"--fail-{direction}"
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ConfigError(f"{flag} expects METRIC=VALUE, got {text!r}")
    if name not in SCALAR_METRICS and not _LATENCY_METRIC.match(name):
        raise ConfigError(f"{flag}: unknown metric {name!r}; valid metrics are "
                          f"{', '.join(SCALAR_METRICS)}, and p50_/p95_<stage>_ms latencies "
                          f"such as p95_total_ms or p95_wall_ms")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{flag} {name}: threshold must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{flag} {name}: threshold must be finite, got {raw!r}")
    return Threshold(metric=name, value=value, direction=direction)


def check_thresholds(metrics: Metrics, thresholds: Iterable[Threshold]) -> list[str]:
    """Messages for every missed threshold ([] when all pass).

    Raises ConfigError for a latency metric this run did not measure, listing those it did.
    A metric without data (None) fails its gate, since it cannot be shown to pass.
    """
    values = metrics.flat()
    missed: list[str] = []
    for gate in thresholds:
        if gate.metric not in values:
            measured = sorted(name for name in values if _LATENCY_METRIC.match(name))
            raise ConfigError(f"--fail-{gate.direction}: this run measured no {gate.metric!r}; "
                              f"latency metrics available: {', '.join(measured) or 'none'}")
        value = values[gate.metric]
        if value is None:
            missed.append(f"{gate.metric} has no value in this run (no data), so it cannot "
                          f"meet --fail-{gate.direction} {gate.value:g}")
        elif gate.direction == "under" and value < gate.value:
            missed.append(f"{gate.metric} = {value:.4g} is under the threshold {gate.value:g}")
        elif gate.direction == "over" and value > gate.value:
            missed.append(f"{gate.metric} = {value:.4g} is over the threshold {gate.value:g}")
    return missed


# --- CLI glue (registered by rag/cli.py) ------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `rag eval` arguments to ``parser``."""
    parser.add_argument("questions", nargs="?", type=Path, default=None, metavar="QUESTIONS",
                        help=f"question set, JSONL (default: {DEFAULT_QUESTIONS})")
    parser.add_argument("--corpus", type=Path, metavar="DIR", help="corpus folder")
    parser.add_argument("--index", type=Path, metavar="DIR", help="index folder")
    parser.add_argument("--k", type=int, default=5, metavar="K",
                        help="cutoff for recall@k (default: 5)")
    parser.add_argument("--mode", choices=MODES, help="answering mode")
    parser.add_argument("--out", type=Path, default=Path("eval-results"), metavar="DIR",
                        help="where report.json, report.md and plots go (default: ./eval-results)")
    parser.add_argument("--previous", type=Path, metavar="JSON",
                        help="earlier report.json to compare with (default: the one in --out)")
    parser.add_argument("--fail-under", nargs="+", action="extend", default=[],
                        metavar="METRIC=VALUE",
                        help="exit 1 if METRIC is below VALUE, e.g. accuracy=0.8")
    parser.add_argument("--fail-over", nargs="+", action="extend", default=[],
                        metavar="METRIC=VALUE",
                        help="exit 1 if METRIC is above VALUE, e.g. p95_total_ms=500")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Run `rag eval`: 0 when every gate passes, 1 when one is missed, 2 when it cannot run."""
    out = Console()
    err = Console(stderr=True)
    try:
        gates = ([parse_threshold(t, "under") for t in args.fail_under]
                 + [parse_threshold(t, "over") for t in args.fail_over])
        config = Config.from_args(args)
        questions = args.questions if args.questions is not None else DEFAULT_QUESTIONS
        out_dir = Path(args.out)
        previous = _previous_run(args.previous, out_dir, err)  # read before overwriting
        result = evaluate(questions, config=config, k=args.k,
                          progress=not args.no_progress and sys.stderr.isatty())
    except RagError as exc:
        _say(err, "error", str(exc))
        return 2

    comparison = report.compare(previous, result) if previous is not None else None
    files = report.write_report(result, out_dir, comparison=comparison)
    report.render_terminal(result, comparison, console=out)
    out.print(Text("wrote " + ", ".join(str(p) for p in files.paths)), highlight=False,
              soft_wrap=True)

    metrics = result.metrics
    if metrics.n_questions and metrics.n_errors == metrics.n_questions:
        first = next(r.error for r in result.results if r.error)
        _say(err, "error", f"every question failed; first error: {first}")
        return 1
    try:
        missed = check_thresholds(metrics, gates)
    except ConfigError as exc:
        _say(err, "error", str(exc))
        return 2
    for message in missed:
        _say(err, "FAIL", message)
    return 1 if missed else 0


def _say(console: Console, label: str, message: str) -> None:
    style = "yellow" if label == "warning" else "red"
    console.print(Text.assemble((f"{label}: ", style), message), highlight=False,
                  soft_wrap=True)


def _previous_run(explicit: Path | None, out_dir: Path, err: Console) -> EvalRun | None:
    """The run to compare with: --previous (must load), else out_dir/report.json if usable."""
    if explicit is not None:
        return load_run(explicit)
    candidate = out_dir / report.REPORT_JSON
    if not candidate.is_file():
        return None
    try:
        return load_run(candidate)
    except RagError as exc:
        _say(err, "warning", f"not comparing with {candidate}: {exc}")
        return None
