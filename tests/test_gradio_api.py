"""The app's named API endpoints through gradio_client: /ask, /document, /documents.

Starts ``app.py`` as a subprocess on a free loopback port with a temp copy of the seed corpus
and a temp index (real embedding model), then checks the offset contract over HTTP:
``document(c["source"])["text"][c["start"]:c["end"]] == c["quote"]`` for every citation.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from rag.config import PROJECT_ROOT
from tests.app_process import running_app

pytestmark = [pytest.mark.e2e, pytest.mark.browser]  # the app over HTTP: with the browser tests

@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A gradio_client.Client connected to app.py over a temp copy of the seed corpus."""
    from gradio_client import Client

    tmp = tmp_path_factory.mktemp("gradio-api")
    corpus = tmp / "corpus"
    shutil.copytree(PROJECT_ROOT / "corpus", corpus)
    with running_app(corpus, tmp / "index", tmp / "app.log") as url:
        yield Client(url, verbose=False)


def check_offsets(client, answer: dict) -> None:
    texts: dict[str, str] = {}
    for c in answer["citations"]:
        if c["source"] not in texts:
            texts[c["source"]] = client.predict(c["source"], api_name="/document")["text"]
        assert texts[c["source"]][c["start"]:c["end"]] == c["quote"], c
        assert f"[{c['n']}]" in answer["text"]


def test_ask_returns_cited_json_with_exact_offsets(client):
    answer = client.predict("Why wasn't Putin arrested?", "[]", 4, api_name="/ask")
    assert set(answer) >= {"text", "citations", "abstained", "query", "passages", "timings", "support_counts"}
    assert len(answer["support_counts"]) == len(re.findall(r"(?:\s*\[\d+\])+", answer["text"]))
    assert answer["abstained"] is False and answer["query"] == "Why wasn't Putin arrested?"
    assert answer["citations"] and len(answer["passages"]) >= 4
    for c in answer["citations"]:
        assert set(c) >= {"n", "source", "title", "quote", "start", "end"}
    check_offsets(client, answer)
    json.dumps(answer)


def test_follow_up_uses_the_history(client):
    first = client.predict("Why wasn't Putin arrested?", api_name="/ask")  # defaults: no history, top_k 6
    history = json.dumps([[first["question"], first["text"]]])
    follow = client.predict("Who said there was no risk of his arrest?", history, 6, api_name="/ask")
    assert follow["question"] == "Who said there was no risk of his arrest?"
    assert follow["text"] and (follow["citations"] or follow["abstained"])
    check_offsets(client, follow)


def test_abstention_lists_nearest_passages(client):
    answer = client.predict("What is the recipe for Hungarian goulash soup?", "[]", 3, api_name="/ask")
    assert answer["abstained"] is True and answer["citations"] == []
    assert answer["passages"]
    for p in answer["passages"]:
        article = client.predict(p["source"], api_name="/document")["text"]
        assert article[p["start"]:p["end"]] == p["text"]


def test_documents_lists_the_corpus(client):
    docs = client.predict(api_name="/documents")
    assert sorted(d["source"] for d in docs) == sorted(p.name for p in (PROJECT_ROOT / "corpus").glob("*.txt"))
    assert all("text" not in d for d in docs)


@pytest.mark.parametrize("args, message", [
    (("", "[]", 6), "question is empty"),
    (("Why?", "not json", 6), "Expecting value"),
    (("Why?", '[["only a question"]]', 6), "history[0]"),
    (("Why?", '{"question": "Who?"}', 6), "history must be a list"),
    (("Why?", "[" * 100_000 + "]" * 100_000, 6), "history is nested too deeply"),
    (("Why?", "[]", 0), "top_k must be a positive integer"),
])
def test_bad_input_is_an_error_message(client, args, message):
    with pytest.raises(Exception, match=message.replace("[", r"\[")):
        client.predict(*args, api_name="/ask")


def test_unknown_document_is_an_error_message(client):
    with pytest.raises(Exception, match="no indexed article named"):
        client.predict("../../etc/passwd", api_name="/document")
