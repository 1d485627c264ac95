"""Train, evaluate, export and ship the reader: ``python -m train.reader``.

One reproducible command: fetch the data (pip download of ``bigbench==1.0.0`` into the cache
if missing), build pairs with a fixed seed, fine-tune MiniLM as a cross-encoder, export to ONNX
fp32 + int8, evaluate on the reserved NQ fold and the SQuAD test split, and write
``model.onnx``, tokenizer, ``manifest.json``, ``metrics.json`` and ``MODEL_CARD.md`` to --out.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from .fit import base_model_path, kept_layers, new_cross_encoder, train_cross_encoder
from .items import load_items
from .pairs import build_pairs

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (defaults = the shipped model's recipe)."""
    p = argparse.ArgumentParser(prog="python -m train.reader", description=__doc__.splitlines()[0])
    p.add_argument("--max-pairs", type=int, default=40000, help="training pairs (about)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--layers", type=int, default=6, help="transformer layers kept of MiniLM's 6")
    p.add_argument("--pooling", choices=("mean", "cls"), default="mean",
                   help="score the mean of the token vectors (default) or the [CLS] pooler (train.fit)")
    p.add_argument("--out", type=Path, default=REPO / "models" / "cross-encoder", help="folder to ship into")
    p.add_argument("--work", type=Path, default=None, help="checkpoints and fp32 exports (default: ~/.cache/newsdesk-qa/runs/NAME)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (tests)")
    p.add_argument("--para-negatives", type=int, default=3)
    p.add_argument("--bm25-negatives", type=int, default=2)
    p.add_argument("--max-first", type=float, default=0.3,
                   help="share of answered items whose answer is the paragraph's first sentence (position balance)")
    p.add_argument("--context", action="store_true",
                   help="read each sentence with its neighbours (default: alone; see train/pairs.reader_text)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this long")
    p.add_argument("--eval-limit", type=int, default=None, help="evaluate on the first N items of each eval split")
    p.add_argument("--tarball", type=Path, default=None, help="a bigbench sdist (default: fetched into the cache)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for training")
    p.add_argument("--latency-repeats", type=int, default=15, help="timed calls per latency figure")
    p.add_argument("--no-baseline", action="store_true", help="skip the bi-encoder baseline (tests)")
    return p.parse_args(argv)


def training_rows(pairs) -> dict[str, list]:
    return {"text_a": [p.question for p in pairs], "text_b": [p.text for p in pairs],
            "label": [p.label for p in pairs]}


def split_items(items, limit):
    """(train items, reserved NQ, SQuAD test, SQuAD calib), eval splits cut to ``limit``."""
    train = [i for i in items if i.fold == "train"]
    reserved = [i for i in items if i.source == "nq" and i.fold == "reserved"][:limit]
    test = [i for i in items if i.source == "squad" and i.fold == "test"][:limit]
    calib = [i for i in items if i.source == "squad" and i.fold == "calib"][:limit]
    return train, reserved, test, calib


def bi_encoder_scorer():
    """Cosine of all-MiniLM-L6-v2 embeddings, question vs sentence (the pre-reader baseline)."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(base_model_path()), device="cpu", local_files_only=True)

    def score(question, items):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a handful of texts per call: two threads only spin-wait
        try:
            vecs = model.encode([question] + [s for s, _, _ in items], normalize_embeddings=True,
                                batch_size=64, show_progress_bar=False)
        finally:
            torch.set_num_threads(threads)
        return np.asarray(vecs[1:] @ vecs[0])
    return score


def export_all(model, work: Path, out: Path, args, extra: dict) -> tuple[dict, Path]:
    """fp32 ONNX in work/fp32 (for evaluation), int8 ONNX shipped to ``out``."""
    from .export import export_onnx, quantize_int8, ship

    model.save_pretrained(str(work / "torch"))
    fp32 = export_onnx(model, work / "onnx" / "model-fp32.onnx")
    int8 = quantize_int8(fp32, work / "onnx" / "model-int8.onnx")
    ship(fp32, work / "torch", work / "fp32", args.max_length, extra)
    return ship(int8, work / "torch", out, args.max_length, extra), work / "fp32"


def evaluate_all(model, fp32_dir: Path, out: Path, splits, args) -> tuple[dict, dict]:
    """Metrics for int8 ONNX, fp32 ONNX and the bi-encoder; latency torch fp32 vs int8."""
    from rag.reader import Reader

    from .evaluate import evaluate_scorer
    from .latency import measure
    from .pairs import neighbours, sentences

    _, reserved, test, calib = splits
    int8, fp32 = Reader(out), Reader(fp32_dir)
    metrics = {"onnx_int8": evaluate_scorer(int8.score_texts, reserved, test, calib),
               "onnx_fp32": evaluate_scorer(fp32.score_texts, reserved, test, calib)}
    if not args.no_baseline:
        metrics["bi_encoder_cosine"] = evaluate_scorer(bi_encoder_scorer(), reserved, test, calib)
    sample = max(test + reserved, key=lambda i: min(len(sentences(i.context)), 6))
    sents = sentences(sample.context)
    latency = measure(model, int8, sample.question, [neighbours(sents, i) for i in range(len(sents))],
                      repeats=args.latency_repeats)
    return metrics, latency


def run(args: argparse.Namespace) -> dict:
    """The whole pipeline; returns the facts written to the card."""
    import sentence_transformers
    import torch

    from .card import write_card

    started = time.perf_counter()
    load_at_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.threads:
        torch.set_num_threads(args.threads)
    work = args.work or Path.home() / ".cache" / "newsdesk-qa" / "runs" / args.out.name
    splits = split_items(load_items(args.tarball), args.eval_limit)
    pairs = build_pairs(splits[0], args.max_pairs, args.para_negatives, args.bm25_negatives, args.seed,
                        args.context, args.max_first)
    print(f"{len(pairs)} training pairs", flush=True)
    model = new_cross_encoder(args.layers, args.max_length, args.seed, pooling=args.pooling)
    stats = train_cross_encoder(model, training_rows(pairs), work, epochs=args.epochs, batch_size=args.batch_size,
                                lr=args.lr, seed=args.seed, max_steps=args.max_steps,
                                max_minutes=args.max_minutes)
    print(f"trained: {stats}", flush=True)
    keys = {p.key for p in pairs}
    facts = {**stats, "layers": args.layers, "pooling": args.pooling, "kept_layers": kept_layers(6, args.layers), "epochs": args.epochs,
             "batch_size": args.batch_size, "lr": args.lr, "max_length": args.max_length, "seed": args.seed,
             "para_negatives": args.para_negatives, "bm25_negatives": args.bm25_negatives,
             "uses_context": args.context, "max_first": args.max_first,
             "positives": int(sum(p.label for p in pairs)), "items": len(keys),
             "by_source": ", ".join(f"{k}: {v}" for k, v in sorted(collections.Counter(
                 k.split(":")[0] for k in keys).items())),
             "st_version": sentence_transformers.__version__, "load_at_start": load_at_start,
             "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, no GPU",
             "command": "python -m train.reader " + shlex.join(sys.argv[1:]),
             "recommended": "balanced (maximise balanced accuracy on the SQuAD calib split)"}
    manifest, fp32_dir = export_all(model, work, args.out, args,
                                     {"layers": args.layers, "pooling": args.pooling, "uses_context": args.context})
    facts.update(sha256=manifest["sha256"], bytes=manifest["bytes"])
    metrics, latency = evaluate_all(model, fp32_dir, args.out, splits, args)
    facts["total_seconds"] = round(time.perf_counter() - started, 1)
    write_card(args.out, facts, metrics, latency)
    print(f"shipped to {args.out} in {facts['total_seconds']:.0f} s", flush=True)
    return facts


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
