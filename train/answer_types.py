"""Measure the answer-type check on public QA data: ``python -m train.answer_types``.

For every question of SQuAD 2.0 (``disfl_qa``) and Natural Questions that asks for a kind of
number (``rag.answer_types.expected_type``), it reads the question's own paragraph and
prints, per fold and per kind:

- *answer typed*: the share of gold answers that are themselves a phrase of the asked kind
  (how well the phrase reader recognises money, durations, ages...);
- *answer sentence kept*: the share of answerable questions whose answer sentence holds a
  phrase of the asked kind: 1 minus this is the false-abstention rate the check adds when
  the answer sentence is among the ones it looks at;
- *other number sentences rejected*: of the paragraph's other sentences that hold some
  number, the share the check rejects (what it catches);
- *kept, numeric answers*: the same, over questions whose gold answer holds a number (those
  surely ask for one; disfl_qa's false starts make the question word of others unreliable);
- the same two rates for the check it replaces (any number at all: ``rag.terms.numbers``);
- *kept, name in window* / *same kind elsewhere: rejected*: the scope rule
  (``rag.evidence.names_one_of``, numeric answers of questions that name something): answer
  sentences whose window (the sentence and its neighbours) names one of the question's names,
  and the paragraph's other sentences with a phrase of the asked kind whose window names none;
  who/when/where rows give only the first (the rule applies to them too);
- *kept, beside a key term* / *same kind, not beside: rejected*: the nearness rule
  (``rag.extractive.type_match``: the phrase within four words of a question term), over the
  sentences holding a phrase of the asked kind, numeric answers only.

Folds as in ``train.head``: NQ list positions i % 5 == 0 are the reserved test fold, SQuAD
paragraphs are split 80/10/10 by hash. The rules were written from the answer-type
taxonomy; ``train``/``calib`` rows are where they were checked while writing them,
``nq_reserved``/``squad_test`` rows are the report.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict

from rag.answer_types import expected_type, typed_spans
from rag.evidence import TermStats, asked_names, names_one_of, number_near_terms, profile
from rag.terms import key_terms, numbers, question_type, tokenize

from .items import QAItem, load_items
from .pairs import positives, sentences

# disfl_qa rewrote SQuAD's questions with a false start ("How many no In what type of ..."), so
# the question word often is not the question's; rows marked "fluent" keep only questions
# with none of the repair words the task inserts (a filter on the test data, not on the rule).
_REPAIR = re.compile(r"\b(?:no|uh|um|er|erm|i mean|rather|sorry|make that|instead|wait|or|actually|i meant)\b",
                     re.IGNORECASE)
_FOLDS = {("nq", "train"): "train", ("nq", "calib"): "train", ("squad", "train"): "train",
          ("squad", "calib"): "train", ("nq", "reserved"): "nq_reserved", ("squad", "test"): "squad_test"}


def measure(items: list[QAItem]) -> dict[tuple[str, str], dict[str, list[int]]]:
    """Counts ``[hits, total]`` per (fold, kind) and rate name."""
    out: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for item in items:
        asks = expected_type(item.question)
        fold = _FOLDS.get((item.source, item.fold))
        if fold is None or item.answer is None:
            continue
        if asks is None:
            _named_type_scope(out, fold, item)
            continue
        gold = positives(item)
        if not gold:
            continue
        sents = sentences(item.context)
        keys = [(fold, asks.kind), (fold, "all")]
        if not _REPAIR.search(item.question):
            keys.append((fold, "all, fluent"))
        for key in keys:
            rates = out[key]
            _add(rates["answer typed"], bool(typed_spans(asks, item.answer)))
            _add(rates["answer sentence kept"], any(typed_spans(asks, sents[i]) for i in gold))
            _add(rates["any number: kept"], any(numbers(sents[i]) for i in gold))
            if numbers(item.answer):  # the question surely asks for a number (disfluency aside)
                _add(rates["kept, numeric answers"], any(typed_spans(asks, sents[i]) for i in gold))
                _scope(rates, asks, item.question, sents, gold)
                _beside(rates, asks, item.question, sents, gold)
            for i, s in enumerate(sents):
                if i not in gold and numbers(s):
                    _add(rates["other number sentences rejected"], not typed_spans(asks, s))
    return out


def _scope(rates: dict[str, list[int]], asks, question: str, sents: tuple[str, ...], gold: list[int]) -> None:
    """The scope rule (``rag.evidence.names_one_of``) over the sentences holding a phrase of
    the asked kind, for questions that name something: answer sentences it keeps, the
    paragraph's other such sentences it rejects."""
    names = key_terms(" ".join(asked_names(question)))
    if not names:
        return
    for i, sentence in enumerate(sents):
        if typed_spans(asks, sentence):
            window = frozenset(tokenize([" ".join(sents[max(i - 1, 0):i + 2])])[0])
            if i in gold:
                _add(rates["kept, name in window"], names_one_of(window, names))
            else:
                _add(rates["same kind elsewhere: rejected"], not names_one_of(window, names))


def _beside(rates: dict[str, list[int]], asks, question: str, sents: tuple[str, ...], gold: list[int]) -> None:
    """The nearness rule (``rag.extractive.type_match``): a phrase of the asked kind counts
    only within four words of one of the question's key terms. Answer sentences it keeps,
    the paragraph's other sentences with a phrase of the asked kind it rejects."""
    prof = profile(question, TermStats.from_texts(list(sents)))
    for i, sentence in enumerate(sents):
        spans = [(p.start, p.end) for p in typed_spans(asks, sentence)]
        if spans:
            beside = number_near_terms(prof, sentence, spans) == 1.0
            if i in gold:
                _add(rates["kept, beside a key term"], beside)
            else:
                _add(rates["same kind, not beside: rejected"], not beside)


def _named_type_scope(out, fold: str, item: QAItem) -> None:
    """Who/when/where questions meet the scope rule too: their answer sentences it keeps."""
    qtype = question_type(item.question)
    names = key_terms(" ".join(asked_names(item.question)))
    gold = positives(item)
    if qtype not in ("who", "when", "where") or not names or not gold:
        return
    sents = sentences(item.context)
    kept = any(names_one_of(frozenset(tokenize([" ".join(sents[max(i - 1, 0):i + 2])])[0]), names) for i in gold)
    _add(out[(fold, qtype)]["kept, name in window"], kept)


def _add(counter: list[int], hit: bool) -> None:
    counter[0] += hit
    counter[1] += 1


def table(counts: dict[tuple[str, str], dict[str, list[int]]]) -> str:
    names = ("answer typed", "answer sentence kept", "kept, numeric answers", "any number: kept",
             "other number sentences rejected", "kept, name in window", "same kind elsewhere: rejected",
             "kept, beside a key term", "same kind, not beside: rejected")
    lines = ["| fold | kind | questions | " + " | ".join(names) + " |", "|---|---|---:|" + "---:|" * len(names)]
    for fold, kind in sorted(counts, key=lambda k: (k[0], not k[1].startswith("all"), k[1])):
        rates = counts[(fold, kind)]
        cells = [f"{h / n:.3f}" if n else "–" for h, n in (rates[name] for name in names)]
        asked = rates["answer typed"][1] or rates["kept, name in window"][1]
        lines.append(f"| {fold} | {kind} | {asked} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", help="the bigbench sdist (default: fetched and cached)")
    args = parser.parse_args(argv)
    print(table(measure(load_items(args.tarball))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
