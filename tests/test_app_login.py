"""The web app's optional login (app_login): parsing NEWSDESK_AUTH / NEWSDESK_AUTH_FILE, and the
app itself (in this process, fake embedder, loopback) refusing API calls without the login."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

import rag
from app_login import logins_from_env, parse_login
from tests.app_process import free_port


@pytest.mark.parametrize("text, login", [
    ("editor:s3cret", ("editor", "s3cret")),
    ("  editor : pa:ss:word \n", ("editor", " pa:ss:word")),  # the user name ends at the first ':'
    ("Éditeur:mot de passe", ("Éditeur", "mot de passe")),
])
def test_a_login_is_user_colon_password(text: str, login: tuple[str, str]) -> None:
    assert parse_login(text, "NEWSDESK_AUTH") == login


@pytest.mark.parametrize("text, problem", [
    ("s3cret", "it has no ':'"),
    (":s3cret", "the user name before ':' is empty"),
    ("editor:", "the password after ':' is empty"),
    ("   ", "it has no ':'"),
])
def test_a_bad_login_names_the_variable_and_never_echoes_it(text: str, problem: str) -> None:
    with pytest.raises(rag.ConfigError, match=f"^NEWSDESK_AUTH must be user:password; {problem}$"):
        logins_from_env({"NEWSDESK_AUTH": text})


def test_no_variable_means_no_login() -> None:
    assert logins_from_env({}) is None
    assert logins_from_env({"NEWSDESK_AUTH": "", "NEWSDESK_AUTH_FILE": ""}) is None


def test_a_login_file_and_the_variable_together(tmp_path: Path) -> None:
    logins = tmp_path / "logins"
    logins.write_text("# newsroom\n\ndesk:one\n  night:two:three\n", encoding="utf-8")
    env = {"NEWSDESK_AUTH": "editor:s3cret", "NEWSDESK_AUTH_FILE": str(logins)}
    assert logins_from_env(env) == [("editor", "s3cret"), ("desk", "one"), ("night", "two:three")]


@pytest.mark.parametrize("content, message", [
    ("desk:one\nnight\n", r"NEWSDESK_AUTH_FILE file '.*logins' line 2 must be user:password; it has no ':'"),
    ("# only a comment\n\n", r"NEWSDESK_AUTH_FILE='.*logins' holds no user:password line"),
    (None, r"NEWSDESK_AUTH_FILE='.*logins' cannot be read: .*No such file"),
])
def test_a_bad_login_file_names_the_variable_file_and_line(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "logins"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(rag.ConfigError, match=message):
        logins_from_env({"NEWSDESK_AUTH_FILE": str(path)})


def test_the_app_with_a_login_refuses_calls_without_it(tiny_config: rag.Config) -> None:
    pytest.importorskip("gradio")
    from gradio_client import Client
    import app

    demo = app.build_app(tiny_config)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, auth=[("editor", "s3cret")],
                prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        for path in ("config", "gradio_api/info"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(url + path, timeout=30)
            assert refused.value.code == 401
        with pytest.raises(Exception, match="credentials were not provided"):
            Client(url, verbose=False)
        with pytest.raises(Exception, match="Could not login"):
            Client(url, auth=("editor", "wrong"), verbose=False)
        client = Client(url, auth=("editor", "s3cret"), verbose=False)
        assert sorted(d["source"] for d in client.predict(api_name="/documents")) == [
            "court.txt", "pipeline.txt", "wire.txt"]
    finally:
        demo.close()
