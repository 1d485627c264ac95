"""Score answers against gold: answer matching, retrieval metrics, citation checks, one
question's ``QuestionResult`` and the run's aggregate ``Metrics``.

Every function here is pure and works on plain values, so each is checked on a worked
example; reading files and calling ``ask`` is rag.eval.run's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from ..errors import CorpusError
from ..markers import strip_markers
from ..terms import fold
from ..types import Answer, Citation, Passage
from .questions import Question

NDCG_CUTOFF = 10


# --- answer matching -------------------------------------------------------------------

_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u00a0": " "})


def normalize(text: str) -> str:
    """Fold typographic quotes/dashes, case, diacritics and runs of whitespace.

    >>> normalize("Ukhnaagiin  Khürelsükh’s")
    "ukhnaagiin khurelsukh's"
    """
    return " ".join(fold(text.translate(_TYPOGRAPHY)).split())


def matches_gold(text: str, answer: str, alternatives: Sequence[str] = (),
                 patterns: Sequence[str] = ()) -> bool:
    """True when ``text`` contains the gold answer or an alternative (after ``normalize``)
    or when any pattern matches (case-insensitive, on the text as given or normalised).

    Citation markers like "[2]" are removed first.

    >>> matches_gold("Talks with Khürelsükh [1].", "Khurelsukh")
    True
    """
    plain = strip_markers(text)
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

    >>> recall_at_k({"a": 1, "b": 3}, {"a", "b"}, k=2)
    0.5
    """
    wanted = _check_relevant(relevant)
    return sum(1 for s in wanted if ranks.get(s, k + 1) <= k) / len(wanted)


def reciprocal_rank(ranks: Mapping[str, int], relevant: Iterable[str]) -> float:
    """1 / rank of the best-ranked relevant source; 0.0 when none was retrieved.

    >>> reciprocal_rank({"a": 1, "b": 3}, {"b"})
    0.3333333333333333
    """
    found = [ranks[s] for s in _check_relevant(relevant) if s in ranks]
    return 1.0 / min(found) if found else 0.0


def ndcg_at_k(ranks: Mapping[str, int], relevant: Iterable[str], k: int = NDCG_CUTOFF) -> float:
    """Binary-relevance nDCG@k; the ideal DCG counts only min(#relevant, k) items.

    Sources tied at one rank (``also_in``) can beat the ideal ordering; the result is
    capped at 1.0. One relevant source found at rank 2: (1/log2(3)) / (1/log2(2)):

    >>> round(ndcg_at_k({"x": 1, "a": 2}, {"a"}), 4)
    0.6309
    """
    wanted = _check_relevant(relevant)
    dcg = sum(1.0 / math.log2(ranks[s] + 1) for s in wanted if ranks.get(s, k + 1) <= k)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(wanted), k) + 1))
    return min(1.0, dcg / ideal)


# --- other aggregates ------------------------------------------------------------------

def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile; None for no values.

    >>> percentile([10, 20, 30, 40], 50), percentile([], 95)
    (25.0, None)
    """
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def survival_rate(drafts: Iterable[tuple[int, int]]) -> float | None:
    """Share of drafted sentences that survived verification, over (drafted, dropped) pairs
    with drafted > 0; None when nothing was drafted.

    >>> survival_rate([(4, 1), (2, 0), (0, 0)]) == 5 / 6
    True
    """
    kept = total = 0
    for drafted, dropped in drafts:
        if drafted > 0:
            kept += drafted - dropped
            total += drafted
    return kept / total if total else None


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
    tentative: bool = False  # answered, but marked tentative (Answer.tentative)
    quotes: tuple[str, ...] = ()  # "[n] source: quote" per citation, to check an answer by hand
    unsupported: tuple[str, ...] = ()  # dropped sentences, "sentence -- reason"

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
        recall, rr, ndcg = (0.0, 0.0, 0.0) if gold and question.answerable else (None,) * 3
        return QuestionResult(
            id=question.id, type=question.type, question=question.question,
            answerable=question.answerable, correct=False, abstained=False, answer_text="",
            gold_answer=question.answer, gold_sources=gold, retrieved_sources=(),
            cited_sources=(), recall=recall, rr=rr, ndcg=ndcg, wall_ms=wall_ms,
            failures=(f"ask() failed: {error}",), error=error)

    ranks = source_ranks(answer.passages)
    retrieved = tuple(sorted(ranks, key=lambda s: ranks[s]))
    if question.answerable and gold:
        recall, rr, ndcg = (recall_at_k(ranks, gold, k), reciprocal_rank(ranks, gold),
                            ndcg_at_k(ranks, gold))
    else:
        recall = rr = ndcg = None
    cited = tuple(dict.fromkeys(c.source for c in answer.citations))
    correct, failures = _verdict(question, answer)
    verbatim, strict, by_source, citation_failures = _score_citations(question, answer,
                                                                       source_text)
    failures += citation_failures
    if question.answerable:
        if recall == 0.0:
            failures.append(f"no gold source in the top {k}")
        if not answer.abstained and answer.citations and not set(cited) & set(gold) and gold:
            failures.append("cites no gold source")

    return QuestionResult(
        id=question.id, type=question.type, question=question.question,
        answerable=question.answerable, correct=correct, abstained=answer.abstained,
        answer_text=answer.text, gold_answer=question.answer, gold_sources=gold,
        retrieved_sources=retrieved, cited_sources=cited, recall=recall, rr=rr, ndcg=ndcg,
        citations=len(answer.citations), verbatim_citations=verbatim, strict_citations=strict,
        source_citations=by_source, wall_ms=wall_ms,
        timings_ms={key: float(value) * 1000.0 for key, value in answer.timings.items()},
        drafted=answer.drafted, dropped=len(answer.unsupported), failures=tuple(failures),
        tentative=answer.tentative and not answer.abstained,
        quotes=tuple(f"[{c.n}] {c.source}: {c.quote}" for c in answer.citations),
        unsupported=tuple(f"{u.text} -- {u.reason}" for u in answer.unsupported))


def _matches(question: Question, text: str) -> bool:
    return matches_gold(text, question.answer, question.alternatives, question.patterns)


def _verdict(question: Question, answer: Answer) -> tuple[bool, list[str]]:
    """Whether the answer is right (unanswerable: it abstained), and if not, why."""
    if not question.answerable:
        if answer.abstained:
            return True, []
        return False, ["answered an unanswerable question" + (" (marked tentative)" if answer.tentative else "")]
    if answer.abstained:
        return False, ["abstained on an answerable question"]
    correct = _matches(question, answer.text)
    return correct, [] if correct else ["answer does not match the gold answer"]


def _score_citations(question: Question, answer: Answer,
                     source_text: Callable[[str], str | None]
                     ) -> tuple[int, int, int, list[str]]:
    """(verbatim, strict, by_source, failures) over the answer's citations."""
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
            hit = _matches(question, citation.quote)
            strict += hit
            by_source += hit or citation.source in question.sources
    return verbatim, strict, by_source, failures


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
    # Unanswerable questions refused *or* answered with the tentative warning (what a reader
    # of the answer is told), and the share of right answers that carried that warning (its
    # cost). None in runs saved before answers could be tentative.
    flagged_unanswerable: float | None = None
    tentative_correct: float | None = None
    latency_ms: dict[str, dict[str, float | None]] = field(default_factory=dict)  # stage -> p50/p95
    accuracy_by_type: dict[str, float] = field(default_factory=dict)

    def flat(self) -> dict[str, float | int | None]:
        """Every metric under the name --fail-under/--fail-over use, e.g. "p95_total_ms"."""
        values: dict[str, float | int | None] = {name: getattr(self, name)
                                                  for name in SCALAR_METRICS}
        for stage, stats in self.latency_ms.items():
            for name, value in stats.items():
                values[f"{name}_{stage}_ms"] = value
        return values


SCALAR_METRICS = tuple(f.name for f in fields(Metrics)
                       if f.name not in ("latency_ms", "accuracy_by_type", "k"))


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
        flagged_unanswerable=_share(sum(r.abstained or r.tentative for r in unanswerable), len(unanswerable)),
        tentative_correct=_share(sum(r.tentative for r in answerable if r.correct),
                                 sum(r.correct for r in answerable)),
        latency_ms=latency,
        accuracy_by_type=by_type,
    )


