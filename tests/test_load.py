"""The load test (bench/load.py) at a tiny size: the app over HTTP and rag.ask in-process, while an
article is added and removed, answer every question without an error."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from rag.config import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]  # the app over HTTP with the real model


def test_a_short_load_has_no_errors() -> None:
    pytest.importorskip("gradio_client")
    spec = importlib.util.spec_from_file_location("bench_load", PROJECT_ROOT / "bench" / "load.py")
    load = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
    spec.loader.exec_module(load)
    results = load.run(clients=3, seconds=8, threads=2, churn_every=2)
    assert [r.phase for r in results] == ["app", "in-process"]
    for r in results:
        assert r.errors == () and r.churn_errors == (), r
        assert len(r.latencies) >= r.workers and r.churn >= 1, r
