"""Turn BIG-bench QA tasks into question/paragraph/answer items, each assigned to one fold.

Folds (fixed, no randomness):
- ``contextual_parametric_knowledge_conflicts`` (Natural Questions): list positions
  ``i % 5 == 0`` are ``"reserved"`` (test only; never trained, tuned or calibrated on); of the
  others, a stable hash of the position puts 5% in ``"calib"``, the rest in ``"train"``.
- ``disfl_qa`` (SQuAD 2.0): a stable hash of the *paragraph* (so that no paragraph is shared
  between folds) gives ``"train"`` 80%, ``"calib"`` 10%, ``"test"`` 10%.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .data import detokenise, read_bigbench_tasks

NQ_TASK = "contextual_parametric_knowledge_conflicts"
SQUAD_TASK = "disfl_qa"
_LIST_GAP = re.compile(r" {3,}")  # NQ flattens list/table rows with runs of spaces


@dataclass(frozen=True)
class QAItem:
    """One question over one paragraph; ``answer`` is None when the paragraph has none."""

    source: str
    index: int
    question: str
    context: str
    answer: str | None
    fold: str


def stable_bucket(key: str, buckets: int = 100) -> int:
    """A bucket in ``range(buckets)`` from SHA-256 of ``key`` (same on every machine)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % buckets


def nq_fold(index: int) -> str:
    """Fold of NQ list position ``index``.

    >>> [nq_fold(i) for i in (0, 5, 10)]
    ['reserved', 'reserved', 'reserved']
    """
    if index % 5 == 0:
        return "reserved"
    return "calib" if stable_bucket(f"nq:{index}") < 5 else "train"


def squad_fold(context: str) -> str:
    """Fold of a SQuAD paragraph: 80% train, 10% calib, 10% test by hash of its text."""
    bucket = stable_bucket("squad:" + context)
    return "train" if bucket < 80 else "calib" if bucket < 90 else "test"


def _clean(text: str) -> str:
    return "\n".join(detokenise(part) for part in _LIST_GAP.split(text) if part.strip())


def nq_items(examples: list[dict]) -> list[QAItem]:
    """Items of the NQ knowledge-conflict task ("Question: …\\nContext: …")."""
    out = []
    for i, ex in enumerate(examples):
        head, _, context = ex["input"].partition("\nContext:")
        question = head.replace("Question:", "", 1).strip()
        out.append(QAItem("nq", i, detokenise(question), _clean(context), detokenise(ex["target"]), nq_fold(i)))
    return out


def squad_items(examples: list[dict]) -> list[QAItem]:
    """Items of disfl_qa ("<question>\\ncontext: <paragraph>"); target "unknown" = no answer."""
    out = []
    for i, ex in enumerate(examples):
        question, _, context = ex["input"].partition("\ncontext:")
        context = _clean(context)
        answer = None if ex["target"].strip() == "unknown" else detokenise(ex["target"])
        out.append(QAItem("squad", i, detokenise(question), context, answer, squad_fold(context)))
    return out


def load_items(tarball=None) -> list[QAItem]:
    """All items of both tasks (NQ first, then SQuAD), read from the bigbench sdist."""
    tasks = read_bigbench_tasks([NQ_TASK, SQUAD_TASK], tarball)
    return nq_items(tasks[NQ_TASK]) + squad_items(tasks[SQUAD_TASK])
