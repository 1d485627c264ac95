"""The shipped reader (a perceptron over generic signals): its signals read as worked examples,
the numpy forward pass equals scikit-learn's, the model's SHA-256 is checked, and the training
command runs end to end on a tiny made-up sample (CI proves it works without retraining)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rag.config import PROJECT_ROOT
from rag.embedding import HashEmbedder
from rag.errors import IndexCorruptError
from rag.evidence import TermStats, profile
from rag.features import FEATURE_NAMES, Candidate, Question, feature_rows
from rag.reader import MODEL_DIR, HeadReader, load_reader
from tests.checks import tiny_bigbench

ARTICLE = [  # a made-up article: (sentence, its stemmed terms come from rag.terms)
    "Protesters gathered in Sukhbaatar Square in Ulaanbaatar on Monday.",
    "Police said about 2,000 people took part in the rally.",
    "The government did not comment.",
]
OTHER = ["The harbour in Lisbon reopened after repairs that cost 3 million euros."]


def candidates(texts: list[str], stats: TermStats, offset: int) -> list[Candidate]:
    vecs = HashEmbedder(64).embed(texts)
    terms = [stats.sentence_terms[offset + i] for i in range(len(texts))]
    article = frozenset().union(*terms)
    return [Candidate(t, texts[i - 1] if i else "", texts[i + 1] if i + 1 < len(texts) else "", vecs[i], terms[i],
                      frozenset().union(*terms[max(0, i - 1):i + 2]), article) for i, t in enumerate(texts)]


def signals(question: str) -> dict[str, np.ndarray]:
    stats = TermStats.from_texts(ARTICLE + OTHER)
    asked = Question(question, HashEmbedder(64).embed([question])[0], profile(question, stats), stats.max_idf)
    rows = feature_rows(asked, candidates(ARTICLE, stats, 0) + candidates(OTHER, stats, len(ARTICLE)))
    return {name: rows[:, i] for i, name in enumerate(FEATURE_NAMES)}


def test_coverage_signals_follow_the_question_terms():
    s = signals("How many people took part in the rally in Ulaanbaatar?")
    assert s["cov_sentence"][1] > s["cov_sentence"][0] > s["cov_sentence"][3] == 0.0
    assert s["cov_article"][0] == s["cov_article"][1] == 1.0  # the article holds every key term
    assert s["cov_gap"][1] == 0.0 and s["cov_gap"][2] < 0.0  # the best sentence has no gap
    assert s["type_how-many"].tolist() == [1.0] * 4 and s["type_who"].max() == 0.0


def test_a_name_the_article_lacks_is_a_signal():
    s = signals("How many people rallied in Lisbon?")
    assert s["names_in_article"][:3].tolist() == [0.0, 0.0, 0.0]  # Lisbon is not in the article
    assert s["names_in_article"][3] == 1.0 and s["missing_idf_article"][0] > 0.0
    assert signals("How many people rallied in Ulaanbaatar?")["names_in_article"][:3].tolist() == [1.0] * 3


def test_asked_number_missing_and_answer_type():
    s = signals("Did 5,000 people rally on Monday?")
    assert s["number_missing"][1] == 1.0  # no "5,000" in or beside the sentence
    when = signals("When did protesters gather in Sukhbaatar Square?")
    assert when["type_cue"][0] == 1.0 and when["has_answer_span"][0] == 1.0  # "Monday"


def test_numpy_forward_equals_scikit_learn():
    pytest.importorskip("sklearn")
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    from train.headfit import export

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, len(FEATURE_NAMES)))
    y = (X[:, 0] + X[:, 2] > 0).astype(int)
    scaler = StandardScaler().fit(X)
    mlp = MLPClassifier(hidden_layer_sizes=(8, 4), max_iter=300, random_state=0).fit(scaler.transform(X), y)
    ours = HeadReader.forward(export(scaler, mlp), X)
    np.testing.assert_allclose(ours, mlp.predict_proba(scaler.transform(X))[:, 1], rtol=1e-6, atol=1e-9)


def test_shipped_head_loads_checks_its_hash_and_scores_in_range(tmp_path):
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    assert manifest["kind"] == "head" and 0.0 < manifest["threshold"] < 1.0
    reader = load_reader()
    assert isinstance(reader, HeadReader) and reader is load_reader()
    stats = TermStats.from_texts(ARTICLE + OTHER)
    question = "How many people took part in the rally?"
    asked = Question(question, HashEmbedder(64).embed([question])[0], profile(question, stats), stats.max_idf)
    probs = reader.score(asked, candidates(ARTICLE, stats, 0))
    assert probs.shape == (3,) and np.all((probs >= 0) & (probs <= 1))
    assert reader.score(asked, []).shape == (0,)
    copy = tmp_path / "reader"
    shutil.copytree(MODEL_DIR, copy)
    with open(copy / manifest["weights"], "a") as handle:
        handle.write(" ")
    with pytest.raises(IndexCorruptError, match=manifest["sha256"]):
        HeadReader(copy)


def test_a_head_for_other_features_is_refused(tmp_path):
    from rag.paths import file_sha256

    head = {"features": ["dense"], "mean": [0.0], "scale": [1.0], "activation": "relu",
            "layers": [{"weights": [[1.0]], "bias": [0.0]}]}
    (tmp_path / "head.json").write_text(json.dumps(head))
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"kind": "head", "weights": "head.json", "sha256": file_sha256(tmp_path / "head.json")}))
    with pytest.raises(IndexCorruptError, match="does not fit this version's features"):
        HeadReader(tmp_path)


def test_training_command_runs_on_a_tiny_sample(tmp_path):
    pytest.importorskip("sklearn", reason="training needs scikit-learn (requirements-dev.txt)")
    tarball = tiny_bigbench(tmp_path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "train.head", "--tarball", str(tarball), "--model", "hash",
           "--cache", str(tmp_path / "cache"), "--hidden", "4", "--out", str(out)]
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=dict(os.environ, HF_HUB_OFFLINE="1"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("head.json", "manifest.json", "MODEL_CARD.md", "metrics.json"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["nq_reserved_paragraph"]["n"] > 0 and "balanced" in metrics["thresholds"]
    assert isinstance(load_reader(out), HeadReader)
