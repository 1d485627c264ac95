"""The cross-encoder reader (``models/cross-encoder``, an experiment kept for comparison; the
shipped reader is the head of tests/test_head.py): it loads (SHA-256 checked), scores sensibly,
and its training command runs end to end on a tiny sample (CI proves it works without retraining)."""

from __future__ import annotations

import doctest
import importlib
import json
import shutil

import numpy as np
import pytest

from rag.config import PROJECT_ROOT
from rag.errors import IndexCorruptError, RagError
from rag.reader import HeadReader, Reader, load_reader, pair_text
from tests.checks import run_training, tiny_bigbench

CROSS_ENCODER = PROJECT_ROOT / "models" / "cross-encoder"

HANDMADE = [  # written for this test; not from any training or evaluation set
    ("When did the bridge reopen?",
     ("The bridge reopened to traffic on 14 March 2023 after two years of repairs.", "", ""),
     ("The city council also approved a new budget for its parks.", "", "")),
    ("Who founded the bakery?",
     ("The bakery was founded by Maria Lopez in 1998 in a former garage.", "", ""),
     ("Bread prices rose sharply across the region last year.", "", "")),
    ("How many people attended the concert?",
     ("About 45,000 people attended the concert at the stadium on Saturday.", "", ""),
     ("The band's new album will be released in May.", "", "")),
]


def test_pair_text_puts_the_sentence_first_and_trims_neighbours():
    text = pair_text("It rained.", " ".join(f"w{i}" for i in range(50)), "Then the sun came out over the hills and stayed there all day long.")
    assert text.startswith("It rained. (before: w30 ")
    assert text.endswith("(after: Then the sun came out over the hills and stayed)")
    assert pair_text("Alone.") == "Alone."


def test_cross_encoder_loads_and_matches_manifest():
    manifest = json.loads((CROSS_ENCODER / "manifest.json").read_text())
    assert (CROSS_ENCODER / manifest["weights"]).stat().st_size <= 30 * 1024 * 1024
    assert load_reader(CROSS_ENCODER) is load_reader(CROSS_ENCODER)


def test_tampered_weights_are_refused(tmp_path):
    copy = tmp_path / "reader"
    shutil.copytree(CROSS_ENCODER, copy)
    expected = json.loads((copy / "manifest.json").read_text())["sha256"]
    with open(copy / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(IndexCorruptError) as info:
        Reader(copy)
    message = str(info.value)
    assert "model.onnx" in message and expected in message


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(RagError, match="manifest.json"):
        Reader(tmp_path)


def test_probabilities_are_in_range_and_deterministic():
    reader = load_reader(CROSS_ENCODER)
    question, good, bad = HANDMADE[0]
    items = [good, bad] * 20  # more than one batch
    first, second = reader.score_texts(question, items), reader.score_texts(question, items)
    assert first.shape == (40,) and np.all((first >= 0) & (first <= 1))
    assert np.array_equal(first, second)
    assert reader.score_texts(question, []).shape == (0,)


@pytest.mark.parametrize("question, good, bad", HANDMADE)
def test_answer_sentence_outscores_an_unrelated_one(question, good, bad):
    good_p, bad_p = load_reader(CROSS_ENCODER).score_texts(question, [good, bad])
    assert good_p > bad_p


def test_training_modules_doctests():
    pytest.importorskip("bm25s")
    for name in ("train.data", "train.items", "train.pairs", "train.fit", "train.evaluate"):
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0, name


def test_training_command_runs_on_a_tiny_sample(tmp_path):
    for module in ("datasets", "accelerate", "onnx", "bm25s"):
        pytest.importorskip(module, reason=f"training needs {module} (requirements-dev.txt)")
    tarball = tiny_bigbench(tmp_path)
    out, work = tmp_path / "out", tmp_path / "work"
    run_training("train.reader", "--tarball", str(tarball), "--max-pairs", "16", "--max-steps", "2",
                 "--layers", "1", "--eval-limit", "8", "--latency-repeats", "1", "--no-baseline",
                 "--out", str(out), "--work", str(work), out=out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["facts"]["steps"] == 2 and metrics["facts"]["pairs"] <= 16
    scores = Reader(out).score_texts(*HANDMADE[0][:1], [HANDMADE[0][1]])
    assert scores.shape == (1,) and 0.0 <= float(scores[0]) <= 1.0

    # ... and a head stacked on it: the cross-encoder's logit is two more signals, and the
    # cross-encoder ships inside the head's folder
    pytest.importorskip("sklearn", reason="training needs scikit-learn (requirements-dev.txt)")
    stacked = tmp_path / "stacked"
    run_training("train.head", "--tarball", str(tarball), "--model", "hash", "--cache", str(tmp_path / "cache"),
                 "--cross-encoder", str(out), "--out", str(stacked), timeout=300)
    manifest = json.loads((stacked / "manifest.json").read_text())
    assert manifest["cross_encoder"] == "cross-encoder" and (stacked / "cross-encoder" / "model.onnx").exists()
    head = HeadReader(stacked)
    assert head.cross_encoder is not None
    assert json.loads((stacked / "head.json").read_text())["features"][-2:] == ["reader_logit", "reader_gap"]


def test_every_pair_is_rendered_the_same_way_positive_or_negative():
    """Sentences read alone must all be alone: a negative shown with its neighbours while
    positives are not is a format shortcut the model learns instead of reading."""
    pytest.importorskip("bm25s")
    from train.items import QAItem
    from train.pairs import build_pairs

    items = [QAItem("nq", i, f"Who is the mayor of Town{i}?",
                    f"Town{i} lies on the river. The mayor of Town{i} is Ann{i} Lee. It has {i + 3} schools.",
                    f"Ann{i} Lee", "train") for i in range(1, 12)]
    alone = build_pairs(items, 200, para_negatives=2, bm25_negatives=2, context=False)
    assert len(alone) > 11 * 3  # 1 answer + 2 same-paragraph negatives each, plus BM25 negatives
    assert not [p.text for p in alone if "(before:" in p.text or "(after:" in p.text]
    with_context = build_pairs(items, 200, para_negatives=2, bm25_negatives=2, context=True)
    assert all("(before:" in p.text or "(after:" in p.text for p in with_context)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_exported_graph_scores_what_the_trained_model_scores(tmp_path, pooling):
    """The ONNX file the run time reads computes the same probability as the torch model that
    was trained, for the default mean-pooled head and for the stock [CLS] head."""
    for module in ("sentence_transformers", "onnx"):
        pytest.importorskip(module, reason=f"export needs {module} (requirements-dev.txt)")
    from train.export import export_onnx, ship
    from train.fit import new_cross_encoder

    model = new_cross_encoder(layers=1, max_length=64, pooling=pooling)
    model.save_pretrained(str(tmp_path / "torch"))
    onnx = export_onnx(model, tmp_path / "model-fp32.onnx")
    ship(onnx, tmp_path / "torch", tmp_path / "out", 64, {"uses_context": False})
    question, *items = HANDMADE[0]
    want = model.predict([(question, pair_text(text)) for text, _, _ in items])
    got = Reader(tmp_path / "out").score_texts(question, items)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_unknown_pooling_is_named():
    pytest.importorskip("sentence_transformers")
    from train.fit import new_cross_encoder

    with pytest.raises(ValueError, match="'max'"):
        new_cross_encoder(layers=1, pooling="max")
