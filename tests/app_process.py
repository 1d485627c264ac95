"""Start app.py in a subprocess on a free loopback port (shared by the browser and API tests)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT

START_TIMEOUT = 180  # s until the app answers HTTP (imports torch, gradio)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(corpus: Path, index: Path, log_path: Path) -> Iterator[str]:
    """app.py over ``corpus``/``index`` with the real model; yields its URL, stops it after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "NEWSDESK_MODEL" and not k.startswith("GRADIO_")}
    env.update(NEWSDESK_CORPUS_DIR=str(corpus), NEWSDESK_INDEX_DIR=str(index), PYTHONUNBUFFERED="1")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port)],
                                cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, proc, log_path)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_http(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app.py exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"app.py did not answer on {url} within {START_TIMEOUT} s:\n"
                f"{log_path.read_text(errors='replace')[-3000:]}")
