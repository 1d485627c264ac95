"""Command line: python -m rag ask | index | docs | add | remove | eval | conflicts | calibrate | setup-llm.

Library errors become one clean red line and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from . import api
from .eval import calibrate
from .eval import conflicts as eval_conflicts
from .eval import run as eval_run
from .llm import setup as llm_setup
from .config import Config
from .errors import RagError
from .export import TENTATIVE_NOTE, answer_markdown, reflow
from .indexer import IndexReport
from .live_index import live_index
from .types import Answer

console = Console()
err_console = Console(stderr=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except RagError as exc:
        err_console.print(f"[bold red]error:[/] {escape(' '.join(str(exc).split()))}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rag", description="Newsdesk QA: cited answers from news articles.")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("ask", help="answer a question with cited quotes")
    p.add_argument("question")
    p.add_argument("--history", nargs=2, action="append", metavar=("QUESTION", "ANSWER"), default=[],
                   help="an earlier turn (repeatable, oldest first)")
    p.add_argument("-k", "--top-k", type=int, help="passages to retrieve")
    p.add_argument("--mode", choices=Config.MODES, help="answer mode (default: extractive)")
    p.add_argument("--outlet", action="append", dest="outlets", metavar="NAME",
                   help="only articles of this outlet (repeatable)")
    p.add_argument("--date-from", metavar="YYYY-MM-DD", help="only articles published on/after this date")
    p.add_argument("--date-to", metavar="YYYY-MM-DD", help="only articles published on/before this date")
    p.add_argument("--passages", action="store_true", help="also print the retrieved passages")
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                   help="text (default), json (the Answer), or markdown (footnotes [^n] with the quotes)")
    p.add_argument("--json", action="store_const", const="json", dest="format", help="same as --format json")
    _corpus_args(p)
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("index", help="build or update the index (incremental)")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON: every added/updated/removed/skipped article by name")
    _corpus_args(p)
    p.set_defaults(handler=cmd_index)

    p = sub.add_parser("docs", help="list the indexed articles")
    _corpus_args(p)
    p.set_defaults(handler=cmd_docs)

    p = sub.add_parser("add", help="copy articles into the corpus and index them")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--replace", action="store_true",
                   help="replace an article of the same name (its metadata sidecar is dropped)")
    _corpus_args(p)
    p.set_defaults(handler=cmd_add)

    p = sub.add_parser("remove", help="remove an article from the corpus and the index")
    p.add_argument("source", help="file name as listed by `docs`")
    _corpus_args(p)
    p.set_defaults(handler=cmd_remove)

    p = sub.add_parser("eval", help="evaluate answers against a question set")
    eval_run.add_arguments(p)
    p.set_defaults(handler=eval_run.run)

    p = sub.add_parser("conflicts", help="measure how often outlets that disagree are flagged")
    eval_conflicts.add_arguments(p)
    p.set_defaults(handler=eval_conflicts.run)

    p = sub.add_parser("calibrate", help="fit the abstention thresholds on a calibration set")
    calibrate.add_arguments(p)
    p.set_defaults(handler=calibrate.run)

    p = sub.add_parser("setup-llm", help="install llama-cpp-python and a local GGUF model")
    llm_setup.add_arguments(p)
    p.set_defaults(handler=llm_setup.run)
    return parser


def _corpus_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", type=Path, help="corpus folder (default: corpus/)")
    p.add_argument("--index", type=Path, help="index folder (default: index/)")


def cmd_ask(args: argparse.Namespace) -> int:
    config = Config.from_args(args)
    with console.status("thinking (the first question loads the model and may build the index)..."):
        answer = api.ask(args.question, [tuple(t) for t in args.history], config=config)
    if args.format == "json":
        console.print_json(json.dumps(answer.to_dict(), ensure_ascii=False))
    elif args.format == "markdown":
        print(answer_markdown(answer))
    else:
        print_answer(answer, show_passages=args.passages)
    if answer.index_status:  # finish the update this question started, so the next one is current
        with err_console.status("finishing the index update..."):
            live_index(config).wait()
    return 0


def print_answer(answer: Answer, show_passages: bool = False) -> None:
    style = "yellow" if answer.abstained or answer.tentative else "green"
    title = ("No answer in the corpus" if answer.abstained
             else "Tentative answer" if answer.tentative else "Answer")
    console.print(Panel(escape(answer.text), title=title, border_style=style, expand=False))
    if answer.tentative:
        console.print(f"[yellow]{escape(TENTATIVE_NOTE)}[/]")
    for conflict in answer.conflicts:
        console.print(f"[bold red]⚠ The outlets disagree:[/] {escape(conflict.sentence)}")
    for i, count in enumerate(answer.support_counts, start=1):
        if count > 1:
            console.print(f"[dim]sentence {i} is reported by {count} sources[/]")
    if answer.query != answer.question:
        console.print(f"[dim]searched for: {escape(answer.query)}[/]")
    for c in answer.citations:
        meta = " · ".join(x for x in (c.outlet, c.published.isoformat() if c.published else None) if x)
        page = f", page {c.page}" if c.page else ""
        console.print(f"[bold cyan][{c.n}][/] [bold]{escape(c.title)}[/]"
                      f"{' [dim](' + escape(meta) + ')[/]' if meta else ''}")
        console.print(f"    [dim]{escape(c.source)} chars {c.start}–{c.end}{page}[/]")
        before, phrase, after = (reflow(part) for part in c.quote_parts())
        bold = f"[bold]{escape(phrase)}[/bold]" if phrase else ""
        console.print(f"    “{escape(before.lstrip())}{bold}{escape(after.rstrip())}”")
    if show_passages or answer.abstained:
        table = Table(title="Nearest passages" if answer.abstained else "Retrieved passages", show_lines=True)
        for col in ("#", "source", "score", "cosine · BM25", "passage"):
            table.add_column(col)
        for p in answer.passages:  # "score" is the fused score that sets the rank
            extra = f"\n(+ {', '.join(p.also_in)})" if p.also_in else ""
            table.add_row(str(p.rank), escape(p.source) + extra, f"{p.score:.4f}",
                          f"{p.dense_score:.2f} · {p.sparse_score:.1f}", escape(reflow(p.text).strip()[:300]))
        console.print(table)
    ms = answer.timings.get("total", 0.0) * 1000
    console.print(f"[dim]{answer.mode} · {ms:.0f} ms[/]")
    if answer.index_status:
        console.print(f"[yellow]{escape(answer.index_status)}[/]: answered from the previous index; "
                      "articles changed since are not in it yet")


def cmd_index(args: argparse.Namespace) -> int:
    config = Config.from_args(args)
    with index_progress() as progress:
        report = api.build_index(config, rebuild=args.rebuild, progress=progress)
    if args.json:
        print(json.dumps(dataclasses.asdict(report), ensure_ascii=False, indent=2))
    else:
        print_report(report)
    return 0


_UNITS = {"reading": "articles", "segmenting": "chars", "embedding": "texts"}
LISTED = 5  # a report names the changed articles only when there are this few
LISTED_SKIPPED = 10  # skipped articles are listed with their reason, up to this many


class _Rate(ProgressColumn):
    """Items per second of the current stage, in its unit ("412 texts/s")."""

    def render(self, task) -> Text:
        unit = task.fields.get("unit")
        return Text(f"{task.speed:,.0f} {unit}/s" if task.speed and unit else "", style="progress.data.speed")


class index_progress:
    """One rich progress bar for a build: the current stage, its rate and time left. It
    follows the indexer's (stage, done, total) callbacks and disappears when done."""

    def __enter__(self):
        self._bar = Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), _Rate(),
                             TimeRemainingColumn(), TimeElapsedColumn(), console=err_console, transient=True)
        self._bar.__enter__()
        self._task = self._bar.add_task("starting", total=1, unit=None)
        self._stage = None
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self._stage = stage
            self._bar.reset(self._task, total=max(total, 1), description=stage, unit=_UNITS.get(stage))
        self._bar.update(self._task, completed=done if total else 1, total=max(total, 1))

    def __exit__(self, *exc):
        return self._bar.__exit__(*exc)


def print_report(report: IndexReport) -> None:
    """One summary line; the changed articles by name only when there are a few (a first
    build of 300 articles is not 300 lines); every skipped article with its reason."""
    if report.repaired:
        err_console.print(f"[yellow]repaired[/]: {escape(report.repaired)}", soft_wrap=True)
    changes = ", ".join(f"{len(names)} {label}" for label, names in (
        ("added", report.added), ("updated", report.updated), ("removed", report.removed),
        ("skipped", report.skipped)) if names) or "no changes"
    console.print(f"[green]index up to date[/]: {report.documents:,} articles, {report.chunks:,} chunks, "
                  f"{report.sentences:,} sentences in {report.seconds:.1f} s: {changes} "
                  f"({report.embedded:,} texts embedded, {report.unchanged:,} articles unchanged)")
    changed = [(label, name) for label, names in (("added", report.added), ("updated", report.updated),
                                                  ("removed", report.removed)) for name in names]
    if len(changed) <= LISTED:
        for label, name in changed:
            console.print(f"  {label}: {escape(name)}")
    for name, reason in report.skipped[:LISTED_SKIPPED]:
        err_console.print(f"  [yellow]skipped[/] {escape(name)}: {escape(reason)}")
    if len(report.skipped) > LISTED_SKIPPED:
        err_console.print(f"  [yellow]… and {len(report.skipped) - LISTED_SKIPPED} more skipped[/] "
                          "(`index --json` lists them all)")


def cmd_docs(args: argparse.Namespace) -> int:
    table = Table(title="Indexed articles")
    for col in ("file", "title", "outlet", "published", "author", "chars"):
        table.add_column(col)
    for d in api.list_documents(Config.from_args(args)):
        table.add_row(escape(d.source), escape(d.title), escape(d.outlet or "—"),
                      d.published.isoformat() if d.published else "—", escape(d.author or "—"),
                      str(len(d.text)))
    console.print(table)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    config = Config.from_args(args)
    report = None
    for path in args.files:
        report = api.add_document(path, config, replace=args.replace)
    if report:
        print_report(report)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    print_report(api.remove_document(args.source, Config.from_args(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
