"""Run an evaluation: ask every question of a set, score the answers into an ``EvalRun``
(saved and reloaded as report.json), check the --fail-under/--fail-over gates, and the
`rag eval` command that ties these to the report.

``evaluate`` is public as ``rag.evaluate``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from .. import api
from ..config import MODES, Config, resolve, safe_url
from ..corpus import load_document
from ..errors import ConfigError, CorpusError, IndexCorruptError, RagError
from ..types import Answer
from . import report
from .leave_out import LeaveOutRun, leave_sources_out
from .metrics import SCALAR_METRICS, Metrics, QuestionResult, compute_metrics, score_question
from .questions import DEFAULT_QUESTIONS, load_questions

RUN_FORMAT = "newsdesk-eval-run/1"  # first key of every saved run; load_run refuses others
LEAVE_OUT_METRIC = "leave_out_abstention"  # gate name of --leave-source-out's figure
LEAVE_OUT_JSON = "leave-out.json"
_LATENCY_METRIC = re.compile(r"^p(50|95)_[a-z0-9_]+_ms$")  # Metrics.flat() latency names


@dataclass(frozen=True)
class EvalRun:
    """One evaluation: what was run, the aggregate metrics and every question's result."""

    created: str  # ISO timestamp (UTC)
    questions_path: str
    questions_sha256: str  # of the question file's bytes; comparisons warn when it differs
    config: dict[str, object]  # the Config used, as JSON values
    metrics: Metrics
    results: tuple[QuestionResult, ...]
    format: str = RUN_FORMAT

    @property
    def failed(self) -> tuple[QuestionResult, ...]:
        return tuple(r for r in self.results if r.failures)

    def to_json(self) -> str:
        data = {"format": self.format, "created": self.created,
                "questions_path": self.questions_path,
                "questions_sha256": self.questions_sha256, "config": self.config,
                "metrics": asdict(self.metrics),
                "results": [asdict(r) for r in self.results]}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")
        return path


def load_run(path: Path) -> EvalRun:
    """Read a run saved by ``EvalRun.save`` (e.g. a previous report.json)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RagError(f"previous run {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RagError(f"previous run {path} is not readable JSON: {exc}") from None
    found = data.get("format") if isinstance(data, dict) else None
    if found != RUN_FORMAT:
        raise RagError(f"{path} has format {found!r}; this version reads {RUN_FORMAT!r}")
    try:
        metrics = Metrics(**data["metrics"])
        results = []
        for item in data["results"]:
            item = dict(item)
            for name in ("gold_sources", "retrieved_sources", "cited_sources", "failures", "quotes",
                         "unsupported"):
                if name in item:  # runs written before quotes were kept lack the last two
                    item[name] = tuple(item[name])
            results.append(QuestionResult(**item))
        return EvalRun(created=data["created"], questions_path=data["questions_path"],
                       questions_sha256=data["questions_sha256"], config=data["config"],
                       metrics=metrics, results=tuple(results))
    except (KeyError, TypeError) as exc:
        raise RagError(f"{path} is not a complete evaluation run: {exc!r}") from None


# --- running ---------------------------------------------------------------------------

def read_source_text(path: Path) -> str:
    """A corpus file's text exactly as the loader sees it (the text quotes are cut from):
    for .txt/.md the bytes decoded as UTF-8 with a BOM dropped and newlines untranslated,
    for .html/.pdf the extracted text."""
    return load_document(Path(path)).text


class _SourceTexts:
    """Cache of cited corpus files' text as loaded (every format is checked exactly)."""

    def __init__(self, corpus_dir: Path) -> None:
        self.corpus_dir = corpus_dir
        self._texts: dict[str, str | None] = {}

    def get(self, source: str) -> str | None:
        if source not in self._texts:
            self._texts[source] = read_source_text(self.corpus_dir / source)
        return self._texts[source]


def _config_json(config: Config) -> dict[str, object]:
    out: dict[str, object] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, (Path, date)):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif f.name == "database_url":
            value = safe_url(value)  # reports are shared; a password in the URL is not
        out[f.name] = value
    return out


def evaluate(questions: Path | str, *, config: Config | None = None, k: int = 5,
             progress: bool = False, ask: Callable[..., Answer] | None = None) -> EvalRun:
    """Ask every question of a question set and score the answers.

    ``questions`` is a JSONL question set (format: tests/data/README.md; the shipped one is
    ``rag.eval.questions.DEFAULT_QUESTIONS``). ``config`` is the Config to answer with
    (default: the process-wide one, read from the environment once). ``k`` is the cutoff
    for recall@k. ``progress`` shows a progress bar on stderr. ``ask`` replaces
    ``rag.ask`` (looked up when the run starts) and is called as
    ``ask(question, history, config=config)``.

    Returns an ``EvalRun``: ``.metrics`` (accuracy, recall@k, MRR, nDCG@10, citation and
    abstention rates, latency percentiles), ``.results`` (one ``QuestionResult`` each, with
    ``failures`` in words) and ``.save(path)``. A bad question set or ``k`` raises
    ConfigError; setup errors from ``ask`` (ConfigError, CorpusError, IndexCorruptError)
    stop the run; any other exception is recorded against its question.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    config = resolve(config)
    path = Path(questions)
    items = load_questions(path, corpus_dir=config.corpus_dir)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    ask_fn = ask if ask is not None else api.ask
    if ask is None:  # bring the index up to date first: answers (and timings) from the corpus as it is
        api.build_index(config)
    texts = _SourceTexts(config.corpus_dir)
    results: list[QuestionResult] = []

    bar = Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.description}"),
                   console=Console(stderr=True), transient=True, disable=not progress)
    with bar:
        task = bar.add_task("", total=len(items))
        for item in items:
            bar.update(task, description=item.id)
            started = time.perf_counter()
            answer, error = _ask_one(ask_fn, item.question, item.history, config)
            wall_ms = (time.perf_counter() - started) * 1000.0
            results.append(score_question(item, answer, k=k, wall_ms=wall_ms, error=error,
                                          source_text=texts.get))
            bar.advance(task)

    return EvalRun(created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   questions_path=str(path), questions_sha256=digest,
                   config=_config_json(config), metrics=compute_metrics(results, k=k),
                   results=tuple(results))


def _ask_one(ask_fn: Callable[..., Answer], question: str, history: Iterable[tuple[str, str]],
             config: Config) -> tuple[Answer | None, str | None]:
    """(answer, None), or (None, "ExceptionType: message") when ``ask_fn`` failed."""
    try:
        answer = ask_fn(question, list(history), config=config)
    except (ConfigError, CorpusError, IndexCorruptError):
        raise
    except Exception as exc:  # noqa: BLE001 - one broken question must not end the run
        return None, f"{type(exc).__name__}: {exc}"
    if not isinstance(answer, Answer):
        return None, f"TypeError: ask() returned {type(answer).__name__}, not an Answer"
    return answer, None


# --- thresholds (--fail-under / --fail-over) ---------------------------------------------

@dataclass(frozen=True)
class Threshold:
    """A quality gate: ``metric`` must not be under (or over) ``value``."""

    metric: str
    value: float
    direction: str  # "under": fail when metric < value; "over": fail when metric > value


def parse_threshold(text: str, direction: str) -> Threshold:
    """Parse "accuracy=0.8" for --fail-under (direction "under") or --fail-over ("over").

    Latency names (p50_/p95_<stage>_ms) are checked against the run later, since stages
    depend on the pipeline.
    """
    flag = f"--fail-{direction}"
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ConfigError(f"{flag} expects METRIC=VALUE, got {text!r}")
    if name not in SCALAR_METRICS and name != LEAVE_OUT_METRIC and not _LATENCY_METRIC.match(name):
        raise ConfigError(f"{flag}: unknown metric {name!r}; valid metrics are "
                          f"{', '.join(SCALAR_METRICS)}, {LEAVE_OUT_METRIC} (with --leave-source-out), "
                          f"and p50_/p95_<stage>_ms latencies "
                          f"such as p95_total_ms or p95_wall_ms")
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{flag} {name}: threshold must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{flag} {name}: threshold must be finite, got {raw!r}")
    return Threshold(metric=name, value=value, direction=direction)


def check_thresholds(metrics: Metrics, thresholds: Iterable[Threshold],
                     extra: dict[str, float | None] | None = None) -> list[str]:
    """Messages for every missed threshold ([] when all pass). ``extra``: more measured
    values by name (``leave_out_abstention`` when the leave-the-answer-out test ran).

    Raises ConfigError for a latency metric this run did not measure, listing those it did.
    A metric without data (None) fails its gate, since it cannot be shown to pass.
    """
    values = {**metrics.flat(), **(extra or {})}
    missed: list[str] = []
    for gate in thresholds:
        if gate.metric == LEAVE_OUT_METRIC and gate.metric not in values:
            raise ConfigError(f"--fail-{gate.direction} {LEAVE_OUT_METRIC} needs --leave-source-out")
        if gate.metric not in values:
            measured = sorted(name for name in values if _LATENCY_METRIC.match(name))
            raise ConfigError(f"--fail-{gate.direction}: this run measured no {gate.metric!r}; "
                              f"latency metrics available: {', '.join(measured) or 'none'}")
        value = values[gate.metric]
        if value is None:
            missed.append(f"{gate.metric} has no value in this run (no data), so it cannot "
                          f"meet --fail-{gate.direction} {gate.value:g}")
        elif gate.direction == "under" and value < gate.value:
            missed.append(f"{gate.metric} = {value:.4g} is under the threshold {gate.value:g}")
        elif gate.direction == "over" and value > gate.value:
            missed.append(f"{gate.metric} = {value:.4g} is over the threshold {gate.value:g}")
    return missed


# --- CLI glue (registered by rag/cli.py) ------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `rag eval` arguments to ``parser``."""
    parser.add_argument("questions", nargs="?", type=Path, default=None, metavar="QUESTIONS",
                        help=f"question set, JSONL (default: {DEFAULT_QUESTIONS})")
    parser.add_argument("--corpus", type=Path, metavar="DIR", help="corpus folder")
    parser.add_argument("--index", type=Path, metavar="DIR", help="index folder")
    parser.add_argument("--k", type=int, default=5, metavar="K",
                        help="cutoff for recall@k (default: 5)")
    parser.add_argument("--mode", choices=MODES, help="answering mode")
    parser.add_argument("--out", type=Path, default=Path("eval-results"), metavar="DIR",
                        help="where report.json, report.md and plots go (default: ./eval-results)")
    parser.add_argument("--previous", type=Path, metavar="JSON",
                        help="earlier report.json to compare with (default: the one in --out)")
    parser.add_argument("--fail-under", nargs="+", action="extend", default=[],
                        metavar="METRIC=VALUE",
                        help="exit 1 if METRIC is below VALUE, e.g. accuracy=0.8")
    parser.add_argument("--fail-over", nargs="+", action="extend", default=[],
                        metavar="METRIC=VALUE",
                        help="exit 1 if METRIC is above VALUE, e.g. p95_total_ms=500")
    parser.add_argument("--leave-source-out", action="store_true",
                        help="also ask each answerable question without the articles that answer it "
                             f"(a scratch copy) and report how often it abstains ({LEAVE_OUT_METRIC}; "
                             f"details in {LEAVE_OUT_JSON})")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Run `rag eval`: 0 when every gate passes, 1 when one is missed, 2 when it cannot run."""
    out = Console()
    err = Console(stderr=True)
    try:
        gates = ([parse_threshold(t, "under") for t in args.fail_under]
                 + [parse_threshold(t, "over") for t in args.fail_over])
        config = Config.from_args(args)
        questions = args.questions if args.questions is not None else DEFAULT_QUESTIONS
        out_dir = Path(args.out)
        previous = _previous_run(args.previous, out_dir, err)  # read before overwriting
        previous_left = LeaveOutRun.load(out_dir / LEAVE_OUT_JSON) if args.leave_source_out else None
        show = not args.no_progress and sys.stderr.isatty()
        result = evaluate(questions, config=config, k=args.k, progress=show)
        left_out = leave_sources_out(questions, config=config, progress=show) if args.leave_source_out else None
    except RagError as exc:
        _say(err, "error", str(exc))
        return 2

    comparison = report.compare(previous, result) if previous is not None else None
    files = report.write_report(result, out_dir, comparison=comparison)
    report.render_terminal(result, comparison, console=out)
    paths = [str(p) for p in files.paths]
    extra = {}
    if left_out is not None:
        out.print(Text(left_out.summary()), highlight=False, soft_wrap=True)
        if previous_left is not None:
            out.print(Text(left_out.changes(previous_left)), highlight=False, soft_wrap=True)
        paths.append(str(left_out.save(out_dir / LEAVE_OUT_JSON)))
        with files.markdown.open("a", encoding="utf-8") as md:
            md.write(left_out.markdown(previous_left))
        extra[LEAVE_OUT_METRIC] = left_out.abstention_recall
    out.print(Text("wrote " + ", ".join(paths)), highlight=False, soft_wrap=True)

    metrics = result.metrics
    if metrics.n_questions and metrics.n_errors == metrics.n_questions:
        first = next(r.error for r in result.results if r.error)
        _say(err, "error", f"every question failed; first error: {first}")
        return 1
    try:
        missed = check_thresholds(metrics, gates, extra)
    except ConfigError as exc:
        _say(err, "error", str(exc))
        return 2
    for message in missed:
        _say(err, "FAIL", message)
    return 1 if missed else 0


def _say(console: Console, label: str, message: str) -> None:
    style = "yellow" if label == "warning" else "red"
    console.print(Text.assemble((f"{label}: ", style), message), highlight=False,
                  soft_wrap=True)


def _previous_run(explicit: Path | None, out_dir: Path, err: Console) -> EvalRun | None:
    """The run to compare with: --previous (must load), else out_dir/report.json if usable."""
    if explicit is not None:
        return load_run(explicit)
    candidate = out_dir / report.REPORT_JSON
    if not candidate.is_file():
        return None
    try:
        return load_run(candidate)
    except RagError as exc:
        _say(err, "warning", f"not comparing with {candidate}: {exc}")
        return None
