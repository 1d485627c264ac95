"""Chat models for the generative modes: local llama.cpp, an Ollama server, or any
OpenAI-compatible endpoint, all as langchain-core ``BaseChatModel`` so one LCEL chain serves all.

``chat_model(config)`` picks by ``config.mode``. Optional packages are imported only when
their mode is used; a missing one raises GenerationError with the exact pip command.

llama.cpp: ``LlamaCppChat`` is a thin adapter over ``llama_cpp.Llama.create_chat_completion``.
(langchain-community's ChatLlamaCpp works with llama-cpp-python 0.3.36, but it loads a new
model per instance, has no lock, and that package is being sunset.) Loaded models are cached
per (path, n_ctx) for the life of the process, and generation on one model is serialised with
a lock because a llama.cpp context is not thread-safe.
"""

from __future__ import annotations

import atexit
import importlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from ..config import Config
from ..errors import GenerationError
from .setup import LLAMA_CPP_REQUIREMENT, model_path

# Pins for the optional packages, used in install hints (keep in step with requirements).
INSTALL_HINTS = {
    "llama_cpp": "python -m rag setup-llm  (installs " + LLAMA_CPP_REQUIREMENT + ")",
    "langchain_ollama": "pip install langchain-ollama==1.1.0",
    "langchain_openai": "pip install langchain-openai==1.7.4",
}
DEFAULT_N_CTX = 4096  # prompt (instructions + ~6 passages) plus the answer fit easily


def require(module: str, mode: str) -> ModuleType:
    """Import an optional module or raise GenerationError with its install command.

    ``require("langchain_ollama", "ollama")`` -> the module, or GenerationError("mode
    'ollama' needs langchain_ollama: pip install langchain-ollama==1.1.0").
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        hint = INSTALL_HINTS.get(module, f"pip install {module.replace('_', '-')}")
        raise GenerationError(f"mode {mode!r} needs {module}: {hint}") from None


def chat_model(config: Config) -> BaseChatModel:
    """The chat model for ``config.mode`` (``llama-cpp``, ``ollama`` or ``openai``)."""
    if config.mode == "llama-cpp":
        cache_dir = config.llm_cache_dir
        path = config.llm_model_path or model_path(config.llm_model_size, cache_dir)
        if not Path(path).is_file():
            raise GenerationError(f"llm_model_path {str(path)!r} does not exist")
        require("llama_cpp", config.mode)
        return LlamaCppChat(model_path=str(path), temperature=config.llm_temperature,
                            max_tokens=config.llm_max_tokens)
    if config.mode == "ollama":
        module = require("langchain_ollama", config.mode)
        return module.ChatOllama(model=config.ollama_model, base_url=config.ollama_base_url,
                                 temperature=config.llm_temperature,
                                 num_predict=config.llm_max_tokens)
    if config.mode == "openai":
        module = require("langchain_openai", config.mode)
        try:
            return module.ChatOpenAI(model=config.openai_model, base_url=config.openai_base_url,
                                     temperature=config.llm_temperature,
                                     max_tokens=config.llm_max_tokens)
        except Exception as exc:  # the openai client refuses to start without an API key
            raise GenerationError(f"mode 'openai' could not start: {exc} "
                                  "(set OPENAI_API_KEY; any value works for a local server)") from exc
    raise GenerationError(f"mode {config.mode!r} has no chat model (it is not a generative mode)")


# --- llama.cpp ------------------------------------------------------------------------------

@dataclass
class _Loaded:
    llama: Any  # llama_cpp.Llama
    lock: threading.Lock


_CACHE: dict[tuple[str, int], _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def load_llama(path: str, n_ctx: int = DEFAULT_N_CTX) -> _Loaded:
    """The process-wide llama.cpp model for ``path`` (loaded once, ~1.4 s for 1.5B)."""
    key = (str(Path(path).resolve()), n_ctx)
    with _CACHE_LOCK:
        if key not in _CACHE:
            llama_cpp = require("llama_cpp", "llama-cpp")
            try:
                llama = llama_cpp.Llama(model_path=key[0], n_ctx=n_ctx, seed=0, verbose=False)
            except Exception as exc:  # ValueError on a bad file; keep the message
                raise GenerationError(f"llama.cpp could not load {key[0]}: {exc}") from exc
            if not _CACHE:
                atexit.register(close_all)
            _CACHE[key] = _Loaded(llama, threading.Lock())
        return _CACHE[key]


def close_all() -> None:
    """Free every cached llama.cpp model (also run at exit: Llama.__del__ fails during
    interpreter shutdown with "'NoneType' object is not callable")."""
    with _CACHE_LOCK:
        loaded = list(_CACHE.values())
        _CACHE.clear()
    for item in loaded:
        with item.lock:
            close = getattr(item.llama, "close", None)
            if close is not None:
                close()


_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def _message_dict(message: BaseMessage) -> dict[str, str]:
    role = _ROLES.get(message.type)
    if role is None:
        raise GenerationError(f"llama-cpp backend cannot send a {message.type!r} message")
    return {"role": role, "content": message.text}


class LlamaCppChat(BaseChatModel):
    """A chat model over a cached ``llama_cpp.Llama``; streams token by token."""

    model_path: str
    temperature: float = 0.0
    max_tokens: int = 320
    n_ctx: int = DEFAULT_N_CTX
    top_p: float = 0.95
    repeat_penalty: float = 1.1
    stop: list[str] | None = None

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-python"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "n_ctx": self.n_ctx}

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        loaded = load_llama(self.model_path, self.n_ctx)
        params = {"temperature": self.temperature, "max_tokens": self.max_tokens,
                  "top_p": self.top_p, "repeat_penalty": self.repeat_penalty,
                  "stop": stop or self.stop or [], **kwargs}
        with loaded.lock:  # held until the stream is exhausted or closed
            try:
                stream = loaded.llama.create_chat_completion(
                    messages=[_message_dict(m) for m in messages], stream=True, **params)
                for part in stream:
                    choices = part.get("choices") or [{}]
                    text = (choices[0].get("delta") or {}).get("content") or ""
                    finish = choices[0].get("finish_reason")
                    if not text and not finish:
                        continue
                    chunk = ChatGenerationChunk(
                        message=AIMessageChunk(content=text),
                        generation_info={"finish_reason": finish} if finish else None)
                    if run_manager and text:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
            except GenerationError:
                raise
            except ValueError as exc:  # e.g. "Requested tokens exceed context window"
                raise GenerationError(f"llama.cpp failed: {exc}") from exc

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        text, finish = [], None
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            text.append(chunk.text)
            finish = (chunk.generation_info or {}).get("finish_reason", finish)
        return ChatResult(generations=[ChatGeneration(
            message=AIMessage(content="".join(text)),
            generation_info={"finish_reason": finish} if finish else None)])
