"""The support verifier (``rag/models/verifier``, trained with ``python -m train.verifier``):
it loads with its SHA-256 checked, reads a swapped relation as refuted (its grammar check,
``rag.roles``) and a quoted sentence as supported, and its training command runs end to end on a tiny made-up sample
(CI proves the command works without retraining)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from rag.errors import IndexCorruptError
from rag.verifier import LABELS, MODEL_DIR, Verifier, load_verifier, verifier_for
from tests.checks import run_training, tiny_bigbench

# Sentences written for this test, not from any training or evaluation set.
GREETED = "Foreign Minister Battsetseg Batmunkh greeted Vladimir Putin at the airport on Monday evening."
SWAPPED = "Vladimir Putin greeted Foreign Minister Battsetseg Batmunkh at the airport on Monday evening."


def test_the_shipped_verifier_tells_a_quote_from_a_changed_fact_and_an_unrelated_claim():
    evidence = "The former mayor was sentenced to 18 months in prison on Tuesday."
    claims = ["The former mayor was jailed for 18 months.", "The former mayor was jailed for 30 months.",
              "The former mayor was acquitted on Tuesday.", "The mayor opened a new library."]
    verifier = load_verifier()
    probs = verifier.probabilities([(evidence, c) for c in claims])
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1.0)
    # one pair per call, as the judge runs them (int8 activations are quantised per batch, so a
    # batch's other pairs move the probabilities a little: a known wrinkle, README)
    assert [verifier.verdict(evidence, c).label for c in claims] == [
        "supported", "refuted", "refuted", "not enough info"]


def test_the_verifier_reads_a_swapped_relation_as_refuted_and_says_who_was_swapped():
    same, swapped, passive = load_verifier().verdicts(
        [(GREETED, GREETED), (GREETED, SWAPPED), (GREETED, "Putin was greeted by Batmunkh at the airport.")])
    assert same.is_supported and same.clash is None
    assert swapped.label == "refuted" and swapped.clash.kind == "exchanged"
    assert set(swapped.clash.words) == {"Vladimir Putin", "Foreign Minister Battsetseg Batmunkh"}
    assert passive.clash is None  # the same relation in the passive voice is no swap


def test_the_model_alone_misses_the_swap_that_the_grammar_check_catches():
    # the known gap the grammar check closes (README, The verifier): mean-pooled, the model
    # reads the two sentences as the same bag of words
    model_only = Verifier(grammar=False)
    assert model_only.verdict(GREETED, SWAPPED).is_supported
    assert load_verifier().verdict(GREETED, SWAPPED).label == "refuted"


def test_weights_that_do_not_match_the_manifest_are_refused(tmp_path):
    copy = tmp_path / "verifier"
    shutil.copytree(MODEL_DIR, copy)
    with open(copy / "model.onnx", "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(IndexCorruptError, match="SHA-256"):
        Verifier(copy)


def test_a_manifest_with_other_labels_is_refused(tmp_path):
    copy = tmp_path / "verifier"
    shutil.copytree(MODEL_DIR, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["labels"] = ["yes", "no"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="labels"):
        Verifier(copy)


def test_off_means_no_verifier():
    assert verifier_for("off") is None and verifier_for("shipped") is load_verifier()


def vitaminc_examples() -> list[dict]:
    """VitaminC-shaped examples (made up here): True / False / Neither, several pages."""
    out = []
    for i in range(30):
        evidence = f"Town{i}: Town{i} has a population of {1000 + i} people ."
        claims = [(f"Town{i} has {1000 + i} residents .", "True"), (f"Town{i} has {5000 + i} residents .", "False"),
                  (f"Town{i} has a railway station .", "Neither")]
        for claim, label in claims:
            out.append({"input": f"{evidence}\nClaim: {claim}",
                        "target_scores": {k: int(k == label) for k in ("True", "False", "Neither")}})
    return out


def test_training_command_runs_on_a_tiny_sample(tmp_path):
    for module in ("datasets", "accelerate", "onnx", "sklearn"):
        pytest.importorskip(module, reason=f"training needs {module} (requirements-dev.txt)")
    tarball = tiny_bigbench(tmp_path, {"vitaminc_fact_verification": vitaminc_examples()})
    news = tmp_path / "news"
    news.mkdir()
    (news / "a.txt").write_text(f"{GREETED} Ukhnaa Khurelsukh met Vladimir Putin in Ulaanbaatar on Tuesday.\n")
    out, work = tmp_path / "out", tmp_path / "work"
    run_training("train.verifier", "--tarball", str(tarball), "--max-vitaminc", "24", "--qa-items", "8",
                 "--max-steps", "2", "--layers", "1", "--eval-limit", "12", "--swaps", "5",
                 "--news", str(news), "--out", str(out), "--work", str(work), out=out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["facts"]["steps"] == 2 and metrics["metrics"]["news_swaps"]["n"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"] == list(LABELS) and 0.0 < manifest["threshold"] < 1.0
    assert Verifier(out).probabilities([(GREETED, SWAPPED)]).shape == (1, 3)
