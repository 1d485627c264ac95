"""Leave the answer out: ask each answerable question of the archive *without* the articles
that answer it, and count how often the system says the articles don't say.

A question set marks few questions unanswerable, and someone wrote those on purpose. Every
answerable question with ``sources`` is also a test of the other kind: take its answering
articles away and the rest of the archive — other stories about the same people and places —
no longer holds the answer, so a confident answer is the failure this project fights ("a
confident answer about a different event"). The test is exact: the articles are removed from
a scratch copy of the corpus (hard links) and the scratch index is updated incrementally, so
retrieval, term statistics and every abstention signal see an archive that never had them.
A question is skipped (and said so) when another article still states its answer (its gold
answer, alternatives or patterns match that article's text).

``leave_sources_out`` is what ``rag eval --leave-source-out`` runs; the user's index and
corpus folder are never written to.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import api, store
from ..config import Config, resolve
from ..corpus import corpus_files, load_document
from ..errors import ConfigError
from ..live_index import forget_live_index
from ..metadata import META_SUFFIX
from ..types import Answer
from .metrics import matches_gold
from .questions import Question, load_questions
from .report import _cell


@dataclass(frozen=True)
class LeftOut:
    """One answerable question asked of the archive without its ``removed`` articles."""

    id: str
    question: str
    removed: tuple[str, ...]
    abstained: bool = False
    answer_text: str = ""
    cited_sources: tuple[str, ...] = ()
    tentative: bool = False  # answered, but marked tentative
    skipped: str | None = None  # why it was not asked (its answer is still in another article)
    error: str | None = None  # "ExceptionType: message" when ask() raised


@dataclass(frozen=True)
class LeaveOutRun:
    """All questions of one leave-the-answer-out test."""

    results: tuple[LeftOut, ...]

    @property
    def asked(self) -> tuple[LeftOut, ...]:
        return tuple(r for r in self.results if r.skipped is None and r.error is None)

    @property
    def abstention_recall(self) -> float | None:
        """Share of the asked questions that were abstained on (higher is better)."""
        asked = self.asked
        return sum(r.abstained for r in asked) / len(asked) if asked else None

    @property
    def flagged(self) -> float | None:
        """Share of the asked questions refused or answered with the tentative warning."""
        asked = self.asked
        return sum(r.abstained or r.tentative for r in asked) / len(asked) if asked else None

    def save(self, path: Path) -> Path:
        """The figure and every question's outcome as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"abstention_recall": self.abstention_recall, "flagged": self.flagged, "asked": len(self.asked),
                "results": [asdict(r) for r in self.results]}
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> "LeaveOutRun | None":
        """A run saved by ``save``, or None when there is none or it does not read back."""
        try:
            rows = json.loads(Path(path).read_text(encoding="utf-8"))["results"]
            return cls(tuple(LeftOut(**{**r, "removed": tuple(r["removed"]),
                                        "cited_sources": tuple(r["cited_sources"])}) for r in rows))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def changes(self, previous: "LeaveOutRun") -> str:
        """One line on what changed since ``previous``: the figure, and the questions asked in
        both runs that are now refused or now answered."""
        before = {r.id: r.abstained for r in previous.asked}
        now = {r.id: r.abstained for r in self.asked}
        both = sorted(before.keys() & now.keys())
        refused = [i for i in both if now[i] and not before[i]]
        answered = [i for i in both if before[i] and not now[i]]
        old, new = previous.abstention_recall, self.abstention_recall
        figure = f"{old:.3f} -> {new:.3f}" if old is not None and new is not None else f"{old} -> {new}"
        return (f"vs the previous run: {figure}; now refused: {', '.join(refused) or 'none'}; "
                f"now answered: {', '.join(answered) or 'none'}")

    def markdown(self, previous: "LeaveOutRun | None" = None) -> str:
        """The report.md section: the summary, the change since ``previous`` and every
        question that was answered although its articles were left out."""
        lines = ["", "## Leave the answer out (`--leave-source-out`)", "", self.summary() + ".", ""]
        if previous is not None:
            lines += [self.changes(previous) + ".", ""]
        answered = [r for r in self.asked if not r.abstained]
        if answered:
            lines += ["| id | question | left out | tentative | answered with |", "|---|---|---|---|---|"]
            lines += [f"| {r.id} | {_cell(r.question)} | {_cell(', '.join(r.removed))} | "
                      f"{'yes' if r.tentative else 'no'} | {_cell(r.answer_text[:160])} |" for r in answered]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        asked, skipped = self.asked, [r for r in self.results if r.skipped]
        errors = [r for r in self.results if r.error]
        if not asked:
            return f"leave-the-answer-out: no question could be asked ({len(skipped)} skipped, {len(errors)} failed)"
        held = sum(r.abstained for r in asked)
        tentative = sum(r.tentative for r in asked if not r.abstained)
        return (f"leave-the-answer-out: abstained on {held} of {len(asked)} questions asked without the "
                f"articles that answer them ({held / len(asked):.3f}), answered {tentative} more with the "
                f"tentative warning (flagged {self.flagged:.3f}); {len(skipped)} skipped (the answer "
                f"is also in another article)" + (f", {len(errors)} failed" if errors else ""))


def leave_sources_out(questions: Path | str, *, config: Config | None = None, progress: bool = False,
                      ask: Callable[..., Answer] | None = None) -> LeaveOutRun:
    """Ask every answerable question of ``questions`` that names ``sources`` of the corpus
    without those articles (see the module docstring). ``ask`` replaces ``rag.ask``.

    Works on a scratch copy (hard links where the file system allows, else copies) of
    ``config.corpus_dir`` and of the live file index, in a temporary folder removed after."""
    config = resolve(config)
    items = load_questions(Path(questions), corpus_dir=config.corpus_dir)
    groups: dict[tuple[str, ...], list[Question]] = {}
    for item in items:
        if item.answerable and item.sources:
            groups.setdefault(tuple(sorted(item.sources)), []).append(item)
    if not groups:
        raise ConfigError(f"question set {questions} has no answerable question with 'sources': "
                          f"nothing to leave out")
    ask_fn = ask if ask is not None else api.ask
    texts = {p.name: load_document(p).text for p in corpus_files(config.corpus_dir)}
    results: list[LeftOut] = []
    with tempfile.TemporaryDirectory(prefix="newsdesk-leave-out-") as scratch:
        corpus, parked = Path(scratch) / "corpus", Path(scratch) / "parked"
        _link_tree(Path(config.corpus_dir), corpus)
        parked.mkdir()
        index = Path(scratch) / "index"
        _seed_index(config, index)
        trial = config.replace(corpus_dir=corpus, index_dir=index, database_url=None)
        bar = Progress(TextColumn("leaving answers out"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=Console(stderr=True), transient=True, disable=not progress)
        with bar:
            task = bar.add_task("", total=len(groups))
            for removed, group in sorted(groups.items()):
                for path in parked.iterdir():  # the previous group's articles come back
                    os.replace(path, corpus / path.name)
                for name in removed:
                    for path in (corpus / name, corpus / (name + META_SUFFIX)):
                        if path.exists():
                            os.replace(path, parked / path.name)
                api.build_index(trial)
                for item in group:
                    results.append(_ask_without(ask_fn, trial, item, removed, texts))
                bar.advance(task)
        forget_live_index(trial)
    return LeaveOutRun(tuple(results))


def _ask_without(ask_fn: Callable[..., Answer], config: Config, item: Question, removed: tuple[str, ...],
                 texts: dict[str, str]) -> LeftOut:
    still = sorted(name for name, text in texts.items() if name not in removed
                   and matches_gold(text, item.answer, item.alternatives, item.patterns))
    if still:
        return LeftOut(item.id, item.question, removed, skipped=f"the answer is also in {', '.join(still[:3])}")
    try:
        answer = ask_fn(item.question, list(item.history), config=config)
    except Exception as exc:  # noqa: BLE001 - one broken question must not end the run
        return LeftOut(item.id, item.question, removed, error=f"{type(exc).__name__}: {exc}")
    cited = tuple(dict.fromkeys(c.source for c in answer.citations))
    return LeftOut(item.id, item.question, removed, abstained=answer.abstained, answer_text=answer.text,
                   cited_sources=cited, tentative=answer.tentative and not answer.abstained)


def _link_tree(source: Path, target: Path) -> None:
    """``target`` holds every file of the flat folder ``source``, hard-linked (copied across
    file systems); the originals are never written."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file():
            try:
                os.link(path, target / path.name)
            except OSError:
                shutil.copy2(path, target / path.name)


def _seed_index(config: Config, index: Path) -> None:
    """Start the scratch index from a copy of the live file index (so that only the left-out
    articles change), or empty when there is none (Postgres, or never built)."""
    index.mkdir()
    if config.database_url:
        return
    gen = store.current_generation(Path(config.index_dir))
    if gen is None:
        return
    shutil.copytree(gen, index / gen.name)
    (index / "CURRENT").write_text(gen.name, encoding="utf-8")
