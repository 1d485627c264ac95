"""Shared test helpers, written once: the product's promises and a word-overlap fake embedder.

    assert_quotes_verbatim(answer, corpus_dir)  # every quote is text[start:end] of its article
    index_file(gen, "sentence-vectors")         # the pack of sentence vectors written last
    tiny_bigbench(tmp_path)                     # a made-up bigbench sdist for training commands
    run_training("train.verifier", "--out", ...)  # a training command, offline, must succeed
    BagOfWords().embed(["Putin arrived"])       # cosine = content-word overlap
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import rag
from rag.corpus import load_document


def assert_quotes_verbatim(answer: rag.Answer, corpus_dir: str | Path) -> None:
    """Every citation's quote is the article text, as loaded, at [start:end]."""
    for c in answer.citations:
        text = load_document(Path(corpus_dir) / c.source).text
        assert text[c.start:c.end] == c.quote, c


def index_file(gen: Path, name: str) -> Path:
    """The file ``name`` of the index generation ``gen``; "sentence-vectors", "chunk-vectors" and
    "documents" name the pack (rag.packs) of those its save wrote last, whose file name carries
    a random tag."""
    if name in ("sentence-vectors", "chunk-vectors", "documents"):
        kind = "document" if name == "documents" else name.split("-")[0]
        listed = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))["packs"][kind]
        return gen / listed[-1][0]
    return gen / name


_STOP = set("a an the of to in on and or is was were be by for with at as that this it he she".split())


class BagOfWords:
    """Deterministic fake Embedder: hashed lower-case content words, L2-normalised rows, so
    cosine = word overlap and tests can reason about which sentence is "close"."""

    name = "bag-of-words"
    fingerprint = "test"
    dim = 512

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                if word not in _STOP:
                    out[row, int(hashlib.sha256(word.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


def tiny_bigbench(path: Path, extra: dict[str, list[dict]] | None = None) -> Path:
    """A bigbench-shaped sdist holding 20 NQ-style and 30 SQuAD-style items (made up here), plus
    the ``extra`` tasks' examples (task name -> examples)."""
    towns = ["Arden", "Belmont", "Cresta", "Dunmore", "Elvira", "Fenwick", "Galloway", "Hartley", "Islay", "Juniper"]
    nq, squad = [], []
    for i in range(20):
        town = towns[i % 10]
        context = (f"{town} is a small town on the river . The mayor of {town} is Person{i} Smith , elected in 19{50 + i} . "
                   f"The town has a museum and {i + 3} schools .")
        nq.append({"input": f"\nQuestion: who is the mayor of {town.lower()}?\nContext: {context}",
                   "target": f"Person{i} Smith"})
    for i in range(30):
        context = (f"Lake {i} lies in the north . Its depth is {100 + i} metres , according to a survey . "
                   f"Fishing boats from Port{i} visit it every summer .")
        answerable = i % 3 != 0
        question = f"How deep is Lake {i} ?" if answerable else f"Who owns Lake {i} ?"
        squad.append({"input": f"{question}  \ncontext: {context} ", "target": f"{100 + i} metres" if answerable else "unknown"})
    tar_path = path / "bigbench-1.0.0.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tf:
        tasks = {"contextual_parametric_knowledge_conflicts": nq, "disfl_qa": squad, **(extra or {})}
        for task, examples in tasks.items():
            data = json.dumps({"examples": examples}).encode()
            info = tarfile.TarInfo(f"bigbench-1.0.0/bigbench/benchmark_tasks/{task}/task.json")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return tar_path


MODEL_FILES = ("model.onnx", "tokenizer.json", "manifest.json", "MODEL_CARD.md", "metrics.json")


def run_training(module: str, *args: str, out: Path | None = None, timeout: int = 600) -> None:
    """Run ``python -m module args`` from the project root with the hub offline; fail with its
    stderr if it fails, and (given ``out``) unless it wrote a model folder's files there."""
    from rag.config import PROJECT_ROOT

    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in MODEL_FILES if out is not None else ():
        assert (out / name).exists(), name
