"""Worked examples for taking answers away (rag.export): Markdown footnotes that quote the
sources, a whole chat with turn-numbered footnotes, JSON, and `ask --format markdown`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from rag.cli import main
from rag.config import Config
from rag.export import answer_markdown, chat_json, chat_markdown
from rag.types import Answer, Citation

PIPELINE = Citation(1, "pipeline.txt", "Pipeline plans", "The pipeline would carry 50 billion\ncubic meters of gas.",
                    0, 55, outlet="Energy Wire", published=date(2024, 9, 2))
COURT = Citation(2, "court.txt", "Court without police", "Members decide whether to arrest suspects.", 0, 43)


def answer(text: str, citations: list[Citation], question: str = "How much gas?") -> Answer:
    return Answer(question, text, citations, False, question, [], {})


def test_markers_become_footnotes_that_quote_the_source() -> None:
    md = answer_markdown(answer("It would carry 50 billion cubic meters [1][2]. Members decide [2].", [PIPELINE, COURT]))
    assert md == (
        "It would carry 50 billion cubic meters [^1][^2]. Members decide [^2].\n\n"
        '[^1]: Pipeline plans — Energy Wire, 2024-09-02: "The pipeline would carry 50 billion cubic meters of gas."\n'
        '[^2]: Court without police: "Members decide whether to arrest suspects."')


def test_a_tentative_answer_carries_the_warning_as_a_quote_block() -> None:
    weak = Answer("How much gas?", "It would carry 50 billion cubic meters [1].", [PIPELINE], False,
                  "How much gas?", [], {}, tentative=True)
    md = answer_markdown(weak)
    assert md.startswith("> Tentative: no passage clearly answers this question; the quotes may be about "
                         "another event or detail.")
    assert "It would carry 50 billion cubic meters [^1]." in md and "[^1]: Pipeline plans" in md


def test_an_abstention_has_no_footnotes() -> None:
    text = "The 3 indexed articles do not answer this question."
    assert answer_markdown(Answer("Q?", text, [], True, "Q?", [], {})) == text


def test_a_chat_numbers_footnotes_by_turn_so_labels_never_clash() -> None:
    turns = [("How much gas?", answer("It would carry 50 billion [1].", [PIPELINE])),
             ("Who decides?", answer("Members decide [1].", [COURT.__class__(**{**COURT.__dict__, "n": 1})]))]
    md = chat_markdown(turns)
    assert md.startswith("# Newsdesk QA session\n\n## How much gas?\n\nIt would carry 50 billion [^1.1].")
    assert "## Who decides?\n\nMembers decide [^2.1]." in md
    assert '[^1.1]: Pipeline plans' in md and '[^2.1]: Court without police' in md
    data = json.loads(chat_json(turns))
    assert [t["question"] for t in data] == ["How much gas?", "Who decides?"]
    assert data[0]["answer"]["citations"][0]["published"] == "2024-09-02"


def test_a_stray_footnote_opener_in_an_answer_is_escaped() -> None:
    assert answer_markdown(answer("Odd text [^x] here [1].", [COURT])).startswith("Odd text \\[^x] here [^1].")


def test_cli_prints_markdown(tiny_config: Config, capsys, monkeypatch) -> None:
    monkeypatch.setenv("NEWSDESK_MODEL", "hash")  # the fake embedder of tiny_config
    code = main(["ask", "Where did protesters gather?", "--format", "markdown",
                 "--corpus", str(tiny_config.corpus_dir), "--index", str(tiny_config.index_dir)])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("Protesters gathered in Sukhbaatar Square on Monday [^1].")
    assert out.rstrip().splitlines()[-1].endswith(': "Protesters gathered in Sukhbaatar Square on Monday."')


def test_the_web_apps_download_is_a_file_in_one_folder_removed_at_exit() -> None:
    import subprocess
    import sys

    # In a child process: importing the app makes no folder; an export writes one file whose
    # text is what the box shows; the folder is gone once the process exits.
    code = ("import glob, tempfile, os\n"
            "before = set(glob.glob(os.path.join(tempfile.gettempdir(), 'newsdesk-export-*')))\n"
            "import app_export\n"
            "assert set(glob.glob(os.path.join(tempfile.gettempdir(), 'newsdesk-export-*'))) == before\n"
            "from rag.types import Answer\n"
            "text, path = app_export.export([Answer('Q?', 'It would carry gas.', [], False, 'Q?', [], {})], 'last')\n"
            "assert open(path, encoding='utf-8').read() == text and text.startswith('It would carry gas.')\n"
            "print(os.path.dirname(path))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert folder.name.startswith("newsdesk-export-") and not folder.exists()
