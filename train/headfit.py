"""Fit the reader's head (scikit-learn MLP), measure it, and write it as plain JSON weights.

``fit`` standardises the signals and trains ``MLPClassifier``; ``export`` turns the fitted
model into the JSON that ``rag.reader.HeadReader`` evaluates with numpy (the same numbers:
a test checks it); ``evaluate`` gives top-1 answer-sentence accuracy, AUROC of the best
probability (answerable vs not) and the abstention thresholds chosen on the calib folds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from rag.features import DIRECTION, FEATURE_NAMES
from rag.paths import file_sha256
from rag.reader import HEAD_FILE, HeadReader

from .evaluate import abstention_at, auroc, choose_thresholds

# The shipped threshold: a wrong refusal costs a reporter more than a weak answer that shows
# its quotes, so the product promise is at most 5% false abstentions on held-out data.
THRESHOLD_RULE = "false_abstention_le_0.05"
CONFIDENT_RULE = "balanced"  # under it an answer is given but marked tentative
CROSS_ENCODER_DIR = "cross-encoder"  # a stacked head's cross-encoder, inside the head's folder


def fit(rows: list[np.ndarray], labels: list[np.ndarray], hidden: list[int], seed: int,
        names: tuple[str, ...] = FEATURE_NAMES):
    """The fitted head as JSON-ready weights, and timing facts: a monotone logistic model
    when ``hidden`` is empty (the default), else an ``MLPClassifier`` with those layers.
    ``names``: the columns of ``rows`` (``FEATURE_NAMES``, plus ``READER_SIGNALS`` when stacked)."""
    if not hidden:
        return fit_monotone(np.concatenate(rows), np.concatenate(labels), names=names)
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = np.concatenate(rows), np.concatenate(labels)
    started = time.perf_counter()
    scaler = StandardScaler().fit(X)
    mlp = MLPClassifier(hidden_layer_sizes=tuple(hidden), alpha=1e-3, batch_size=256, max_iter=200,
                        early_stopping=True, validation_fraction=0.1, n_iter_no_change=8, random_state=seed)
    mlp.fit(scaler.transform(X), y)
    stats = {"train_rows": int(len(X)), "train_positives": int(y.sum()), "epochs": int(mlp.n_iter_),
             "fit_seconds": round(time.perf_counter() - started, 1), "hidden": list(hidden)}
    return export(scaler, mlp, names), stats


def fit_monotone(X: np.ndarray, y: np.ndarray, l2: float = 1e-3,
                 names: tuple[str, ...] = FEATURE_NAMES) -> tuple[dict, dict]:
    """Logistic regression whose weights keep the signs of ``rag.features.DIRECTION``.

    Bounded L-BFGS (scipy) on standardised signals: the probability can only rise with a
    signal marked +1 and only fall with one marked -1; unmarked signals are free.
    """
    from scipy.optimize import minimize

    started = time.perf_counter()
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    Z = (X - mean) / scale
    bounds = [{1: (0.0, None), -1: (None, 0.0)}.get(DIRECTION.get(n, 0), (None, None)) for n in names]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        z = Z @ w + b
        p = 1.0 / (1.0 + np.exp(-z))
        nll = np.mean(np.logaddexp(0.0, z) - y * z) + l2 * float(w @ w)
        grad = np.append(Z.T @ (p - y) / len(y) + 2 * l2 * w, np.mean(p - y))
        return nll, grad

    result = minimize(loss, np.zeros(Z.shape[1] + 1), jac=True, method="L-BFGS-B",
                      bounds=bounds + [(None, None)], options={"maxiter": 500})
    w, b = result.x[:-1], result.x[-1]
    head = {"features": list(names), "mean": mean.tolist(), "scale": scale.tolist(),
            "activation": "identity", "layers": [{"weights": w[:, None].tolist(), "bias": [float(b)]}]}
    stats = {"train_rows": int(len(X)), "train_positives": int(y.sum()), "epochs": int(result.nit),
             "fit_seconds": round(time.perf_counter() - started, 1), "hidden": [],
             "weights": {n: round(float(v), 4) for n, v in zip(names, w)}}
    return head, stats


def export(scaler, mlp, names: tuple[str, ...] = FEATURE_NAMES) -> dict:
    """The weights as JSON-ready lists (what ``HeadReader`` loads)."""
    return {"features": list(names), "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
            "activation": mlp.activation,
            "layers": [{"weights": w.tolist(), "bias": b.tolist()} for w, b in zip(mlp.coefs_, mlp.intercepts_)]}


def _probs(head: dict, rows: list[np.ndarray]) -> list[np.ndarray]:
    return [HeadReader.forward(head, r) for r in rows]


def top1(cases, probs) -> dict:
    """Share of answerable own cases whose most probable sentence holds the answer."""
    hits = [bool(c.labels[int(np.argmax(p))]) for c, p in zip(cases, probs) if c.kind == "own" and c.answerable]
    return {"top1": round(float(np.mean(hits)), 4) if hits else None, "n": len(hits)}


def best(cases, probs, kinds: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(best probability, answerable 0/1) per case of the given kinds."""
    chosen = [(float(p.max()), int(c.answerable)) for c, p in zip(cases, probs) if c.kind in kinds and len(p)]
    scores, labels = zip(*chosen)
    return np.array(scores), np.array(labels)


def evaluate(head: dict, cases: dict, rows: dict) -> dict:
    """Metrics per split; thresholds chosen on calib (own + wrong-corpus cases), applied to the rest."""
    out: dict = {}
    scores = {name: _probs(head, rows[name]) for name in cases}
    calib = best(cases["calib"], scores["calib"], ("own", "wrong"))
    out["thresholds"] = choose_thresholds(*calib)
    out["calib_auroc"] = auroc(*calib)
    for name in cases:
        m = {**top1(cases[name], scores[name])}
        own = [c for c in cases[name] if c.kind == "own"]
        if any(not c.answerable for c in own) and any(c.answerable for c in own):
            m["auroc_own_paragraph"] = auroc(*best(cases[name], scores[name], ("own",)))
        pooled = best(cases[name], scores[name], ("own", "wrong"))
        m["auroc_with_wrong_corpus"] = auroc(*pooled)
        m["at_thresholds"] = {k: abstention_at(t["threshold"], *pooled) for k, t in out["thresholds"].items()}
        out[name] = m
    return out


def write_outputs(out: Path, head: dict, facts: dict, metrics: dict, cross_encoder: Path | None = None) -> None:
    """head.json, manifest.json (SHA-256, calibrated threshold), metrics.json and MODEL_CARD.md;
    a stacked head's cross-encoder is copied into ``out/cross-encoder``."""
    import shutil

    from .headcard import write_card

    out.mkdir(parents=True, exist_ok=True)
    if cross_encoder is not None and Path(cross_encoder).resolve() != (out / CROSS_ENCODER_DIR).resolve():
        shutil.rmtree(out / CROSS_ENCODER_DIR, ignore_errors=True)
        shutil.copytree(cross_encoder, out / CROSS_ENCODER_DIR)  # with its own card and manifest
    (out / HEAD_FILE).write_text(json.dumps(head) + "\n", encoding="utf-8")
    threshold = metrics["thresholds"][THRESHOLD_RULE]["threshold"]
    confident = metrics["thresholds"][CONFIDENT_RULE]["threshold"]
    manifest = {"kind": "head", "weights": HEAD_FILE, "sha256": file_sha256(out / HEAD_FILE),
                "features": "rag.features.feature_rows", "threshold": threshold,
                "confident_threshold": confident,
                "embedder": facts["embedder"],
                **({"cross_encoder": CROSS_ENCODER_DIR} if cross_encoder is not None else {}),
                "threshold_rule": "the highest threshold that refuses at most 5% of the answerable "
                                  "questions of the calib folds (own + wrong-corpus cases)",
                "confident_rule": "the threshold with the best balanced accuracy on the same calib cases: "
                                  "an answer whose best probability is under it is marked tentative"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps({"facts": facts, "metrics": metrics}, indent=1) + "\n",
                                      encoding="utf-8")
    write_card(out, facts, metrics, manifest)
