"""Calibrate a cross-encoder reader's abstention threshold as the pipeline uses it: ``python -m train.calibrate``.

In the pipeline the reader sees the best few sentences retrieved from a whole corpus, not
one paragraph, and abstention compares its *best* probability over them with a threshold.
So the calibration cases mimic that, on the calibration folds only (NQ ``calib`` and SQuAD
``calib``; the reserved NQ fold and the SQuAD test split are never read here):

- answerable: the question with its own paragraph's sentences plus the top BM25 sentences
  of other paragraphs (``--candidates`` in all);
- unanswerable: SQuAD 2.0 questions marked unanswerable, with their own paragraph plus BM25
  sentences; and every question paired with the wrong corpus: only BM25 sentences of other
  paragraphs, none containing the answer.

The threshold with the best balanced accuracy is written to ``manifest.json`` ("threshold")
and becomes the default of ``Config.min_answer_prob``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rag.reader import Reader

from .evaluate import abstention_at, auroc, choose_thresholds
from .items import load_items
from .pairs import SentencePool, contains_answer, neighbours, sentences

CROSS_ENCODER = Path(__file__).resolve().parent.parent / "models" / "cross-encoder"


def cases(items, pool: SentencePool, candidates: int) -> tuple[list[tuple[str, list]], list[int]]:
    """(question, [(sentence, previous, next)]) cases with labels 1 (answerable) / 0."""
    out, labels = [], []
    hits_all = pool.search([it.question for it in items], candidates * 2)
    for item, hits in zip(items, hits_all):
        own = sentences(item.context)
        others = [neighbours(sentences(c), i) for c, i in hits if c != item.context
                  and not (item.answer and contains_answer(sentences(c)[i], item.answer))]
        with_own = ([neighbours(own, i) for i in range(len(own))] + others)[:candidates]
        answerable = item.answer is not None and any(contains_answer(s, item.answer) for s in own)
        if item.answer is None or answerable:
            out.append((item.question, with_own))
            labels.append(int(answerable))
        out.append((item.question, others[:candidates]))  # the wrong corpus
        labels.append(0)
    return out, labels


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.calibrate", description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=CROSS_ENCODER, help="cross-encoder folder (manifest.json is updated)")
    p.add_argument("--candidates", type=int, default=16, help="sentences the reader sees per question")
    p.add_argument("--limit", type=int, default=600, help="calibration questions per source (NQ, SQuAD)")
    p.add_argument("--tarball", type=Path, default=None)
    p.add_argument("--dry-run", action="store_true", help="print, do not write the manifest")
    args = p.parse_args(argv)

    items = [i for i in load_items(args.tarball) if i.fold == "calib"]
    chosen = [i for i in items if i.source == "nq"][:args.limit] + [i for i in items if i.source == "squad"][:args.limit]
    pool = SentencePool([i.context for i in items])
    reader = Reader(args.model)
    qs, labels = cases(chosen, pool, args.candidates)
    best = np.array([float(reader.score_texts(q, c).max()) if c else 0.0 for q, c in qs])
    labels_arr = np.array(labels)
    result = {"cases": len(qs), "answerable": int(labels_arr.sum()), "auroc": auroc(best, labels_arr),
              "candidates": args.candidates, **choose_thresholds(best, labels_arr)}
    threshold = result["balanced"]["threshold"]
    result["at_0.5"] = abstention_at(0.5, best, labels_arr)
    print(json.dumps(result, indent=2))
    if not args.dry_run:
        manifest_path = args.model / "manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest["threshold"] = threshold
        manifest["threshold_calibration"] = {k: v for k, v in result.items() if k != "at_0.5"}
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        print(f"threshold {threshold} written to {manifest_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
