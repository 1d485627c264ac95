"""Show an evaluation run: terminal tables, report.json / report.md, PNG plots, and the
comparison with a previous run (metric deltas; questions fixed or broken).

Works on the EvalRun built by rag.evaluate (rag.eval.run); it only reads the run's attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # rag.eval.run imports this module for its CLI; only types flow back
    from .run import EvalRun

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
LATENCY_PNG = "latency.png"
ACCURACY_PNG = "accuracy_by_type.png"

_LOWER_IS_BETTER = ("n_errors", "false_abstentions", "false_abstention_rate", "tentative_correct")

def lower_is_better(metric: str) -> bool:
    """Latencies, errors and false abstentions improve by going down."""
    return metric in _LOWER_IS_BETTER or metric.endswith("_ms")


def format_value(metric: str, value: float | int | None) -> str:
    """"n/a" for None, counts as integers, latencies in ms, rates with 3 decimals."""
    if value is None:
        return "n/a"
    if metric.endswith("_ms"):
        return f"{value:.1f} ms"
    if isinstance(value, int) or metric.startswith("n_") or metric == "false_abstentions":
        return str(int(value))
    return f"{value:.3f}"


def _label(metric: str, k: int) -> str:
    """The metric's own name (the one --fail-under takes), with k spelled out for recall."""
    return f"{metric} (k={k})" if metric == "recall_at_k" else metric


# --- comparison --------------------------------------------------------------------------

@dataclass(frozen=True)
class MetricDelta:
    """One metric before and after; ``improved`` is None when unchanged or not comparable."""

    metric: str
    before: float | int | None
    after: float | int | None
    delta: float | None
    improved: bool | None


@dataclass(frozen=True)
class Comparison:
    """What changed since a previous run, per metric and per question id."""

    previous_created: str
    same_questions: bool  # the question files' hashes match
    deltas: tuple[MetricDelta, ...]
    fixed: tuple[str, ...]  # ids wrong before, correct now
    broke: tuple[str, ...]  # ids correct before, wrong now
    added: tuple[str, ...]  # ids only in the current run
    removed: tuple[str, ...]  # ids only in the previous run


def compare(previous: EvalRun, current: EvalRun) -> Comparison:
    """Compare two runs; questions are matched by id.

    previous {q1: wrong, q2: correct}, current {q1: correct, q2: wrong} -> fixed (q1,), broke (q2,)
    """
    before_values = previous.metrics.flat()
    deltas = []
    for metric, after in current.metrics.flat().items():
        before = before_values.get(metric)
        if before is None or after is None:
            deltas.append(MetricDelta(metric, before, after, None, None))
            continue
        delta = float(after) - float(before)
        improved = None if delta == 0 else (delta < 0) == lower_is_better(metric)
        deltas.append(MetricDelta(metric, before, after, delta, improved))
    old = {r.id: r.correct for r in previous.results}
    new = {r.id: r.correct for r in current.results}
    return Comparison(
        previous_created=previous.created,
        same_questions=previous.questions_sha256 == current.questions_sha256,
        deltas=tuple(deltas),
        fixed=tuple(i for i in new if i in old and new[i] and not old[i]),
        broke=tuple(i for i in new if i in old and old[i] and not new[i]),
        added=tuple(i for i in new if i not in old),
        removed=tuple(i for i in old if i not in new),
    )


def _format_delta(d: MetricDelta) -> str:
    if d.delta is None:
        return ""
    if d.metric.endswith("_ms"):
        return f"{d.delta:+.1f} ms"
    if isinstance(d.after, int) and isinstance(d.before, int):
        return f"{int(d.delta):+d}"
    return f"{d.delta:+.3f}"


# --- terminal ------------------------------------------------------------------------------

def render_terminal(run: EvalRun, comparison: Comparison | None = None, *,
                    console: Console | None = None) -> None:
    """Print the metrics table, accuracy by type, failed questions and what changed."""
    console = console or Console()
    deltas = {d.metric: d for d in comparison.deltas} if comparison else {}
    k = run.metrics.k

    table = Table(title=f"Evaluation: {run.metrics.n_questions} questions "
                        f"({run.config.get('mode', '?')} mode)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    if comparison:
        table.add_column("change", justify="right")
    for metric, value in run.metrics.flat().items():
        row = [_label(metric, k), format_value(metric, value)]
        if comparison:
            d = deltas.get(metric)
            style = "" if d is None or d.improved is None else ("green" if d.improved else "red")
            row.append(Text(_format_delta(d), style=style) if d else Text(""))
        table.add_row(*row)
    console.print(table)

    by_type = Table(title="Accuracy by question type")
    by_type.add_column("type")
    by_type.add_column("questions", justify="right")
    by_type.add_column("correct", justify="right")
    for kind, share in run.metrics.accuracy_by_type.items():
        count = sum(1 for r in run.results if r.type == kind)
        by_type.add_row(kind, str(count), f"{share:.3f}")
    console.print(by_type)

    failed = run.failed
    if failed:
        fails = Table(title=f"Failed questions ({len(failed)})")
        fails.add_column("id", no_wrap=True)
        fails.add_column("type")
        fails.add_column("question")
        fails.add_column("what went wrong")
        for r in failed:
            fails.add_row(r.id, r.type, r.question, "; ".join(r.failures))
        console.print(fails)
    else:
        console.print("No failed questions.")

    if comparison:
        console.print(Text(_comparison_line(comparison)))


def _comparison_line(c: Comparison) -> str:
    parts = [f"compared with the run of {c.previous_created}:",
             f"fixed {len(c.fixed)}" + (f" ({', '.join(c.fixed)})" if c.fixed else ""),
             f"broke {len(c.broke)}" + (f" ({', '.join(c.broke)})" if c.broke else "")]
    if c.added or c.removed:
        parts.append(f"{len(c.added)} new, {len(c.removed)} removed question(s)")
    if not c.same_questions:
        parts.append("(the question set changed)")
    return " ".join(parts)


# --- markdown --------------------------------------------------------------------------------

def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(run: EvalRun, comparison: Comparison | None = None, *,
                    plots: tuple[str, ...] = ()) -> str:
    """report.md: run facts, metrics (with deltas), accuracy by type, failures, changes."""
    m = run.metrics
    lines = ["# Evaluation report", "",
             f"- run: {run.created}",
             f"- questions: `{run.questions_path}` ({m.n_questions}: {m.n_answerable} "
             f"answerable, {m.n_unanswerable} unanswerable)",
             f"- mode: {run.config.get('mode', '?')}, model: {run.config.get('model', '?')}, "
             f"top_k: {run.config.get('top_k', '?')}, k: {m.k}", "",
             "## Metrics", ""]
    deltas = {d.metric: d for d in comparison.deltas} if comparison else {}
    if comparison:
        lines += ["| metric | value | previous | change |", "|---|---:|---:|---:|"]
    else:
        lines += ["| metric | value |", "|---|---:|"]
    for metric, value in m.flat().items():
        row = f"| {_cell(_label(metric, m.k))} | {format_value(metric, value)} |"
        if comparison:
            d = deltas[metric]
            row += f" {format_value(metric, d.before)} | {_format_delta(d)} |"
        lines.append(row)

    lines += ["", "## Accuracy by type", "", "| type | questions | correct |", "|---|---:|---:|"]
    for kind, share in m.accuracy_by_type.items():
        count = sum(1 for r in run.results if r.type == kind)
        lines.append(f"| {kind} | {count} | {share:.3f} |")
    lines += ["", "For unanswerable questions, correct means the system abstained.", ""]

    failed = run.failed
    lines += [f"## Failed questions ({len(failed)})", ""]
    if failed:
        lines += ["| id | type | question | what went wrong | answer |", "|---|---|---|---|---|"]
        for r in failed:
            answer = r.answer_text if len(r.answer_text) <= 160 else r.answer_text[:157] + "..."
            lines.append(f"| {_cell(r.id)} | {r.type} | {_cell(r.question)} | "
                         f"{_cell('; '.join(r.failures))} | {_cell(answer)} |")
    else:
        lines.append("None.")
    lines.append("")

    if comparison:
        lines += ["## Comparison with the previous run", "", _comparison_line(comparison), "",
                  "- fixed: " + (", ".join(comparison.fixed) or "none"),
                  "- broke: " + (", ".join(comparison.broke) or "none"), ""]
    if plots:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    return "\n".join(lines)


# --- plots ----------------------------------------------------------------------------------

def _save(fig, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # Agg canvas, no pyplot: safe in servers and threads
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_latency(run: EvalRun, path: Path) -> Path:
    """Box plot of per-question latency for each pipeline stage and wall time, in ms."""
    stages: dict[str, list[float]] = {}
    for r in run.results:
        for name, value in r.timings_ms.items():
            stages.setdefault(name, []).append(value)
        if r.error is None:
            stages.setdefault("wall", []).append(r.wall_ms)
    from matplotlib.figure import Figure  # matplotlib only when plotting: 0.3 s of a cold start

    fig = Figure(figsize=(max(5.0, 1.1 * len(stages) + 2), 4))
    ax = fig.add_subplot()
    if stages:
        names = list(stages)
        ax.boxplot([stages[n] for n in names], tick_labels=names)
        ax.set_ylabel("milliseconds")
        ax.tick_params(axis="x", labelrotation=30)
    else:
        ax.text(0.5, 0.5, "no timings recorded", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title("Latency per stage")
    return _save(fig, path)


def plot_accuracy_by_type(run: EvalRun, path: Path) -> Path:
    """Bar chart: share correct per question type (unanswerable: share abstained)."""
    by_type = run.metrics.accuracy_by_type
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(5.0, 0.9 * len(by_type) + 2), 4))
    ax = fig.add_subplot()
    names = list(by_type)
    bars = ax.bar(names, [by_type[n] for n in names], color="#4c72b0")
    ax.bar_label(bars, labels=[f"{by_type[n]:.2f}" for n in names], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("share correct")
    ax.set_title("Accuracy by question type")
    ax.tick_params(axis="x", labelrotation=30)
    return _save(fig, path)


# --- files ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportFiles:
    """Paths written by ``write_report``."""

    json: Path
    markdown: Path
    plots: tuple[Path, ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.json, self.markdown, *self.plots)


def write_report(run: EvalRun, out_dir: Path, *,
                 comparison: Comparison | None = None) -> ReportFiles:
    """Write report.json (the run, loadable with rag.eval.run.load_run), the plots and
    report.md into ``out_dir`` (created if missing); existing files are replaced."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = run.save(out_dir / REPORT_JSON)
    plots = (plot_latency(run, out_dir / LATENCY_PNG),
             plot_accuracy_by_type(run, out_dir / ACCURACY_PNG))
    md_path = out_dir / REPORT_MD
    md_path.write_text(render_markdown(run, comparison, plots=tuple(p.name for p in plots)),
                       encoding="utf-8")
    return ReportFiles(json=json_path, markdown=md_path, plots=plots)
