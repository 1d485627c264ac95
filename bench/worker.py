"""One measured phase of one system, in a fresh process: ``python bench/worker.py SPEC OUT``.

SPEC (JSON) names the system module (``system_ours`` ...), the phase, folders and queries;
OUT receives the result JSON. Heavy imports happen inside the phase on purpose: in the
``serve`` and ``ask`` phases, importing the system's libraries is part of the cold start.

Phases:
- ``build``: load the model, index the corpus from scratch (timed), then append a sentence
  to one article and update the index (timed), then restore the article and update again.
- ``serve``: import + load model + load the saved index + first query (the cold start),
  a warm-up, then every query once (latency and the top-k passages for scoring).
- ``ask`` (ours only): the same with ``rag.ask(question, history)``: the full answer path.
- ``cold``: only the cold start (import + model + index + first query), repeated by the
  parent so the reported cold start is a median, not one noisy sample.
"""

from __future__ import annotations

import time

STARTED = time.time()  # as early as possible: the parent compares it with its spawn time

import gc
import importlib
import json
import os
import resource
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the adapters; rag itself comes from the run's snapshot (spec)

# Queries that are in no question set: they warm caches and lazy code paths, nothing more.
WARM_UP = ("weather forecast for the weekend", "history of the printing press",
           "how do vaccines work", "football world cup final result", "price of crude oil")


def peak_rss_mb() -> float:
    """High-water mark of this process's resident memory, in MB.

    VmHWM from /proc/self/status belongs to the process image and starts afresh at exec.
    getrusage's ru_maxrss does not: Linux carries it over from the forked parent, so a small
    worker spawned by a large parent would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: best effort


def main(spec_path: str, out_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    sys.path.insert(1, spec["rag_src"])  # a frozen copy of rag/ taken when the run began
    phase = spec["phase"]
    result: dict = {"phase": phase, "system": spec["system"], "started_at": STARTED}
    t = time.perf_counter()
    module = importlib.import_module(spec["system"])
    result["import_s"] = time.perf_counter() - t
    t = time.perf_counter()
    system = module.System(Path(spec["corpus"]), Path(spec["index"]))
    result["model_s"] = time.perf_counter() - t
    if phase == "build":
        build(system, spec, result)
    elif phase == "cold":
        serve(system, {**spec, "queries": spec["queries"][:1]}, result, ask=False)
    else:
        serve(system, spec, result, ask=phase == "ask")
    result["peak_rss_mb"] = peak_rss_mb()
    if "rag" in sys.modules:
        result["rag_file"] = sys.modules["rag"].__file__
    Path(out_path).write_text(json.dumps(result))


def build(system, spec: dict, result: dict) -> None:
    t = time.perf_counter()
    info = system.build()
    result["build_s"] = time.perf_counter() - t
    result.update(info)
    changed = spec["changed"]
    path = Path(spec["corpus"]) / changed
    old = path.read_text(encoding="utf-8")
    from corpora import edit_article  # stdlib only
    times = []
    try:
        edit_article(path)
        t = time.perf_counter()
        update = system.update(changed)
        times.append(time.perf_counter() - t)
    finally:
        path.write_text(old, encoding="utf-8")
    t = time.perf_counter()
    system.update(changed)  # back to the original text, so the serve phase loads a clean index
    times.append(time.perf_counter() - t)
    result["reindex_s"] = times[0]
    result["reindex_back_s"] = times[1]
    result["reindex_how"] = update["how"]
    result["reindex_embedded"] = update.get("embedded")


def serve(system, spec: dict, result: dict, *, ask: bool) -> None:
    queries, k = spec["queries"], spec["k"]
    t = time.perf_counter()
    system.load()
    result["index_load_s"] = time.perf_counter() - t
    first = queries[0]
    t = time.perf_counter()
    row = run_query(system, first, k, ask)
    result["first_query_s"] = time.perf_counter() - t
    result["first_answer_at"] = time.time()
    row["ms"] = None  # the cold query scores like the others but is not a warm latency
    for q in WARM_UP if len(queries) > 1 else ():
        run_query(system, {"id": "warm-up", "question": q}, k, ask)
    gc.collect()
    rows = [row]
    for q in queries[1:]:
        t = time.perf_counter()
        row = run_query(system, q, k, ask)
        row["ms"] = (time.perf_counter() - t) * 1000
        rows.append(row)
    result["rows"] = rows


def run_query(system, q: dict, k: int, ask: bool) -> dict:
    """One query; the row holds the top-k (source, text, also_in) for scoring by the parent."""
    if not ask:
        return {"id": q["id"], "hits": system.search(q["question"], k)}
    answer = system.ask(q["question"], [tuple(h) for h in q.get("history", [])])
    return {"id": q["id"], "hits": [(p.source, p.text, p.also_in) for p in answer.passages[:k]],
            "answer": answer.text, "abstained": answer.abstained}


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main(sys.argv[1], sys.argv[2])
