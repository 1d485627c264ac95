"""Measure a sentence scorer on held-out QA items: top-1 answer sentence, AUROC, thresholds.

A *scorer* is any ``f(question, [(sentence, previous, next), ...]) -> scores`` (higher = more
likely to answer), so the same code measures the trained reader (torch or ONNX) and the
bi-encoder cosine baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .items import QAItem
from .pairs import contains_answer, neighbours, sentences

Scorer = Callable[[str, Sequence[tuple[str, str, str]]], np.ndarray]


def paragraph_scores(scorer: Scorer, item: QAItem) -> np.ndarray:
    """Scores of every sentence of the item's paragraph."""
    sents = sentences(item.context)
    return np.asarray(scorer(item.question, [neighbours(sents, i) for i in range(len(sents))]), dtype=np.float64)


def top1(scorer: Scorer, items: list[QAItem]) -> dict:
    """Share of answerable items whose best-scored sentence contains the answer.

    Counted over items whose answer occurs in some sentence; ``top1_multi`` is the same over
    paragraphs of two or more sentences (one-sentence paragraphs are trivially right).
    """
    hits, multi = [], []
    for item in items:
        sents = sentences(item.context)
        if item.answer is None or not any(contains_answer(s, item.answer) for s in sents):
            continue
        best = int(np.argmax(paragraph_scores(scorer, item)))
        hits.append(contains_answer(sents[best], item.answer))
        if len(sents) > 1:
            multi.append(hits[-1])
    return {"top1": _mean(hits), "n": len(hits), "top1_multi": _mean(multi), "n_multi": len(multi)}


def max_scores(scorer: Scorer, items: list[QAItem]) -> tuple[np.ndarray, np.ndarray]:
    """(best sentence score per item, 1 if the item is answerable else 0)."""
    best = [float(paragraph_scores(scorer, item).max()) if sentences(item.context) else 0.0 for item in items]
    return np.asarray(best), np.asarray([item.answer is not None for item in items], dtype=int)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (probability a positive outscores a negative; ties count half).

    >>> auroc(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 0, 1, 0]))
    0.75
    """
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return round(float(greater / (len(pos) * len(neg))), 4)


def abstention_at(threshold: float, scores: np.ndarray, labels: np.ndarray) -> dict:
    """Abstain when the best score < threshold: recall on unanswerable, false-abstention rate."""
    abstain = scores < threshold
    recall = _mean(abstain[labels == 0].tolist())
    false_rate = _mean(abstain[labels == 1].tolist())
    balanced = None if recall is None or false_rate is None else round((recall + 1 - false_rate) / 2, 4)
    return {"threshold": round(float(threshold), 4), "abstention_recall": recall,
            "false_abstention_rate": false_rate, "balanced_accuracy": balanced}


def choose_thresholds(scores: np.ndarray, labels: np.ndarray, max_false: float = 0.05) -> dict:
    """Two thresholds from calibration scores: best balanced accuracy; false abstentions <= max_false."""
    grid = np.unique(np.concatenate([scores, [0.0, 1.0]]))
    best = max(grid, key=lambda t: (abstention_at(t, scores, labels)["balanced_accuracy"] or 0.0, -t))
    answerable = np.sort(scores[labels == 1])
    cautious = answerable[int(np.floor(max_false * len(answerable)))] if len(answerable) else 0.0
    return {"balanced": abstention_at(best, scores, labels),
            f"false_abstention_le_{max_false:g}": abstention_at(cautious, scores, labels)}


def _mean(values: list) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def evaluate_scorer(scorer: Scorer, reserved: list[QAItem], squad_test: list[QAItem],
                    squad_calib: list[QAItem]) -> dict:
    """All reader metrics for one scorer: NQ reserved top-1, SQuAD test top-1 + AUROC, thresholds."""
    out = {"nq_reserved": top1(scorer, reserved), "squad_test": top1(scorer, squad_test)}
    test_scores, test_labels = max_scores(scorer, squad_test)
    out["squad_test"]["auroc"] = auroc(test_scores, test_labels)
    out["squad_test"]["n_answerable"] = int(test_labels.sum())
    out["squad_test"]["n_unanswerable"] = int((1 - test_labels).sum())
    if squad_calib:
        calib_scores, calib_labels = max_scores(scorer, squad_calib)
        out["squad_calib_auroc"] = auroc(calib_scores, calib_labels)
        out["thresholds"] = choose_thresholds(calib_scores, calib_labels)
        out["thresholds_on_test"] = {name: abstention_at(t["threshold"], test_scores, test_labels)
                                     for name, t in out["thresholds"].items()}
    return out
