"""Load test: many questions at once while an article is added and removed, over HTTP and in-process.

    python bench/load.py                                   # 20 clients, 60 s, then 8 threads
    python bench/load.py --clients 2 --seconds 5 --threads 2

Phase "app": app.py on a free 127.0.0.1 port (the real model) over a temp copy of corpus/;
``--clients`` gradio_client clients ask the questions of tests/data/questions.jsonl through
``/ask`` in a loop for ``--seconds``, while a thread of this process adds one article with
``rag.add_document`` and removes it again every ``--churn-every`` seconds: a second process
writing the app's index, which the app notices and updates in the background.
Phase "in-process": the same with ``--threads`` threads calling ``rag.ask`` in this process.

Prints requests/s, p50/p95/p99 latency and errors per phase; exits 1 if any request failed.
Loopback only and bounded: at most 64 clients or threads and 600 s per phase.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import rag  # noqa: E402
from rag.config import PROJECT_ROOT  # noqa: E402
from rag.eval.metrics import percentile  # noqa: E402
from rag.eval.questions import DEFAULT_QUESTIONS, Question, load_questions  # noqa: E402
from rag.live_index import forget_live_indexes  # noqa: E402
from tests.app_process import running_app  # noqa: E402

MAX_WORKERS = 64
MAX_SECONDS = 600
CHURN_NAME = "load-test-reindeer.txt"
CHURN_TEXT = ("Reindeer herders in Khuvsgul province counted 4,200 animals this spring.\n\n"
              "The Dukha community said the count was the highest in a decade.\n")
Ask = Callable[[Question], dict]  # one question -> Answer.to_dict()


@dataclass(frozen=True)
class PhaseResult:
    """What one phase measured."""

    phase: str
    workers: int
    seconds: float  # wall time of the asking window
    latencies: tuple[float, ...]  # seconds per answered request
    errors: tuple[str, ...]  # "Type: message" per failed request
    churn: int  # articles added or removed during the window
    churn_errors: tuple[str, ...]

    @property
    def requests(self) -> int:
        return len(self.latencies) + len(self.errors)


def check_answer(answer: object) -> None:
    """An answer as /ask returns it: text, and citations unless it abstained."""
    if not isinstance(answer, dict) or not answer.get("text"):
        raise RuntimeError(f"not an answer: {str(answer)[:120]}")
    if not answer["abstained"] and not answer["citations"]:
        raise RuntimeError(f"an answer without citations: {answer['text'][:120]}")


def keep_asking(ask: Ask, questions: Sequence[Question], deadline: float, first: int) -> tuple[list, list]:
    """Ask questions (from ``first`` on, round the list) until ``deadline``: (latencies, errors)."""
    latencies, errors = [], []
    i = first
    while time.monotonic() < deadline:
        question = questions[i % len(questions)]
        i += 1
        started = time.perf_counter()
        try:
            check_answer(ask(question))
            latencies.append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
            errors.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    return latencies, errors


class Churn:
    """A thread that adds one article and removes it again, every ``every`` seconds, until told to stop."""

    def __init__(self, config: rag.Config, every: float, folder: Path) -> None:
        self.config, self.every = config, every
        self.source = folder / CHURN_NAME
        self.source.write_text(CHURN_TEXT, encoding="utf-8")
        self.done = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-churn", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                if any(d.source == CHURN_NAME for d in rag.list_documents(self.config)):
                    rag.remove_document(CHURN_NAME, self.config)
                else:
                    rag.add_document(self.source, self.config)
                self.done += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                self.errors.append(f"{type(exc).__name__}: {exc}")
        try:
            if (Path(self.config.corpus_dir) / CHURN_NAME).exists():
                rag.remove_document(CHURN_NAME, self.config)  # leave the corpus as it was
        except Exception as exc:  # noqa: BLE001 - counted and reported
            self.errors.append(f"cleaning up: {type(exc).__name__}: {exc}")


def run_phase(phase: str, askers: Sequence[Ask], questions: Sequence[Question], seconds: float,
              churn: Churn) -> PhaseResult:
    """Every asker in its own thread for ``seconds`` while ``churn`` adds and removes the article."""
    churn.start()
    started = time.monotonic()
    deadline = started + seconds
    with ThreadPoolExecutor(max_workers=len(askers), thread_name_prefix=f"load-{phase}") as pool:
        futures = [pool.submit(keep_asking, ask, questions, deadline, 7 * i) for i, ask in enumerate(askers)]
        outcomes = [f.result() for f in futures]
    elapsed = time.monotonic() - started
    churn.stop()
    return PhaseResult(phase, len(askers), elapsed, tuple(t for lat, _ in outcomes for t in lat),
                       tuple(e for _, errs in outcomes for e in errs), churn.done, tuple(churn.errors))


def app_phase(config: rag.Config, questions: Sequence[Question], clients: int, seconds: float,
              churn_every: float, work: Path) -> PhaseResult:
    """gradio_client clients against app.py (a subprocess) over ``config``'s corpus and index."""
    from gradio_client import Client

    with running_app(config.corpus_dir, config.index_dir, work / "app.log") as url:
        def asker(client) -> Ask:
            return lambda q: client.predict(q.question, json.dumps([list(t) for t in q.history]), 6,
                                            api_name="/ask")

        askers = [asker(Client(url, verbose=False)) for _ in range(clients)]
        check_answer(askers[0](questions[0]))  # the app's model and index are loaded (built if need be)
        rag.list_documents(config)  # and the churn's, in this process, before the clock starts
        return run_phase("app", askers, questions, seconds, Churn(config, churn_every, work))


def in_process_phase(config: rag.Config, questions: Sequence[Question], threads: int, seconds: float,
                     churn_every: float, work: Path) -> PhaseResult:
    """``threads`` threads calling rag.ask in this process."""
    def ask(q: Question) -> dict:
        return rag.ask(q.question, list(q.history), config=config).to_dict()

    check_answer(ask(questions[0]))
    return run_phase("in-process", [ask] * threads, questions, seconds, Churn(config, churn_every, work))


def run(clients: int = 20, seconds: float = 60.0, threads: int = 8, churn_every: float = 3.0,
        questions_path: Path = DEFAULT_QUESTIONS) -> list[PhaseResult]:
    """Both phases over one temp copy of corpus/ and one temp index; the temp folder is removed."""
    for name, value, limit in (("clients", clients, MAX_WORKERS), ("threads", threads, MAX_WORKERS),
                               ("seconds", seconds, MAX_SECONDS), ("churn_every", churn_every, MAX_SECONDS)):
        if not 0 < value <= limit:
            raise ValueError(f"{name} must be above 0 and at most {limit}, got {value}")
    questions = load_questions(questions_path)
    work = Path(tempfile.mkdtemp(prefix="newsdesk-load-"))
    try:
        shutil.copytree(PROJECT_ROOT / "corpus", work / "corpus")
        config = rag.Config(corpus_dir=work / "corpus", index_dir=work / "index")
        return [app_phase(config, questions, clients, seconds, churn_every, work),
                in_process_phase(config, questions, threads, seconds, churn_every, work)]
    finally:
        forget_live_indexes()  # after their background updates, before their folders go
        shutil.rmtree(work, ignore_errors=True)


def render(results: Sequence[PhaseResult], console: Console) -> None:
    table = Table(title="Load: questions while an article is added and removed")
    for column in ("phase", "workers", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                   "adds+removes", "their errors"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for r in results:
        ms = [percentile([t * 1000 for t in r.latencies], q) for q in (50, 95, 99)]
        table.add_row(r.phase, str(r.workers), str(r.requests), f"{r.requests / r.seconds:.1f}",
                      *("—" if v is None else f"{v:.0f}" for v in ms), str(len(r.errors)), str(r.churn),
                      str(len(r.churn_errors)))
    console.print(table)
    for r in results:
        for message, count in Counter(r.errors + r.churn_errors).most_common(5):
            console.print(f"[red]{r.phase}[/]: {count} × {message}", soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load test over loopback: the app and rag.ask under churn.")
    parser.add_argument("--clients", type=int, default=20, help="gradio_client clients (default 20)")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per phase (default 60)")
    parser.add_argument("--threads", type=int, default=8, help="in-process threads (default 8)")
    parser.add_argument("--churn-every", type=float, default=3.0,
                        help="seconds between adding and removing the article (default 3)")
    args = parser.parse_args(argv)
    try:
        results = run(args.clients, args.seconds, args.threads, args.churn_every)
    except ValueError as exc:
        parser.error(str(exc))
    render(results, Console(width=max(Console().width, 110)))
    return 1 if any(r.errors or r.churn_errors for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
