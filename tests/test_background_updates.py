"""Questions never wait for a build (issue 11, defect 4), unless there is no index at all; a
changed corpus is noticed by the next look at it and indexed in the background.

A build is held in its embedding stage by a gate (an Event), so each test knows the build is
still running when it asks: no wall-clock thresholds. ``within`` only turns a question that
waits for the build (the old behaviour) into a failure instead of a hang.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import rag
from rag import indexer
from rag.config import Config
from rag.live_index import forget_live_indexes, live_index
from tests.checks import assert_quotes_verbatim

YAKS = "Herders moved 3,000 yaks to the northern pastures in May. The herders left before the first snow.\n"
YAKS_QUESTION = "How many yaks did herders move?"
PROTEST_QUESTION = "Where did protesters gather?"
UPDATING = re.compile(r"index updating: \d{1,3}%")
ANSWER_WITHIN = 20.0  # s: only to fail instead of hanging; the gated build never finishes before release


class Gate:
    """Once armed, holds every build at its embedding stage until ``release`` is set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.entered = threading.Event()  # a build reached the embedding stage
        self.release = threading.Event()
        self._monkeypatch = monkeypatch

    def arm(self) -> None:
        embed = indexer._embed

        def gated(*args, **kwargs):
            self.entered.set()
            assert self.release.wait(60), "the test never released the build"
            return embed(*args, **kwargs)

        self._monkeypatch.setattr(indexer, "_embed", gated)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch):
    gate = Gate(monkeypatch)
    yield gate
    gate.release.set()  # whatever happened, let the builds finish (forget_live_indexes waits for them)


def within(seconds: float, fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a thread; fails when it is still running after ``seconds``."""
    result: list = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="asker", daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn.__name__} was still waiting after {seconds} s: it waited for the build"
    if errors:
        raise errors[0]
    return result[0]


def write_article(config: Config, name: str, text: str) -> None:
    Path(config.corpus_dir, name).write_text(text, encoding="utf-8")


def assert_from_old_index(answer: rag.Answer, config: Config) -> None:
    """An answer from the generation before yaks.txt, with verbatim citations."""
    assert_quotes_verbatim(answer, config.corpus_dir)
    assert all(p.source != "yaks.txt" for p in answer.passages)
    assert UPDATING.fullmatch(answer.index_status or ""), answer.index_status


def assert_from_new_index(config: Config) -> None:
    answer = rag.ask(YAKS_QUESTION, config=config)
    assert "3,000 yaks" in answer.text and answer.citations[0].source == "yaks.txt"
    assert answer.index_status is None and rag.index_status(config) is None
    assert_quotes_verbatim(answer, config.corpus_dir)


def test_a_question_during_add_document_is_answered_from_the_live_index(
        tiny_config: Config, tmp_path: Path, gate: Gate) -> None:
    rag.build_index(tiny_config)
    gate.arm()
    upload = tmp_path / "yaks.txt"
    upload.write_text(YAKS, encoding="utf-8")
    reports: list[rag.IndexReport] = []
    writer = threading.Thread(target=lambda: reports.append(rag.add_document(upload, tiny_config)), name="writer")
    writer.start()
    try:
        assert gate.entered.wait(30)  # add_document is building the next index
        answer = within(ANSWER_WITHIN, rag.ask, PROTEST_QUESTION, config=tiny_config)
        assert "Sukhbaatar Square" in answer.text and answer.citations
        assert_from_old_index(answer, tiny_config)
        docs = within(ANSWER_WITHIN, rag.list_documents, tiny_config)
        assert "yaks.txt" not in [d.source for d in docs]
        assert not gate.release.is_set() and writer.is_alive()  # the build was running all along
    finally:
        gate.release.set()
        writer.join(60)
    assert reports and "yaks.txt" in [d.source for d in rag.list_documents(tiny_config)]
    live_index(tiny_config).wait(60)
    assert_from_new_index(tiny_config)


def test_a_stale_index_answers_at_once_and_is_updated_in_the_background(tiny_config: Config, gate: Gate) -> None:
    rag.build_index(tiny_config)
    forget_live_indexes()  # a new process, and an article added while none was running
    write_article(tiny_config, "yaks.txt", YAKS)
    gate.arm()
    first = within(ANSWER_WITHIN, rag.ask, YAKS_QUESTION, config=tiny_config)
    assert gate.entered.wait(30)  # the update is running, in the background
    assert_from_old_index(first, tiny_config)
    assert "3,000" not in first.text
    assert UPDATING.fullmatch(rag.index_status(tiny_config) or "")
    gate.release.set()
    assert live_index(tiny_config).wait(60)
    assert live_index(tiny_config).last_report.added == ("yaks.txt",)
    assert_from_new_index(tiny_config)


def test_with_no_index_at_all_the_question_waits_for_the_build(tiny_config: Config, gate: Gate) -> None:
    gate.arm()
    answers: list[rag.Answer] = []
    asker = threading.Thread(target=lambda: answers.append(rag.ask(PROTEST_QUESTION, config=tiny_config)))
    asker.start()
    assert gate.entered.wait(30)  # the question is building the index...
    assert asker.is_alive() and not answers  # ...and waits for it: there is nothing to answer from
    gate.release.set()
    asker.join(60)
    (answer,) = answers
    assert "Sukhbaatar Square" in answer.text and answer.index_status is None
    assert_quotes_verbatim(answer, tiny_config.corpus_dir)


HOLD_LOCK = """
import sys
from filelock import FileLock
lock = FileLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


def test_a_build_in_another_process_does_not_hold_questions_up(tiny_config: Config) -> None:
    """Another process holds the index's build lock (a long rebuild): the corpus changed, this
    process starts its own update, which waits for that lock; its questions do not."""
    rag.build_index(tiny_config)
    other = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(Path(tiny_config.index_dir) / ".build.lock")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert other.stdout.readline() == b"locked\n"
        write_article(tiny_config, "yaks.txt", YAKS)
        answer = within(ANSWER_WITHIN, rag.ask, YAKS_QUESTION, config=tiny_config)
        assert_from_old_index(answer, tiny_config)
        assert rag.index_status(tiny_config) == "index updating: 0%"  # waiting for the other build
    finally:
        other.stdin.close()
        other.wait(30)
    assert live_index(tiny_config).wait(60)
    assert_from_new_index(tiny_config)


def test_a_failed_background_update_keeps_the_live_index_and_says_why(
        tiny_config: Config, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    rag.build_index(tiny_config)
    write_article(tiny_config, "yaks.txt", YAKS)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(indexer, "_embed", disk_full)
    answer = rag.ask(PROTEST_QUESTION, config=tiny_config)
    assert live_index(tiny_config).wait(60)
    assert "Sukhbaatar Square" in answer.text and "yaks.txt" not in [d.source for d in rag.list_documents(tiny_config)]
    assert "in the background failed" in caplog.text and "No space left on device" in caplog.text
    assert live_index(tiny_config).wait(60)  # list_documents may have started another (failing) try
    monkeypatch.undo()  # the next look at the corpus tries again
    rag.ask(PROTEST_QUESTION, config=tiny_config)
    assert live_index(tiny_config).wait(60)
    assert_from_new_index(tiny_config)


# --- stale detection: seen by the next look at the corpus, once the update is done -----------

def test_ask_sees_an_edited_article(tiny_config: Config) -> None:
    assert tiny_config.stale_check_seconds == 0
    first = rag.ask("Where did protesters gather?", config=tiny_config)
    assert "Sukhbaatar Square" in first.text
    write_article(tiny_config, "wire.txt", "Protesters gathered in Genghis Khan Square on Tuesday.\n")
    during = rag.ask("Where did protesters gather?", config=tiny_config)  # starts the update...
    assert "Sukhbaatar Square" in during.text  # ...and is answered from the index before it
    assert live_index(tiny_config).wait(60)
    second = rag.ask("Where did protesters gather?", config=tiny_config)
    assert "Genghis Khan Square" in second.text
    assert_quotes_verbatim(second, tiny_config.corpus_dir)


def current_sources(config: Config) -> list[str]:
    """The indexed articles once the update that this look at the corpus starts is done."""
    rag.list_documents(config)
    assert live_index(config).wait(60)
    return [d.source for d in rag.list_documents(config)]


def test_ask_sees_added_and_removed_articles(tiny_config: Config) -> None:
    rag.ask("Where did protesters gather?", config=tiny_config)
    write_article(tiny_config, "yaks.txt", YAKS)
    assert "yaks.txt" in current_sources(tiny_config)
    (Path(tiny_config.corpus_dir) / "yaks.txt").unlink()
    assert "yaks.txt" not in current_sources(tiny_config)
    assert live_index(tiny_config).last_report.removed == ("yaks.txt",)


def test_with_an_interval_the_corpus_is_looked_at_off_the_question_path(tiny_config: Config, monkeypatch) -> None:
    """With stale_check_seconds > 0 a question never stats the corpus folder itself (17,528
    files: 0.05-0.13 s): a background look does, and starts the update when it changed."""
    from rag import live_index as module

    periodic = tiny_config.replace(stale_check_seconds=0.01)
    rag.ask("Where did protesters gather?", config=periodic)
    lookers = []
    real = module.corpus_state

    def recording(folder):
        lookers.append(threading.current_thread().name)
        return real(folder)
    monkeypatch.setattr(module, "corpus_state", recording)
    write_article(periodic, "wire.txt", "Protesters gathered in Genghis Khan Square on Tuesday.\n")
    time.sleep(0.02)
    during = rag.ask("Where did protesters gather?", config=periodic)
    assert "Sukhbaatar Square" in during.text  # answered at once, from the index it had
    assert live_index(periodic).wait(60)
    assert lookers and threading.current_thread().name not in lookers
    assert "Genghis Khan Square" in rag.ask("Where did protesters gather?", config=periodic).text


def test_stale_check_interval_caches_the_snapshot(tiny_config: Config) -> None:
    slow = tiny_config.replace(stale_check_seconds=3600.0)
    rag.ask("Where did protesters gather?", config=slow)
    write_article(slow, "wire.txt", "Protesters gathered in Genghis Khan Square on Tuesday.\n")
    # within the interval the engine does not look at the folder again...
    assert "Sukhbaatar" in rag.get_document("wire.txt", slow).text
    # ...and an explicit build picks the change up
    assert rag.build_index(slow).updated == ("wire.txt",)
    assert "Genghis Khan" in rag.get_document("wire.txt", slow).text
