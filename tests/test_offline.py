"""Answering makes no network call: every socket connection is refused during ask().

The real model is loaded and the index is built inside the blocked section too, so the
whole path from a cold process to a cited answer is proven offline.
"""

from __future__ import annotations

import socket

import pytest

import rag
from rag.live_index import forget_live_indexes

pytestmark = pytest.mark.e2e


class NetworkBlocked(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise NetworkBlocked(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_ask_works_with_every_socket_blocked(no_network, tmp_path, seed_copy):
    forget_live_indexes()
    config = rag.Config(corpus_dir=seed_copy, index_dir=tmp_path / "index")
    answer = rag.ask("Why wasn't Putin arrested?", config=config)
    assert answer.citations and not answer.abstained
    follow = rag.ask("How many member states does the ICC have?", config=config)
    assert "124" in follow.text
    assert no_network == []
