"""The default answer generator: cited sentences chosen from the corpus, no LLM, offline.

It scores the sentences of the retrieved passages with a cheap evidence prior
(rag.evidence), lets the reader (rag.reader, trained on public QA data) read the best few,
abstains when the reader's best probability is under its calibrated threshold, the
question's key terms are missing from the corpus or the prior is weak (and marks the answer
tentative when that probability is under the reader's confidence threshold), picks a few
strong, non-redundant sentences, finds other outlets that state the same thing, marks the
asked-for phrase inside each quote, and writes each sentence followed by its [n] markers.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence

import numpy as np

from .config import Config
from .conflicts import CHECKS, Disagreement, Statement, conflict_sentence, first_conflict
from .features import Candidate, Question
from .evidence import (QuestionProfile, ScoredSentence, TermStats, answer_span, name_terms, names_one_of, profile,
                       score_sentences)
from .rewrite import with_context
from .types import Citation, Composition, Conflict, Passage, SentenceReader
from .retrieval import allowed_sources
from .store import IndexData
from .terms import contains_term, key_terms, sub_questions

# How many sentences each question type gets at most (capped by Config.max_answer_sentences).
_SENTENCES_FOR_TYPE = {"why": 4, "how": 3, "what": 2, "yes-no": 2, "who": 2, "when": 2,
                       "where": 2, "how-many": 2}
_REDUNDANT = 0.82  # sentence cosine above which two sentences say the same thing
_CORROBORATES = 0.80  # cosine above which another outlet's sentence states the same fact
# Later sentences need this share of the best sentence's support: explanations ("why",
# "how") may list several strong sentences; a factual answer adds one only if nearly as good.
_KEEP_RATIO = {"why": 0.80, "how": 0.80}
_FACT_KEEP_RATIO = 0.92


@dataclasses.dataclass(frozen=True)
class Chosen:
    """A sentence picked for the answer, the other outlets' sentences stating the same thing
    (``group`` starts with the sentence itself), the (sub-)question it answers, and another
    outlet's sentence that disagrees with it (its id and how), if any."""

    sentence: ScoredSentence
    group: list[int]
    profile: QuestionProfile
    conflict: tuple[int, Disagreement] | None = None


class ExtractiveAnswerer:
    """Implements the AnswerGenerator protocol from cited corpus sentences."""

    def __init__(self, data: IndexData, embedder, config: Config, stats: TermStats | None = None,
                 reader: SentenceReader | None = None, verifier=None) -> None:
        self.data = data
        self.embedder = embedder
        self.config = config
        self.stats = stats or TermStats(data)
        self.reader = reader  # None: the evidence prior decides alone (Config.reader="off")
        self.verifier = verifier  # rag.verifier.Verifier: contradictions between outlets; None: figures only
        self.allowed = allowed_sources(data, config)  # None: no outlet/date filter

    def compose(self, question: str, query: str, passages: Sequence[Passage],
                on_token: Callable[[str], None] | None = None) -> Composition:
        started = time.perf_counter()
        parts = sub_questions(query)
        candidates, topic = self._candidates(passages), self._topic(passages)
        chosen: list[Chosen] = []
        confidence: float | None = None  # the reader's best probability for the first part
        for i, part in enumerate(parts):
            part_query = part if i == 0 else with_context(part, parts[0])
            prof, scored = self._evidence(part_query, candidates, topic)
            if i == 0:
                confidence = best_answer_prob(scored) if self.reader is not None else None
            if self.should_abstain(prof, scored):
                if len(parts) == 1 or i == 0:
                    text = self._abstention()
                    _emit(on_token, text)
                    return Composition(text=text, citations=[], abstained=True,
                                       timings={"compose": time.perf_counter() - started})
                continue  # the first part is answered; say nothing about the unanswerable rest
            if len(chosen) >= self.config.max_answer_sentences:
                break
            limit = None if len(parts) == 1 else 1
            chosen.extend(self._select(prof, scored, limit=limit,
                                       used={sid for c in chosen for sid in c.group}))
        text, citations, counts, conflicts = self._write(chosen)
        _emit(on_token, text)
        return Composition(text=text, citations=citations, abstained=False, support_counts=counts,
                           timings={"compose": time.perf_counter() - started}, confidence=confidence,
                           tentative=confidence is not None and confidence < self.min_confident_prob,
                           conflicts=conflicts)

    def gauge(self, query: str, passages: Sequence[Passage]) -> tuple[float | None, bool]:
        """(the reader's best probability that a sentence of ``passages`` answers ``query``,
        whether an answer drawn from them is tentative): what ``compose`` reports, for an
        answer another generator wrote from the same passages (LLM modes). (None, False)
        without a reader."""
        if self.reader is None or not passages:
            return None, False
        confidence = best_answer_prob(self.evidence(sub_questions(query)[0], passages)[1])
        return confidence, confidence < self.min_confident_prob

    def evidence(self, query: str, passages: Sequence[Passage]) -> tuple[QuestionProfile, list[ScoredSentence]]:
        """The question's profile and the passages' sentences scored as evidence, best first
        (what the abstention decision sees; used by rag.calibrate)."""
        return self._evidence(query, self._candidates(passages), self._topic(passages))

    # -- steps ---------------------------------------------------------------------------
    def _evidence(self, query: str, candidates: list[tuple[int, int]],
                  topic: np.ndarray | None) -> tuple[QuestionProfile, list[ScoredSentence]]:
        prof = profile(query, self.stats)
        qvec = self.embedder.embed([query])[0]
        scored = score_sentences(self.data, self.stats, prof, qvec, candidates, topic=topic)
        if self.reader is None:
            return prof, scored
        return prof, self._read(Question(query, qvec, prof, self.stats.max_idf), scored)

    def _read(self, question: Question, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        """The prior's best ``reader_candidates`` sentences with the reader's probabilities,
        in the prior's order.

        The reader decides *whether* any sentence answers (``should_abstain``), not which one
        leads: ranked by the shipped reader, answers on the BBC set nobody tuned on fell from
        0.63 to 0.42 correct (README, "The reader"), while its best probability separates
        answerable from unanswerable questions better than the prior does.
        """
        top = scored[:self.config.reader_candidates]
        probs = self.reader.score(question, [self._candidate(s.sentence_id) for s in top])
        return [dataclasses.replace(s, answer_prob=float(p)) for s, p in zip(top, probs)]

    def _candidate(self, sentence_id: int) -> Candidate:
        """One sentence as the reader reads it: text, neighbours, vector, its and its article's terms."""
        sentences, terms = self.data.sentences, self.stats.sentence_terms
        here = sentences[sentence_id]
        near = [i for i in (sentence_id - 1, sentence_id + 1)
                if 0 <= i < len(sentences) and sentences[i].source == here.source]
        text = {i: sentences[i].text for i in near}
        own = terms.get(sentence_id, frozenset())
        return Candidate(here.text, text.get(sentence_id - 1, ""), text.get(sentence_id + 1, ""),
                         self.data.sentence_vectors[sentence_id], own,
                         own.union(*(terms.get(i, frozenset()) for i in near)),
                         self.stats.article_terms.get(here.source, own))

    def _topic(self, passages: Sequence[Passage], n: int = 5) -> np.ndarray | None:
        """Normalised mean vector of the top passages: what the retrieved material is about."""
        if not passages:
            return None
        mean = self.data.chunk_vectors[[p.chunk_id for p in passages[:n]]].mean(axis=0)
        norm = float(np.linalg.norm(mean))
        return mean / norm if norm else None

    def _candidates(self, passages: Sequence[Passage]) -> list[tuple[int, int]]:
        """(sentence id, passage rank) for retrievable sentences of the passages."""
        out: dict[int, int] = {}
        for p in passages:
            for sid in self.data.chunks[p.chunk_id].sentence_ids:
                if self.data.retrievable[sid]:
                    out.setdefault(sid, p.rank)
        return list(out.items())

    def should_abstain(self, prof: QuestionProfile, scored: list[ScoredSentence]) -> bool:
        """Abstain when the corpus lacks the question's key terms, the evidence prior is weak,
        (who/when/where/how-many) no strong sentence holds the kind of answer asked for, or
        the reader finds no sentence that answers (its best probability is under the
        threshold calibrated on held-out public data)."""
        if not scored or not prof.terms:
            return True
        if self.reader is not None and best_answer_prob(scored) < self.min_answer_prob:
            return True
        return (prof.corpus_coverage < self.config.min_coverage
                or scored[0].support < self.config.min_support
                or type_match(prof, self._about(prof, scored)) < self.config.min_type_match)

    def _about(self, prof: QuestionProfile, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        """The sentences whose article names everything the question names (its outlet, or the
        outlet's initials, count: "according to the AP") and whose neighbourhood names one of
        them (``names_one_of``): an amount in another story, or about another subject of the
        same story, is not the answer."""
        names = name_terms(prof)
        if not names:
            return scored
        named: dict[str, bool] = {}
        for source in {self.data.sentences[s.sentence_id].source for s in scored}:
            terms = self.stats.article_terms.get(source, frozenset())
            outlet = outlet_terms(self.data.documents[source].outlet or "")
            named[source] = all(contains_term(terms, t) or t in outlet for t in names)
        return [s for s in scored if named[self.data.sentences[s.sentence_id].source]
                and names_one_of(self._candidate(s.sentence_id).window_terms, names)]

    @property
    def min_answer_prob(self) -> float:
        """Config.min_answer_prob, else the threshold calibrated with the reader."""
        return self.reader.threshold if self.config.min_answer_prob is None else self.config.min_answer_prob

    @property
    def min_confident_prob(self) -> float:
        """Config.min_confident_prob, else the reader's calibrated confidence threshold: an
        answer whose best probability is under it is marked tentative."""
        if self.config.min_confident_prob is not None:
            return self.config.min_confident_prob
        return getattr(self.reader, "confident", 0.0) if self.reader is not None else 0.0

    def _select(self, prof: QuestionProfile, scored: list[ScoredSentence], limit: int | None = None,
                used: set[int] | None = None) -> list[Chosen]:
        """Strong, non-redundant sentences, each with the other outlets' matching sentences.

        ``used`` holds sentence ids already in the answer (earlier parts of a compound
        question); ``limit`` caps the number of sentences (default: by question type).
        """
        if limit is None:
            limit = min(self.config.max_answer_sentences, _SENTENCES_FOR_TYPE.get(prof.qtype, 2))
        if prof.typed:  # the asked-for name/date/number leads
            scored = sorted(scored, key=lambda s: s.cue < 0.5)
        best = scored[0].support
        chosen: list[Chosen] = []
        used = set(used or ())
        taken = [sid for sid in used]
        vecs = self.data.sentence_vectors
        for cand in scored:
            if len(chosen) >= limit:
                break
            if cand.support < _KEEP_RATIO.get(prof.qtype, _FACT_KEEP_RATIO) * best:
                if prof.typed:
                    continue  # sorted by cue first: a weaker cue-less sentence may follow
                break
            if cand.sentence_id in used:
                continue  # already cited as another outlet's version of a chosen sentence
            primary = taken + [c.sentence.sentence_id for c in chosen]
            if primary and float(np.max(vecs[primary] @ vecs[cand.sentence_id])) >= _REDUNDANT:
                continue
            group = [cand.sentence_id] + self.corroborating(cand.sentence_id)
            if used & set(group):
                continue  # says what a chosen sentence (or its twin) already says
            conflict = self._conflict(cand.sentence_id, group[1:], scored)
            if conflict is not None:  # a "corroborating" sentence with another figure does not corroborate
                group = [sid for sid in group if sid != conflict[0]]
            used.update(group)
            chosen.append(Chosen(cand, group, prof, conflict))
        return chosen

    def _conflict(self, sentence_id: int, group: list[int],
                  scored: list[ScoredSentence]) -> tuple[int, Disagreement] | None:
        """Another outlet's sentence, among the corroborating ones and the question's best
        candidates, that disagrees with this one (rag.conflicts), closest first."""
        vecs = self.data.sentence_vectors
        pool = list(dict.fromkeys(group + [s.sentence_id for s in scored[:self.config.reader_candidates]]))
        own = self._outlet(sentence_id)
        others = sorted(((float(vecs[sid] @ vecs[sentence_id]), sid) for sid in pool
                         if sid != sentence_id and self._outlet(sid) != own), reverse=True)
        seen: set[str] = set()
        checks = []
        for cosine, sid in others:
            if self._outlet(sid) not in seen and len(checks) < CHECKS:
                seen.add(self._outlet(sid))
                checks.append((sid, Statement(self.data.sentences[sid].text, self._outlet(sid)), cosine))
        return first_conflict(Statement(self.data.sentences[sentence_id].text, own), checks, self.verifier)

    def corroborating(self, sentence_id: int) -> list[int]:
        """Sentences in *other* articles that state the same thing (one per article)."""
        data = self.data
        sims = data.sentence_vectors @ data.sentence_vectors[sentence_id]
        own = data.sentences[sentence_id].source
        best: dict[str, tuple[float, int]] = {}
        for sid in np.flatnonzero((sims >= _CORROBORATES) & data.retrievable).tolist():
            source = data.sentences[sid].source
            if self.allowed is not None and source not in self.allowed:
                continue
            if source != own and sims[sid] > best.get(source, (-1.0, -1))[0]:
                best[source] = (float(sims[sid]), sid)
        return [sid for _, sid in sorted(best.values(), reverse=True)]

    def _write(self, chosen: list[Chosen]) -> tuple[str, list[Citation], list[int], list[Conflict]]:
        citations: list[Citation] = []
        number: dict[int, int] = {}
        lines: list[str] = []
        counts: list[int] = []
        conflicts: list[Conflict] = []

        def cite(sid: int, prof: QuestionProfile) -> int:
            if sid not in number:
                number[sid] = len(citations) + 1
                citations.append(self.citation(sid, number[sid], prof))
            return number[sid]

        for item in chosen:
            markers = [f"[{cite(sid, item.profile)}]" for sid in item.group]
            counts.append(len({self._outlet(s) for s in item.group}))  # "reported by k sources" (CLI/UI)
            text = self.data.sentences[item.sentence.sentence_id].text
            lines.append(with_markers(text, " " + "".join(markers)))
            if item.conflict is not None:
                other, found = item.conflict
                pair = (cite(item.sentence.sentence_id, item.profile), cite(other, item.profile))
                names = (self._outlet_name(item.sentence.sentence_id), self._outlet_name(other))
                sentence = conflict_sentence(*names, found, f"[{pair[0]}][{pair[1]}]")
                lines.append(sentence)
                counts.append(1)  # the two outlets do not back one statement: no "reported by 2"
                conflicts.append(Conflict(sentence, pair, names, found.kind, found.values))
        return " ".join(lines), citations, counts, conflicts

    def _abstention(self) -> str:
        """Why there is no answer: the corpus does not say, or the filters left no article."""
        if self.allowed is None:
            return abstention_text(len(self.data.documents))
        dated = bool(self.config.date_from or self.config.date_to)
        undated = sum(doc.published is None for doc in self.data.documents.values()) if dated else 0
        return abstention_text(len(self.data.documents), len(self.allowed), undated)

    def _outlet_name(self, sentence_id: int) -> str:
        """The outlet as a reader would name it: its outlet, else the article's title."""
        doc = self.data.documents[self.data.sentences[sentence_id].source]
        return doc.outlet or f"\u201c{doc.title}\u201d"

    def _outlet(self, sentence_id: int) -> str:
        """Who reports a sentence: its article's outlet, else the article itself (no metadata),
        so two stories of one outlet count once."""
        source = self.data.sentences[sentence_id].source
        return self.data.documents[source].outlet or f"article:{source}"

    def citation(self, sentence_id: int, n: int, prof: QuestionProfile | None = None) -> Citation:
        """Citation [n] quoting one sentence; the asked-for phrase marked when ``prof`` is given."""
        s = self.data.sentences[sentence_id]
        doc = self.data.documents[s.source]
        span = answer_span(prof, s.text) if prof is not None else None
        return Citation(n=n, source=s.source, title=doc.title, quote=doc.text[s.start:s.end],
                        start=s.start, end=s.end, outlet=doc.outlet, published=doc.published,
                        page=doc.page_at(s.start),
                        answer_start=s.start + span[0] if span else None,
                        answer_end=s.start + span[1] if span else None)


@functools.lru_cache(maxsize=1024)
def outlet_terms(outlet: str) -> frozenset[str]:
    """The key terms of an outlet's name, and its initials: how questions name outlets.

    >>> sorted(outlet_terms("The Associated Press (republished)"))
    ['ap', 'associ', 'press', 'republish']
    """
    initials = "".join(w[0] for w in outlet.split() if w[:1].isupper() and w.lower() != "the")
    return frozenset(key_terms(outlet)) | ({initials.lower()} if len(initials) > 1 else frozenset())


def best_answer_prob(scored: Sequence[ScoredSentence]) -> float:
    """The reader's best probability among the candidates (0.0 when none was read)."""
    return max((s.answer_prob or 0.0 for s in scored), default=0.0)


def type_match(prof: QuestionProfile, scored: list[ScoredSentence], top: int = 3) -> float:
    """Best answer-type cue among the strongest sentences (1.0 for untyped questions).

    A question asking for a kind of number (``prof.asks``) needs a phrase of that kind
    within four words of one of its key terms ("373,782 customers", "paid £14m"): one
    elsewhere in the sentence counts as none. On SQuAD/NQ (``python -m train.answer_types``,
    column "beside a key term") this keeps 0.94 of answer sentences and rejects 0.60 of the
    paragraph's other phrases of the asked kind."""
    if not prof.typed:
        return 1.0
    best = max((s.cue for s in scored[:top]), default=0.0)
    return 0.0 if prof.asks is not None and best < 1.0 else best


def with_markers(sentence: str, suffix: str) -> str:
    """Put ``suffix`` (e.g. ' [1][2]') before the sentence's final full stop.

    >>> with_markers("Putin arrived.", " [1]")
    'Putin arrived [1].'
    >>> with_markers('He said "no."', " [2]")
    'He said "no." [2]'
    """
    text = " ".join(sentence.split())
    if text.endswith((".", "!", "?")) and not text.endswith("..."):
        return text[:-1] + suffix + text[-1]
    return text + suffix


def abstention_text(n_documents: int, n_allowed: int | None = None, undated: int = 0) -> str:
    """The no-answer text; with outlet/date filters (``n_allowed`` articles pass them,
    ``undated`` have no date under a date filter) it says what the filters left.

    >>> abstention_text(300, 0, 300)
    'No indexed article matches the outlet/date filters (0 of 300; 300 have no publication date, which a date filter leaves out). Widen or clear the filters.'
    """
    if n_allowed == 0:
        verb = "has" if undated == 1 else "have"
        why = f"; {undated} {verb} no publication date, which a date filter leaves out" if undated else ""
        return (f"No indexed article matches the outlet/date filters (0 of {n_documents}{why}). "
                "Widen or clear the filters.")
    scope = (f"The {n_documents} indexed articles" if n_allowed is None
             else f"The {n_allowed} articles that match the filters (of {n_documents} indexed)")
    return f"{scope} do not answer this question. The nearest passages are listed below so you can check for yourself."


def _emit(on_token: Callable[[str], None] | None, text: str) -> None:
    if on_token is None:
        return
    for word in text.split(" "):
        on_token(word + " ")
