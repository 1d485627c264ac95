"""How dense search cost grows with size: exact FAISS search vs HNSW vs IVF (issue 12).

    python bench/ann.py --vectors ~/.cache/newsdesk-qa/bench/nq-index/gen-*/  [--sizes 10000,100000,1000000]

Base vectors are real all-MiniLM-L6-v2 embeddings (the sentence and chunk vectors of an
index built by bench/nq.py: 100,576 of them for the 17,528 NQ paragraphs). Queries are 500
of those vectors held out of the base. Sizes beyond the real vectors are filled with
synthetic ones: a real vector plus Gaussian noise, renormalised, so the data keeps the
clusters of real text (uniform random vectors would make ANN look easy or hard for the
wrong reasons). Recall@10 is against exact search over the same base. Query latency is one
query at a time on one thread (as the app asks); builds use all cores.
Prints a Markdown table; --out writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import faiss
import numpy as np

QUERIES = 500
K = 10


def load_real(folder: Path) -> np.ndarray:
    """Every sentence and chunk vector of an index generation folder (a sentence-search
    generation keeps its sentence vectors in sentences.faiss only)."""
    if (folder / "sentence_vectors.npy").exists():
        sentences = np.load(folder / "sentence_vectors.npy", mmap_mode="r")
    else:
        index = faiss.read_index(str(folder / "sentences.faiss"))
        sentences = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d).copy()
    parts = [sentences, np.load(folder / "chunk_vectors.npy", mmap_mode="r")]
    return np.ascontiguousarray(np.vstack(parts), dtype=np.float32)


def base_of(real: np.ndarray, size: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    """``size`` vectors: the real ones first, then noisy copies of random real ones."""
    if size <= len(real):
        return real[:size]
    extra = real[rng.integers(0, len(real), size - len(real))]
    extra = extra + rng.normal(0.0, noise / np.sqrt(real.shape[1]), extra.shape).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    return np.vstack([real, extra.astype(np.float32)])


def timed_queries(index, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    faiss.omp_set_num_threads(1)
    found, times = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), K)
        times.append((time.perf_counter() - t) * 1000)
        found.append(ids[0])
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    return np.array(found), times


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def index_bytes(index) -> int:
    return len(faiss.serialize_index(index))


def run_size(base: np.ndarray, queries: np.ndarray, hnsw_max: int) -> list[dict]:
    n, d = base.shape
    rows = []
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(d)
    flat.add(base)
    build = time.perf_counter() - t
    truth, times = timed_queries(flat, queries)
    rows.append({"size": n, "index": "exact (IndexFlatIP)", "build_s": build, "recall@10": 1.0,
                 "p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
                 "mb": n * d * 4 / 1e6})
    del flat
    if n <= hnsw_max:
        t = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.add(base)
        build = time.perf_counter() - t
        size_mb = index_bytes(hnsw) / 1e6
        for ef in (32, 64, 128, 256):
            hnsw.hnsw.efSearch = ef
            found, times = timed_queries(hnsw, queries)
            rows.append({"size": n, "index": f"HNSW M=32 efSearch={ef}", "build_s": build,
                         "recall@10": recall(found, truth), "p50_ms": float(np.percentile(times, 50)),
                         "p95_ms": float(np.percentile(times, 95)), "mb": size_mb})
        del hnsw
    nlist = int(4 * np.sqrt(n))
    t = time.perf_counter()
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    train = base[np.random.default_rng(0).choice(n, min(n, 50 * nlist), replace=False)]
    ivf.train(train)
    ivf.add(base)
    build = time.perf_counter() - t
    size_mb = index_bytes(ivf) / 1e6
    for nprobe in (8, 16, 32, 64):
        ivf.nprobe = nprobe
        found, times = timed_queries(ivf, queries)
        rows.append({"size": n, "index": f"IVF-Flat nlist={nlist} nprobe={nprobe}", "build_s": build,
                     "recall@10": recall(found, truth), "p50_ms": float(np.percentile(times, 50)),
                     "p95_ms": float(np.percentile(times, 95)), "mb": size_mb})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vectors", type=Path, required=True, help="an index generation folder (gen-*)")
    p.add_argument("--sizes", default="10000,30000,100000,300000,1000000")
    p.add_argument("--hnsw-max", type=int, default=300_000, help="skip HNSW above this size (build time)")
    p.add_argument("--noise", type=float, default=0.5)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    rng = np.random.default_rng(13)
    real = load_real(args.vectors)
    held = rng.choice(len(real), QUERIES, replace=False)
    queries = real[held]
    real = np.delete(real, held, axis=0)
    print(f"{len(real):,} real MiniLM vectors (+{QUERIES} held out as queries); "
          f"{os.cpu_count()} cores, faiss {faiss.__version__}", flush=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        base = base_of(real, size, rng, args.noise)
        rows += run_size(base, queries, args.hnsw_max)
        print(f"  {size:,} done; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB",
              flush=True)
        del base
    print("\n| vectors | index | build (s) | recall@10 vs exact | p50 (ms) | p95 (ms) | size (MB) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['size']:,} | {r['index']} | {r['build_s']:.1f} | {r['recall@10']:.3f} | "
              f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['mb']:,.0f} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
