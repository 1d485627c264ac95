"""The reader: the probability that a sentence (with its neighbours as context) answers a question.

A small cross-encoder fine-tuned from all-MiniLM-L6-v2 (see ``models/reader/MODEL_CARD.md``
and ``python -m train.reader``), shipped as int8 ONNX and run with onnxruntime on one thread
and the ``tokenizers`` library: no torch, no transformers, no network.

``pair_text`` is the one definition of the reader's input; training imports it too.

>>> pair_text("He said no.", "Putin met Ukhnaa on Monday.", "Talks ended.")
'He said no. (before: Putin met Ukhnaa on Monday.) (after: Talks ended.)'
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError, RagError

MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "reader"
BEFORE_WORDS = 20  # words of the previous sentence kept as context (its end)
AFTER_WORDS = 10  # words of the next sentence kept as context (its start)
BATCH_SIZE = 32


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


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Reader:
    """Scores (question, sentence) pairs with the shipped ONNX cross-encoder; thread-safe."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.manifest = _read_manifest(self.model_dir)
        weights = self.model_dir / self.manifest["weights"]
        _check_sha256(weights, self.manifest["sha256"])
        self.max_length = int(self.manifest.get("max_length", 128))
        # Abstention threshold calibrated with the model on held-out data (see MODEL_CARD.md).
        self.threshold = float(self.manifest.get("threshold", 0.5))
        # Whether the model reads a sentence's neighbours (``pair_text``). A model whose
        # training data put most answers first in their paragraph learns "has a previous
        # sentence -> not the answer"; such a model is shipped with "uses_context": false and
        # reads each sentence alone (see MODEL_CARD.md).
        self.uses_context = bool(self.manifest.get("uses_context", True))
        self._tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self.max_length, strategy="longest_first")
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # 2 threads spin-wait on a busy 2-core machine
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(weights), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    def score(self, question: str, items: Sequence[tuple[str, str, str]]) -> np.ndarray:
        """Probabilities, one per ``(sentence, previous, next)`` item, that it answers ``question``."""
        if not items:
            return np.zeros(0, dtype=np.float32)
        texts = [pair_text(*(item if self.uses_context else item[:1])) for item in items]
        logits = [self._logits(question, texts[i:i + BATCH_SIZE]) for i in range(0, len(texts), BATCH_SIZE)]
        return (1.0 / (1.0 + np.exp(-np.concatenate(logits)))).astype(np.float32)

    def _logits(self, question: str, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([(question, text) for text in texts])
        width = max(len(e.ids) for e in encodings)
        feeds = {name: np.zeros((len(texts), width), dtype=np.int64)
                 for name in ("input_ids", "attention_mask", "token_type_ids")}
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            feeds["input_ids"][row, :n] = enc.ids
            feeds["attention_mask"][row, :n] = enc.attention_mask
            feeds["token_type_ids"][row, :n] = enc.type_ids
        feeds = {k: v for k, v in feeds.items() if k in self._inputs}
        with self._lock:
            (out,) = self._session.run(None, feeds)
        return out.reshape(len(texts), -1)[:, 0].astype(np.float64)


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
def load_reader(model_dir: Path = MODEL_DIR) -> Reader:
    """The reader for ``model_dir`` (default: the shipped model), loaded once per process."""
    return Reader(Path(model_dir))


def reader_for(setting: str) -> Reader | None:
    """The reader named by ``Config.reader``: "shipped", a model folder, or "off" (None)."""
    if setting == "off":
        return None
    return load_reader(MODEL_DIR if setting == "shipped" else Path(setting).expanduser().resolve())
