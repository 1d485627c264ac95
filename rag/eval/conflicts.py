"""Measure ``Answer.conflicts``: ``python -m rag conflicts [CASES]``.

Each case (``tests/data/conflicts.jsonl``, written by hand before any run) is two short
articles from two outlets and a question about one fact: in a *conflict* case the outlets
give different figures or opposite claims for it, in a *control* they agree (or give figures
for different things). Every case gets its own scratch corpus and index; the question is asked
through ``rag.ask`` and the case counts as flagged when the answer lists a conflict.
Reported: conflicts found (share of conflict cases flagged) and false conflicts (share of
controls flagged), overall and by kind ("numbers", "claims").
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..config import MODES, PROJECT_ROOT, Config, default_config
from ..errors import ConfigError

DEFAULT_CASES = PROJECT_ROOT / "tests" / "data" / "conflicts.jsonl"


@dataclass(frozen=True)
class Case:
    id: str
    question: str
    conflict: bool
    kind: str  # "numbers" or "claims"
    articles: tuple[tuple[str, str, str], ...]  # (outlet, title, text)


@dataclass(frozen=True)
class Outcome:
    case: Case
    flagged: bool
    answer: str
    seconds: float


def load_cases(path: Path) -> list[Case]:
    """The cases of a JSONL file; a malformed line is an error naming its line number."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            cases.append(Case(raw["id"], raw["question"], bool(raw["conflict"]), raw["kind"],
                              tuple((a["outlet"], a["title"], a["text"]) for a in raw["articles"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number}: not a conflicts case ({exc})") from exc
    return cases


def write_corpus(case: Case, folder: Path) -> None:
    """The case's articles as .txt files with .meta.json sidecars (title, outlet)."""
    folder.mkdir(parents=True)
    for i, (outlet, title, text) in enumerate(case.articles, start=1):
        name = f"{i}-{re.sub(r'[^a-z0-9]+', '-', outlet.lower()).strip('-')}.txt"
        (folder / name).write_text(text + "\n", encoding="utf-8")
        (folder / f"{name}.meta.json").write_text(json.dumps({"title": title, "outlet": outlet}), encoding="utf-8")


def evaluate_cases(cases: list[Case], base: Config) -> list[Outcome]:
    """Ask every case's question of its own scratch corpus."""
    from ..api import ask

    scratch = Path(tempfile.mkdtemp(prefix="newsdesk-conflicts-"))
    try:
        outcomes = []
        for case in cases:
            corpus = scratch / case.id / "corpus"
            write_corpus(case, corpus)
            config = base.replace(corpus_dir=corpus, index_dir=scratch / case.id / "index", database_url=None)
            started = time.perf_counter()
            answer = ask(case.question, config=config)
            outcomes.append(Outcome(case, bool(answer.conflicts), answer.text, time.perf_counter() - started))
        return outcomes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def summary(outcomes: list[Outcome]) -> dict:
    """Conflicts found and false conflicts, overall and by kind."""
    def share(items: list[Outcome]) -> float | None:
        return round(sum(o.flagged for o in items) / len(items), 4) if items else None

    out = {"conflicts_found": share([o for o in outcomes if o.case.conflict]),
           "false_conflicts": share([o for o in outcomes if not o.case.conflict]),
           "n_conflict": sum(o.case.conflict for o in outcomes),
           "n_control": sum(not o.case.conflict for o in outcomes)}
    for kind in sorted({o.case.kind for o in outcomes}):
        out[f"conflicts_found_{kind}"] = share([o for o in outcomes if o.case.conflict and o.case.kind == kind])
        out[f"false_conflicts_{kind}"] = share([o for o in outcomes if not o.case.conflict and o.case.kind == kind])
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `rag conflicts` arguments to ``parser``."""
    parser.add_argument("cases", nargs="?", type=Path, default=DEFAULT_CASES, metavar="CASES",
                        help=f"cases, JSONL (default: {DEFAULT_CASES.relative_to(PROJECT_ROOT)})")
    parser.add_argument("--mode", choices=MODES, help="answering mode")
    parser.add_argument("--out", type=Path, metavar="JSON", help="also write the outcomes here")
    parser.add_argument("--min-found", type=float, metavar="SHARE",
                        help="exit 1 if fewer conflicts than this share are found (a quality gate)")
    parser.add_argument("--max-false", type=float, metavar="SHARE",
                        help="exit 1 if more controls than this share are flagged")


def run(args: argparse.Namespace) -> int:
    """The `rag conflicts` command: prints the misses and the two rates; 1 when a gate is missed."""
    base = default_config()
    if args.mode:
        base = base.replace(mode=args.mode)
    outcomes = evaluate_cases(load_cases(args.cases), base)
    figures = summary(outcomes)
    console = Console()
    wrong = [o for o in outcomes if o.flagged != o.case.conflict]
    if wrong:
        table = Table(title="Cases the answer got wrong", show_lines=True)
        for col in ("case", "expected", "answer"):
            table.add_column(col)
        for o in wrong:
            table.add_row(o.case.id, "conflict" if o.case.conflict else "no conflict", o.answer)
        console.print(table)
    console.print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps({"summary": figures, "outcomes": [
            {"id": o.case.id, "conflict": o.case.conflict, "kind": o.case.kind, "flagged": o.flagged,
             "answer": o.answer, "seconds": round(o.seconds, 3)} for o in outcomes]}, indent=2) + "\n",
            encoding="utf-8")
    missed = []
    if args.min_found is not None and (figures["conflicts_found"] or 0.0) < args.min_found:
        missed.append(f"conflicts_found = {figures['conflicts_found']} is under {args.min_found:g}")
    if args.max_false is not None and (figures["false_conflicts"] or 0.0) > args.max_false:
        missed.append(f"false_conflicts = {figures['false_conflicts']} is over {args.max_false:g}")
    for message in missed:
        console.print(f"[red]gate missed:[/] {message}")
    return 1 if missed else 0
