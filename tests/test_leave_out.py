"""`rag eval --leave-source-out`: each answerable question asked of the archive without the
articles that answer it (rag.eval.leave_out), on the tiny three-article corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rag
from rag.cli import main
from rag.errors import ConfigError
from rag.eval.leave_out import LeaveOutRun, LeftOut, leave_sources_out

QUESTIONS = [
    # only pipeline.txt says it: asked without pipeline.txt
    {"id": "gas", "question": "How much gas a year would the pipeline carry?", "answerable": True,
     "answer": "50 billion cubic meters", "sources": ["pipeline.txt"]},
    # court.txt says it, and so does the wire copy: skipped, the answer is still there
    {"id": "arrest", "question": "Why do members decide whether to arrest suspects?", "answerable": True,
     "answer": "no enforcement mechanism", "sources": ["court.txt"]},
    # unanswerable questions and answerable ones without sources are not part of the test
    {"id": "banquet", "question": "What was served at the banquet?", "answerable": False},
    {"id": "nosource", "question": "Where did protesters gather?", "answerable": True, "answer": "Sukhbaatar Square"},
]


def write_questions(folder: Path, rows: list[dict]) -> Path:
    path = folder / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_each_question_is_asked_of_the_archive_without_its_sources(tiny_config, tmp_path):
    questions = write_questions(tmp_path, QUESTIONS)
    seen = {}

    def ask(question, history, config):
        seen[question] = sorted(p.name for p in Path(config.corpus_dir).iterdir())
        return rag.ask(question, history, config=config)

    run = leave_sources_out(questions, config=tiny_config, ask=ask)

    by_id = {r.id: r for r in run.results}
    assert set(by_id) == {"gas", "arrest"}
    # asked of a scratch corpus that has every article (and sidecar) but the answering one
    assert seen == {"How much gas a year would the pipeline carry?":
                    ["court.txt", "court.txt.meta.json", "wire.txt"]}
    gas = by_id["gas"]
    assert gas.removed == ("pipeline.txt",) and gas.skipped is None and gas.error is None
    assert "pipeline.txt" not in gas.cited_sources
    assert by_id["arrest"].skipped == "the answer is also in wire.txt"
    assert run.asked == (gas,)
    assert run.abstention_recall == float(gas.abstained)
    assert "1 skipped" in run.summary()


def test_a_tentative_answer_counts_as_flagged_not_as_refused():
    """What the summary says of one question refused, one answered with the tentative
    warning and one answered outright."""
    run = LeaveOutRun((LeftOut("a", "A?", ("a.txt",), abstained=True),
                       LeftOut("b", "B?", ("b.txt",), tentative=True, answer_text="B [1]."),
                       LeftOut("c", "C?", ("c.txt",), answer_text="C [1].")))
    assert (run.abstention_recall, run.flagged) == (pytest.approx(1 / 3), pytest.approx(2 / 3))
    assert "abstained on 1 of 3" in run.summary() and "answered 1 more with the tentative warning" in run.summary()
    assert "| b | B? | b.txt | yes | B [1]. |" in run.markdown()


def test_the_users_corpus_and_index_are_not_touched(tiny_config, tmp_path):
    rag.build_index(tiny_config)
    corpus, index = snapshot(tiny_config.corpus_dir), snapshot(tiny_config.index_dir)

    leave_sources_out(write_questions(tmp_path, QUESTIONS), config=tiny_config)

    assert snapshot(tiny_config.corpus_dir) == corpus
    assert snapshot(tiny_config.index_dir) == index


def test_a_set_without_answerable_sourced_questions_is_refused(tiny_config, tmp_path):
    questions = write_questions(tmp_path, [QUESTIONS[2], QUESTIONS[3]])
    with pytest.raises(ConfigError, match="no answerable question with 'sources'"):
        leave_sources_out(questions, config=tiny_config)


def test_the_cli_reports_and_gates_the_figure(tiny_config, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEWSDESK_MODEL", "hash")
    questions = write_questions(tmp_path, QUESTIONS)
    common = ["eval", str(questions), "--corpus", str(tiny_config.corpus_dir), "--index",
              str(tiny_config.index_dir), "--out", str(tmp_path / "out"), "--no-progress"]
    code = main(common + ["--leave-source-out", "--fail-under", "leave_out_abstention=1.01"])

    out = capsys.readouterr()
    assert code == 1 and "leave_out_abstention" in out.err
    assert "leave-the-answer-out:" in out.out
    saved = json.loads((tmp_path / "out" / "leave-out.json").read_text())
    assert saved["asked"] == 1 and [r["id"] for r in saved["results"]] == ["arrest", "gas"]

    assert main(common + ["--fail-under", "leave_out_abstention=0.1"]) == 2
    assert "needs --leave-source-out" in capsys.readouterr().err


def test_report_md_gets_a_section_and_a_second_run_says_what_changed(tiny_config, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEWSDESK_MODEL", "hash")
    out_dir = tmp_path / "out"
    args = ["eval", str(write_questions(tmp_path, QUESTIONS)), "--corpus", str(tiny_config.corpus_dir),
            "--index", str(tiny_config.index_dir), "--out", str(out_dir), "--no-progress", "--leave-source-out"]
    assert main(args) == 0
    report = (out_dir / "report.md").read_text()
    assert "## Leave the answer out" in report and "1 skipped" in report
    # pretend the previous run had refused the gas question and answered nothing else
    saved = json.loads((out_dir / "leave-out.json").read_text())
    gas = next(r for r in saved["results"] if r["id"] == "gas")
    capsys.readouterr()
    gas["abstained"] = not gas["abstained"]
    (out_dir / "leave-out.json").write_text(json.dumps(saved))

    assert main(args) == 0

    flipped = "now answered: gas" if gas["abstained"] else "now refused: gas"
    assert flipped in capsys.readouterr().out
    assert flipped in (out_dir / "report.md").read_text()

