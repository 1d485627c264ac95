"""The reader: the probability that a candidate sentence answers a question.

Two kinds, named by ``"kind"`` in a model folder's ``manifest.json``:

- ``"head"`` (shipped, ``HeadReader``): a small perceptron over the generic signals of
  ``rag.features`` (embedding closeness, IDF term coverage of the sentence, its neighbours and
  its article, missing names and numbers, answer type), trained on SQuAD 2.0 / NQ with
  ``python -m train.head``; numpy only, microseconds per candidate.
- ``"cross-encoder"`` (``Reader``, the default when "kind" is absent): a cross-encoder
  fine-tuned from all-MiniLM-L6-v2 with ``python -m train.reader``, int8 ONNX run with
  onnxruntime on one thread and the ``tokenizers`` library (measured worse than the head; kept
  so that its experiments can be repeated, see README "The reader").

Neither needs torch, transformers or the network.

``pair_text`` is the one definition of the reader's input; training imports it too.

>>> pair_text("He said no.", "Putin met Ukhnaa on Monday.", "Talks ended.")
'He said no. (before: Putin met Ukhnaa on Monday.) (after: Talks ended.)'
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError, RagError
from .paths import file_sha256
from .features import FEATURE_NAMES, READER_SIGNALS, Candidate, Question, feature_rows, with_reader

log = logging.getLogger(__name__)
MODEL_DIR = Path(__file__).resolve().parent / "models" / "reader"  # package data: installs with rag
BEFORE_WORDS = 20  # words of the previous sentence kept as context (its end)
AFTER_WORDS = 10  # words of the next sentence kept as context (its start)
BATCH_SIZE = 32
HEAD_FILE = "head.json"


def pair_text(sentence: str, previous: str = "", following: str = "") -> str:
    """The reader's second input: the candidate sentence first, then a little of each neighbour."""
    text = " ".join(sentence.split())
    before = " ".join(previous.split()[-BEFORE_WORDS:])
    after = " ".join(following.split()[:AFTER_WORDS])
    if before:
        text += f" (before: {before})"
    if after:
        text += f" (after: {after})"
    return text


class PairModel:
    """An int8 ONNX cross-encoder over (text_a, text_b) pairs: its raw logits, one row per
    pair (one column for the reader, three for ``rag.verifier``); thread-safe.

    Runs with onnxruntime on one thread and the ``tokenizers`` library, truncating each pair
    to the manifest's ``max_length`` tokens (longest side first)."""

    def __init__(self, model_dir: Path, manifest: dict, weights: Path) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.max_length = int(manifest.get("max_length", 128))
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self.max_length, strategy="longest_first")
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # 2 threads spin-wait on a busy 2-core machine
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(weights), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    def logits(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """``(len(pairs), outputs)`` float64 logits, in batches of ``BATCH_SIZE``."""
        if not pairs:
            return np.zeros((0, 1), dtype=np.float64)
        return np.concatenate([self._batch(list(pairs[i:i + BATCH_SIZE]))
                               for i in range(0, len(pairs), BATCH_SIZE)])

    def _batch(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(pairs)
        width = max(len(e.ids) for e in encodings)
        feeds = {name: np.zeros((len(pairs), width), dtype=np.int64)
                 for name in ("input_ids", "attention_mask", "token_type_ids")}
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            feeds["input_ids"][row, :n] = enc.ids
            feeds["attention_mask"][row, :n] = enc.attention_mask
            feeds["token_type_ids"][row, :n] = enc.type_ids
        feeds = {k: v for k, v in feeds.items() if k in self._inputs}
        with self._lock:
            (out,) = self._session.run(None, feeds)
        return out.reshape(len(pairs), -1).astype(np.float64)


class Reader:
    """Scores (question, sentence) pairs with the shipped ONNX cross-encoder; thread-safe."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        self.model_dir, self.manifest, weights, self.threshold, self.confident = open_model(model_dir)
        # Whether the model reads a sentence's neighbours (``pair_text``). A model whose
        # training data put most answers first in their paragraph learns "has a previous
        # sentence -> not the answer"; such a model is shipped with "uses_context": false and
        # reads each sentence alone (see MODEL_CARD.md).
        self.uses_context = bool(self.manifest.get("uses_context", True))
        self._model = PairModel(self.model_dir, self.manifest, weights)
        self.max_length = self._model.max_length

    def score(self, question: Question, candidates: Sequence[Candidate]) -> np.ndarray:
        """Probabilities, one per candidate, that it answers the question (reads the text only)."""
        return self.score_texts(question.text, [(c.text, c.previous, c.following) for c in candidates])

    def score_texts(self, question: str, items: Sequence[tuple[str, str, str]]) -> np.ndarray:
        """Probabilities, one per ``(sentence, previous, next)`` item, that it answers ``question``."""
        return (1.0 / (1.0 + np.exp(-self.logits(question, items)))).astype(np.float32)

    def logits(self, question: str, items: Sequence[tuple[str, str, str]]) -> np.ndarray:
        """The model's logits (float64), one per ``(sentence, previous, next)`` item."""
        if not items:
            return np.zeros(0, dtype=np.float64)
        texts = [pair_text(*(item if self.uses_context else item[:1])) for item in items]
        return self._model.logits([(question, text) for text in texts])[:, 0]


class HeadReader:
    """The trained model over ``rag.features`` signals (logistic or a small perceptron),
    evaluated with numpy; thread-safe (read-only).

    A head stacked on a cross-encoder (manifest ``"cross_encoder"``: its sub-folder) also
    reads each candidate with it and takes its logit as two more signals
    (``rag.features.READER_SIGNALS``)."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        self.model_dir, self.manifest, weights, self.threshold, self.confident = open_model(model_dir)
        # The embedder whose vectors the signals were computed with (weights fingerprint).
        self.embedder_fingerprint = self.manifest.get("embedder", {}).get("fingerprint")
        sub = self.manifest.get("cross_encoder")
        if sub is not None and (not isinstance(sub, str) or Path(sub).name != sub or sub in ("", ".", "..")):
            raise IndexCorruptError(f"reader manifest in {model_dir} names cross-encoder folder {sub!r}, "
                                    "not a sub-folder of the model")
        self.cross_encoder = Reader(self.model_dir / sub) if sub else None
        expected = FEATURE_NAMES + (READER_SIGNALS if sub else ())
        try:
            head = json.loads(weights.read_text(encoding="utf-8"))
            if tuple(head["features"]) != expected:
                raise ValueError(f"features {head['features']} != {list(expected)}")
            self.head = {"mean": np.asarray(head["mean"]), "scale": np.asarray(head["scale"]),
                         "activation": head["activation"],
                         "layers": [{"weights": np.asarray(layer["weights"]), "bias": np.asarray(layer["bias"])}
                                    for layer in head["layers"]]}
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"reader head {weights} does not fit this version's features: {exc}") from exc

    def score(self, question: Question, candidates: Sequence[Candidate]) -> np.ndarray:
        """Probabilities, one per candidate, that it answers the question."""
        rows = feature_rows(question, candidates)
        if self.cross_encoder is not None:
            rows = with_reader(rows, self.cross_encoder.logits(
                question.text, [(c.text, c.previous, c.following) for c in candidates]))
        return self.forward(self.head, rows).astype(np.float32)

    @staticmethod
    def forward(head: dict, rows: np.ndarray) -> np.ndarray:
        """The perceptron on a matrix of feature rows (standardised, hidden layers, sigmoid)."""
        x = (np.asarray(rows, dtype=np.float64) - np.asarray(head["mean"])) / np.asarray(head["scale"])
        layers = head["layers"]
        for i, layer in enumerate(layers):
            x = x @ np.asarray(layer["weights"]) + np.asarray(layer["bias"])
            if i + 1 < len(layers):
                x = np.maximum(x, 0.0) if head["activation"] == "relu" else np.tanh(x)
        return 1.0 / (1.0 + np.exp(-x[:, 0]))


def open_model(model_dir: Path) -> tuple[Path, dict, Path, float, float]:
    """(folder, manifest, weights file with its SHA-256 checked, abstention threshold,
    confidence threshold).

    Both thresholds were calibrated with the model on held-out data (see its MODEL_CARD.md):
    under ``threshold`` the question is refused; under ``confident_threshold`` the answer is
    given but marked tentative. A model without the second is never tentative.
    """
    model_dir = Path(model_dir)
    manifest = _read_manifest(model_dir)
    weights = model_dir / manifest["weights"]
    _check_sha256(weights, manifest["sha256"])
    threshold = float(manifest.get("threshold", 0.5))
    return model_dir, manifest, weights, threshold, max(threshold, float(manifest.get("confident_threshold", 0.0)))


def _read_manifest(model_dir: Path) -> dict:
    path = model_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["weights"], manifest["sha256"]
    except FileNotFoundError as exc:
        raise RagError(f"reader model not found: {path} is missing") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexCorruptError(f"reader manifest {path} is unreadable or lacks 'weights'/'sha256'") from exc
    return manifest


def _check_sha256(weights: Path, expected: str) -> None:
    if not weights.exists():
        raise RagError(f"reader weights not found: {weights}")
    actual = file_sha256(weights)
    if actual != expected:
        raise IndexCorruptError(
            f"reader weights {weights} have SHA-256 {actual}, but manifest.json expects {expected}")


@functools.lru_cache(maxsize=4)
def load_reader(model_dir: Path = MODEL_DIR) -> HeadReader | Reader:
    """The reader for ``model_dir`` (default: the shipped model), loaded once per process."""
    kind = _read_manifest(Path(model_dir)).get("kind", "cross-encoder")
    if kind not in ("head", "cross-encoder"):
        raise IndexCorruptError(f"reader manifest in {model_dir} names unknown kind {kind!r}")
    return HeadReader(Path(model_dir)) if kind == "head" else Reader(Path(model_dir))


def reader_for(setting: str, embedder_fingerprint: str | None = None) -> HeadReader | Reader | None:
    """The reader named by ``Config.reader``: "shipped", a model folder, or "off" (None).

    A reader whose signals were computed with another embedder (its manifest's
    ``embedder.fingerprint``) than the index's is not used: its closeness signals would be
    meaningless, so the evidence prior decides alone and a warning says why (once).
    """
    if setting == "off":
        return None
    reader = load_reader(MODEL_DIR if setting == "shipped" else Path(setting).expanduser().resolve())
    wanted = getattr(reader, "embedder_fingerprint", None)
    if wanted and embedder_fingerprint and wanted != embedder_fingerprint:
        _warn_mismatch(str(reader.model_dir), embedder_fingerprint)
        return None
    return reader


@functools.lru_cache(maxsize=16)
def _warn_mismatch(model_dir: str, fingerprint: str) -> None:
    log.warning("reader %s was trained on another embedder's vectors than this index's (%s…); "
                "answering without it", model_dir, fingerprint[:12])
