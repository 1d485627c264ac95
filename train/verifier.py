"""Train, evaluate, export and ship the support verifier: ``python -m train.verifier``.

One reproducible command: read BIG-bench ``vitaminc_fact_verification`` and the reader's QA
items from the ``bigbench==1.0.0`` sdist (fetched into the cache if missing), build pairs with a
fixed seed (``train.claims``), fine-tune MiniLM as a 3-class cross-encoder with
sentence-transformers' ``CrossEncoderTrainer`` (``train.fit``), export to ONNX and int8, choose
the supported-probability threshold on the calib split, measure on the test split and on a
swapped-relation set made from news sentences, and write ``model.onnx``, tokenizer,
``manifest.json``, ``metrics.json`` and ``MODEL_CARD.md`` to --out.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import shlex
import sys
import time
from pathlib import Path

from rag.paths import file_sha256

from .claims import (LABELS, SUPPORTED, VITAMINC_TASK, ClaimPair, qa_pairs, swap_names, vitaminc_pairs,
                     vitaminc_swaps)

REPO = Path(__file__).resolve().parent.parent
NEWS_CORPORA = (REPO / "corpus", REPO / "eval" / "xsum" / "corpus")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (defaults = the shipped model's recipe)."""
    p = argparse.ArgumentParser(prog="python -m train.verifier", description=__doc__.splitlines()[0])
    p.add_argument("--max-vitaminc", type=int, default=28000, help="VitaminC training pairs (seeded sample)")
    p.add_argument("--qa-items", type=int, default=2500, help="QA items to derive contrastive pairs from")
    p.add_argument("--vitaminc-swaps", type=int, default=0,
                   help="refuted pairs made by exchanging two names in VitaminC train evidence")
    p.add_argument("--init", type=Path, default=None,
                   help="continue from this saved verifier (a --work folder's torch/) instead of MiniLM")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--layers", type=int, default=4, help="transformer layers kept of MiniLM's 6")
    p.add_argument("--out", type=Path, default=REPO / "rag" / "models" / "verifier", help="folder to ship into")
    p.add_argument("--work", type=Path, default=None,
                   help="checkpoints and fp32 exports (default: ~/.cache/newsdesk-qa/runs/verifier)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=8e-5)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (tests)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this long")
    p.add_argument("--eval-limit", type=int, default=None, help="evaluate on the first N pairs of each split")
    p.add_argument("--swaps", type=int, default=200, help="swapped-relation news pairs to measure on")
    p.add_argument("--news", type=Path, nargs="*", default=None,
                   help="news corpus folders for the swapped-relation set (default: corpus/ and eval/xsum/corpus/)")
    p.add_argument("--tarball", type=Path, default=None, help="a bigbench sdist (default: fetched into the cache)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for training")
    p.add_argument("--skip-train", action="store_true",
                   help="reuse the model trained last time in --work (re-export and re-measure only)")
    return p.parse_args(argv)


def training_pairs(vitaminc: list[ClaimPair], qa: list[ClaimPair], max_vitaminc: int, seed: int) -> list[ClaimPair]:
    """VitaminC's train fold (a seeded sample) plus the contrastive pairs, shuffled."""
    rng = random.Random(seed)
    train = [p for p in vitaminc if p.fold == "train"]
    rng.shuffle(train)
    pairs = train[:max_vitaminc] + qa
    rng.shuffle(pairs)
    return pairs


def rows(pairs: list[ClaimPair]) -> dict[str, list]:
    return {"text_a": [p.evidence for p in pairs], "text_b": [p.claim for p in pairs],
            "label": [p.label for p in pairs]}


def news_swaps(folders: list[Path], limit: int, seed: int) -> list[tuple[str, str]]:
    """(news sentence, the same sentence with two names exchanged), up to ``limit``.

    Sentences of 8-45 words from the articles of ``folders`` (``rag.corpus``, ``rag.segment``),
    a seeded sample; none of them is ever a training pair (training reads Wikipedia only).
    """
    from rag.corpus import corpus_files, load_document
    from rag.segment import split_sentences

    found = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in corpus_files(folder):
            text = load_document(path).text
            for start, end in split_sentences(text):
                sentence = " ".join(text[start:end].split())
                swapped = swap_names(sentence, text)
                if swapped and 8 <= len(sentence.split()) <= 45:
                    found.append((sentence, swapped))
    found = sorted(set(found))
    random.Random(seed).shuffle(found)
    return found[:limit]


def classification(probs, labels, threshold: float | None) -> dict:
    """Accuracy, macro-F1, per-class F1 and the confusion matrix of the verdicts: supported when
    P(supported) >= ``threshold``, else the likelier other class (None: plain argmax)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    if threshold is None:
        predicted = probs.argmax(axis=1)
    else:
        predicted = np.where(probs[:, SUPPORTED] >= threshold, SUPPORTED,
                             np.where(probs[:, 1] >= probs[:, 2], 1, 2))
    return {"n": len(labels), "accuracy": round(float(accuracy_score(labels, predicted)), 4),
            "macro_f1": round(float(f1_score(labels, predicted, average="macro")), 4),
            "f1": dict(zip(LABELS, (round(float(x), 4) for x in f1_score(labels, predicted, average=None,
                                                                         labels=[0, 1, 2])))),
            "confusion (rows gold, columns predicted)": confusion_matrix(labels, predicted, labels=[0, 1, 2]).tolist()}


def choose_threshold(probs, labels) -> dict:
    """The P(supported) threshold with the best balanced accuracy, supported vs the rest."""
    import numpy as np

    supported = np.asarray(labels) == SUPPORTED
    best = (0.0, 0.5)
    for t in np.linspace(0.05, 0.95, 91):
        says = probs[:, SUPPORTED] >= t
        balanced = (says[supported].mean() + (~says[~supported]).mean()) / 2
        best = max(best, (float(balanced), round(float(t), 2)))
    return {"threshold": best[1], "balanced_accuracy": round(best[0], 4)}


def measure(out: Path, vitaminc: list[ClaimPair], swaps: list[tuple[str, str]], limit: int | None) -> dict:
    """Every figure of the card, from the shipped int8 model."""
    import numpy as np

    from rag.verifier import Verifier

    from .latency import median_ms

    verifier = Verifier(out)
    splits = {fold: [p for p in vitaminc if p.fold == fold][:limit] for fold in ("calib", "test")}
    probs = {fold: verifier.probabilities([(p.evidence, p.claim) for p in pairs]) for fold, pairs in splits.items()}
    labels = {fold: np.asarray([p.label for p in pairs]) for fold, pairs in splits.items()}
    chosen = choose_threshold(probs["calib"], labels["calib"])
    metrics = {"threshold": chosen,
               "vitaminc_test": classification(probs["test"], labels["test"], chosen["threshold"]),
               "vitaminc_test_argmax": classification(probs["test"], labels["test"], None)}
    p_swap = verifier.probabilities(swaps)
    p_same = verifier.probabilities([(s, s) for s, _ in swaps])
    metrics["news_swaps"] = {
        "n": len(swaps),
        "swap_caught": round(float((p_swap[:, SUPPORTED] < chosen["threshold"]).mean()), 4) if swaps else None,
        "unchanged_supported": round(float((p_same[:, SUPPORTED] >= chosen["threshold"]).mean()), 4) if swaps else None,
        "examples": [{"evidence": s, "claim": w, "p_supported": round(float(p[SUPPORTED]), 3)}
                     for (s, w), p in list(zip(swaps, p_swap))[:5]]}
    sample = (splits["test"] or [ClaimPair("Putin met Ukhnaa.", "Ukhnaa met Putin.", 0, "x", "test")])[0]
    metrics["latency_ms_one_pair"] = median_ms(lambda: verifier.probabilities([(sample.evidence, sample.claim)]))
    return metrics


def run(args: argparse.Namespace) -> dict:
    """The whole command; returns the facts written to the card."""
    import sentence_transformers
    import torch
    from sentence_transformers import CrossEncoder

    from .data import read_bigbench_tasks
    from .export import export_onnx, quantize_int8, ship
    from .fit import kept_layers, new_cross_encoder, train_cross_encoder
    from .items import load_items
    from .verifiercard import write_card

    started = time.perf_counter()
    load_at_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.threads:
        torch.set_num_threads(args.threads)
    work = args.work or Path.home() / ".cache" / "newsdesk-qa" / "runs" / "verifier"
    vitaminc = vitaminc_pairs(read_bigbench_tasks([VITAMINC_TASK], args.tarball)[VITAMINC_TASK])
    qa = qa_pairs(load_items(args.tarball), args.qa_items, args.seed)
    qa += vitaminc_swaps(vitaminc, args.vitaminc_swaps, args.seed)
    pairs = training_pairs(vitaminc, qa, args.max_vitaminc, args.seed)
    print(f"{len(pairs)} training pairs: {dict(collections.Counter(p.source for p in pairs))}", flush=True)
    facts_file = work / "train-facts.json"
    if args.skip_train:
        model = CrossEncoder(str(work / "torch"), device="cpu", local_files_only=True)
        stats = json.loads(facts_file.read_text(encoding="utf-8"))
    else:
        if args.init is not None:  # a second stage: the first stage's model, trained on more
            model = CrossEncoder(str(args.init), device="cpu", local_files_only=True)
        else:
            model = new_cross_encoder(args.layers, args.max_length, args.seed, pooling="mean", num_labels=len(LABELS))
        stats = train_cross_encoder(model, rows(pairs), work, epochs=args.epochs, batch_size=args.batch_size,
                                    lr=args.lr, seed=args.seed, max_steps=args.max_steps,
                                    max_minutes=args.max_minutes)
        model.save_pretrained(str(work / "torch"))
        stats |= {"command": "python -m train.verifier " + shlex.join(args.argv), "load_at_start": load_at_start}
        if args.init is not None:  # keep the first stage's record: the card lists both commands
            first = json.loads((args.init.parent / "train-facts.json").read_text(encoding="utf-8"))
            stats["stages"] = first.get("stages", [first]) + [{k: v for k, v in stats.items() if k != "stages"}]
        facts_file.write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    print(f"trained: {stats}", flush=True)
    fp32 = export_onnx(model, work / "onnx" / "model-fp32.onnx")
    int8 = quantize_int8(fp32, work / "onnx" / "model-int8.onnx")
    extra = {"kind": "verifier", "labels": list(LABELS), "layers": args.layers,
             "input": "(evidence, claim), whitespace collapsed", "output": "3 logits; softmax, LABELS order"}
    ship(int8, work / "torch", args.out, args.max_length, extra)
    swaps = news_swaps(args.news if args.news is not None else list(NEWS_CORPORA), args.swaps, args.seed)
    metrics = measure(args.out, vitaminc, swaps, args.eval_limit)
    manifest_path = args.out / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["threshold"] = metrics["threshold"]["threshold"]
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    facts = {**stats, "layers": args.layers, "kept_layers": kept_layers(6, args.layers), "epochs": args.epochs,
             "batch_size": args.batch_size, "lr": args.lr, "max_length": args.max_length, "seed": args.seed,
             "by_source": dict(collections.Counter(p.source for p in pairs)),
             "by_label": {LABELS[k]: v for k, v in sorted(collections.Counter(p.label for p in pairs).items())},
             "st_version": sentence_transformers.__version__,
             "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, no GPU",
             "sha256": file_sha256(args.out / "model.onnx"), "bytes": (args.out / "model.onnx").stat().st_size,
             "total_seconds": round(time.perf_counter() - started, 1)}
    write_card(args.out, facts, metrics)
    print(f"shipped to {args.out} in {facts['total_seconds']:.0f} s: {json.dumps(metrics['vitaminc_test'])}",
          flush=True)
    return facts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
