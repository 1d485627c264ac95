"""The support verifier: does this evidence support, refute, or not speak to this claim?

A cross-encoder trained here (``python -m train.verifier``: BIG-bench VitaminC plus
contrastive pairs with swapped answers and exchanged names) reads (evidence, claim) and gives
three probabilities, ``LABELS`` order. The claim counts as *supported* when P(supported)
reaches the threshold calibrated on the held-out split (``manifest.json``); otherwise the
verdict is whichever of refuted / not enough information is likelier.

The model reads nearly as a bag of words: "the minister greeted Putin" and "Putin greeted the
minister" look alike to it. So every pair is also read for its grammar (``rag.roles``: spaCy's
parser says who did what to whom); a claim that exchanges two participants' roles, or negates
what the evidence says a participant did, is *refuted* whatever the model's probabilities,
and its ``Verdict.clash`` says why.

It is the default judge of generated answers (``rag.llm.verify``: one call per sentence, a
few milliseconds, where the 1.5B LLM judge took about half a second) and it finds outlets
that contradict each other (``rag.conflicts``). Numpy + onnxruntime + tokenizers only; the
weights' SHA-256 is checked at load.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError
from .reader import PairModel, open_model
from .roles import Clash, clashes

MODEL_DIR = Path(__file__).resolve().parent / "models" / "verifier"  # package data
LABELS = ("supported", "refuted", "not enough info")


@dataclass(frozen=True)
class Verdict:
    """The verifier's reading of one (evidence, claim) pair."""

    label: str  # one of LABELS
    supported: float  # P(supported)
    refuted: float
    not_enough_info: float
    clash: Clash | None = None  # the grammar check's reason for "refuted", if it found one

    @property
    def is_supported(self) -> bool:
        return self.label == "supported"


class Verifier:
    """The shipped (or a given) verifier model plus the grammar check; thread-safe.

    ``grammar=False`` leaves the model alone (to measure what each part catches).
    """

    def __init__(self, model_dir: Path = MODEL_DIR, grammar: bool = True) -> None:
        self.model_dir, self.manifest, weights, self.threshold, _ = open_model(model_dir)
        if tuple(self.manifest.get("labels", ())) != LABELS:
            raise IndexCorruptError(f"verifier manifest in {model_dir} has labels "
                                    f"{self.manifest.get('labels')!r}, expected {list(LABELS)}")
        self._model = PairModel(self.model_dir, self.manifest, weights)
        self.grammar = grammar  # the parser loads at the first check (about 2 s; app.py preloads it)

    def probabilities(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """``(len(pairs), 3)`` probabilities for ``(evidence, claim)`` pairs, ``LABELS`` order."""
        if not pairs:
            return np.zeros((0, len(LABELS)))
        logits = self._model.logits([(" ".join(e.split()), " ".join(c.split())) for e, c in pairs])
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def verdicts(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        """One ``Verdict`` per ``(evidence, claim)`` pair."""
        found = self.clashes(pairs)
        return [self._verdict(row, c) for row, c in zip(self.probabilities(pairs), found)]

    def clashes(self, pairs: Sequence[tuple[str, str]]) -> list[Clash | None]:
        """The grammar check alone for ``(evidence, claim)`` pairs (all None with ``grammar=False``)."""
        return clashes(pairs) if self.grammar else [None] * len(pairs)

    def verdict(self, evidence: str, claim: str) -> Verdict:
        """The verdict on one pair."""
        return self.verdicts([(evidence, claim)])[0]

    def _verdict(self, p: np.ndarray, found: Clash | None) -> Verdict:
        if found is not None:
            label = LABELS[1]
        elif p[0] >= self.threshold:
            label = LABELS[0]
        else:
            label = LABELS[1] if p[1] >= p[2] else LABELS[2]
        return Verdict(label, float(p[0]), float(p[1]), float(p[2]), found)


@functools.lru_cache(maxsize=4)
def load_verifier(model_dir: Path = MODEL_DIR) -> Verifier:
    """The verifier in ``model_dir`` (default: the shipped one), loaded once per process."""
    return Verifier(Path(model_dir))


def verifier_for(setting: str) -> Verifier | None:
    """The verifier named by ``Config.verifier``: "shipped", a model folder, or "off" (None)."""
    if setting == "off":
        return None
    return load_verifier() if setting == "shipped" else load_verifier(Path(setting).expanduser().resolve())
