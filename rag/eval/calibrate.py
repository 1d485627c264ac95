"""Fit the abstention thresholds (min_support, min_coverage) on labelled questions.

``python -m rag calibrate [QUESTIONS]`` runs every question of a calibration set (same
JSONL format as the eval set, with answerable and unanswerable items) through retrieval and
evidence scoring, then searches the grid of both thresholds for the pair with the best
balanced accuracy (mean of "answered when answerable" and "abstained when unanswerable"),
preferring lower thresholds on ties so fewer answerable questions are refused. The
defaults in rag.config came from this command on tests/data/calibration.jsonl; the eval
set is kept separate so the thresholds are not tuned on what they are judged by.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from .. import pipeline
from ..config import PROJECT_ROOT, Config
from ..extractive import type_match
from .questions import load_questions

DEFAULT_SET = PROJECT_ROOT / "tests" / "data" / "calibration.jsonl"


@dataclass(frozen=True)
class Features:
    """The two abstention signals for one question, with its label."""

    id: str
    answerable: bool
    support: float  # evidence score of the best sentence
    coverage: float  # share of key terms found anywhere in the corpus
    type_match: float  # answer-type cue of the strongest sentences (1.0: untyped question)


@dataclass(frozen=True)
class Calibration:
    min_support: float
    min_coverage: float
    min_type_match: float
    balanced_accuracy: float
    answered_when_answerable: float
    abstained_when_unanswerable: float
    features: tuple[Features, ...]


def features(questions_path: Path, config: Config) -> list[Features]:
    """Abstention signals for every question of a labelled set."""
    out = []
    for q in load_questions(questions_path):
        state = pipeline.retrieve(pipeline.rewrite(pipeline.start(q.question, q.history, config)))
        answerer = pipeline.extractive_answerer(state)
        prof, scored = answerer.evidence(state.query, list(state.passages))
        out.append(Features(q.id, q.answerable, scored[0].support if scored else 0.0, prof.corpus_coverage,
                            type_match(prof, scored)))
    return out


def abstains(f: Features, sup: float, cov: float, typ: float) -> bool:
    return f.support < sup or f.coverage < cov or f.type_match < typ


def fit(feats: list[Features]) -> Calibration:
    """Grid-search the thresholds for the best balanced accuracy (ties: lower thresholds)."""
    pos = [f for f in feats if f.answerable]
    neg = [f for f in feats if not f.answerable]
    best: tuple | None = None
    for typ in (0.0, 0.25, 0.5, 0.75, 1.0):
        for cov in np.round(np.arange(0.0, 1.0001, 0.05), 2):
            for sup in np.round(np.arange(0.20, 0.9001, 0.01), 2):
                answered = float(np.mean([not abstains(f, sup, cov, typ) for f in pos])) if pos else 1.0
                abstained = float(np.mean([abstains(f, sup, cov, typ) for f in neg])) if neg else 1.0
                key = (round((answered + abstained) / 2, 6), -(sup + cov + typ))
                if best is None or key > best[0]:
                    best = (key, float(sup), float(cov), float(typ), answered, abstained)
    assert best is not None
    (bal, _), sup, cov, typ, answered, abstained = best
    return Calibration(sup, cov, typ, bal, answered, abstained, tuple(feats))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("questions", nargs="?", type=Path, default=DEFAULT_SET,
                        help="labelled JSONL question set (default: tests/data/calibration.jsonl)")
    parser.add_argument("--corpus", type=Path, help="corpus folder")
    parser.add_argument("--index", type=Path, help="index folder")


def run(args: argparse.Namespace) -> int:
    config = Config.from_args(args)
    result = fit(features(args.questions, config))
    console = Console()
    table = Table(title=f"Abstention signals ({args.questions.name})")
    for col in ("id", "answerable", "support", "coverage", "type match", "decision"):
        table.add_column(col)
    for f in result.features:
        abstain = abstains(f, result.min_support, result.min_coverage, result.min_type_match)
        ok = abstain != f.answerable
        table.add_row(f.id, str(f.answerable), f"{f.support:.3f}", f"{f.coverage:.2f}", f"{f.type_match:.2f}",
                      ("[green]" if ok else "[red]") + ("abstain" if abstain else "answer") + "[/]")
    console.print(table)
    console.print(f"best: min_support={result.min_support:.2f} min_coverage={result.min_coverage:.2f} "
                  f"min_type_match={result.min_type_match:.2f} "
                  f"balanced accuracy {result.balanced_accuracy:.3f} (answered {result.answered_when_answerable:.0%}"
                  f" of answerable, abstained on {result.abstained_when_unanswerable:.0%} of unanswerable)")
    console.print(f"current defaults: min_support={config.min_support} min_coverage={config.min_coverage} "
                  f"min_type_match={config.min_type_match}")
    return 0
