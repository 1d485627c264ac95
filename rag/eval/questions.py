"""Read a question set: parse and validate the JSONL format into ``Question`` records, with
errors that name the file, the line and the field.

The format is documented in tests/data/README.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..config import PROJECT_ROOT
from ..errors import ConfigError, QuestionError
from ..pipeline import validate_history

DEFAULT_QUESTIONS = PROJECT_ROOT / "tests" / "data" / "questions.jsonl"
QUESTION_TYPES = ("fact", "who", "when", "where", "how-many", "why", "multi-source",
                  "follow-up", "unanswerable")

_FIELDS = ("id", "question", "history", "answerable", "answer", "alternatives", "patterns",
           "sources", "type", "notes")
_REQUIRED = ("id", "question", "answerable")


@dataclass(frozen=True)
class Question:
    """One line of a question set (see tests/data/README.md)."""

    id: str
    question: str
    answerable: bool
    history: tuple[tuple[str, str], ...] = ()  # previous (question, answer) turns, oldest first
    answer: str = ""  # short gold answer; "" when unanswerable
    alternatives: tuple[str, ...] = ()  # other acceptable answers (normalised substrings)
    patterns: tuple[str, ...] = ()  # regexes; any match on the answer text counts as correct
    sources: tuple[str, ...] = ()  # corpus file names that state the answer
    type: str = "fact"  # one of QUESTION_TYPES
    line: int = 0  # 1-based line in the file, for messages


def load_questions(path: Path, *, corpus_dir: Path | None = None) -> tuple[Question, ...]:
    """Read and validate a JSONL question set; errors name the file, line and field.

    When ``corpus_dir`` is an existing folder, every ``sources`` entry must be a file in it.
    """
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"question set {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"question set {path} is not UTF-8: {exc}") from None
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        where = f"{path} line {number}"
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise ConfigError(f"{where}: JSON nested too deeply ({text[:20]!r}...)") from None
        item = parse_question(obj, where=where, line=number)
        if item.id in seen:
            raise ConfigError(f"{where}: field 'id' {item.id!r} repeats line {seen[item.id]}")
        seen[item.id] = number
        if corpus_dir is not None and Path(corpus_dir).is_dir():
            _check_sources(item, Path(corpus_dir), where)
        questions.append(item)
    if not questions:
        raise ConfigError(f"question set {path} holds no questions")
    return tuple(questions)


def parse_question(obj: object, *, where: str = "question", line: int = 0) -> Question:
    """Validate one decoded JSON object and turn it into a Question.

    ``where`` prefixes every error message, e.g. "questions.jsonl line 3".

    >>> parse_question({"id": "q1", "question": "Who came?", "answerable": True,
    ...                 "answer": "Putin", "history": [["Where?", "Mongolia"]]}).type
    'follow-up'
    """
    obj = _checked_fields(obj, where)
    qid = _text(obj, "id", where, empty_ok=False)
    text = _text(obj, "question", where, empty_ok=False)
    answerable = obj["answerable"]
    if not isinstance(answerable, bool):
        raise ConfigError(f"{where}: field 'answerable' must be true or false, got {answerable!r}")
    history = _history(obj.get("history", []), where)
    answer = _text(obj, "answer", where)
    alternatives = _strings(obj, "alternatives", where)
    patterns = _patterns(obj, where)
    sources = _strings(obj, "sources", where)
    default_type = "unanswerable" if not answerable else ("follow-up" if history else "fact")
    kind = obj.get("type", default_type)
    if kind not in QUESTION_TYPES:
        raise ConfigError(f"{where}: field 'type' must be one of {', '.join(QUESTION_TYPES)}; "
                          f"got {kind!r}")
    if "notes" in obj:
        _text(obj, "notes", where)
    question = Question(id=qid, question=text, answerable=answerable, history=history,
                        answer=answer, alternatives=alternatives, patterns=patterns,
                        sources=sources, type=kind, line=line)
    _check_gold(question, where)
    return question


def _checked_fields(obj: object, where: str) -> dict:
    """``obj`` itself when it is a JSON object with only known fields and every required one."""
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; "
                          f"valid fields are {', '.join(_FIELDS)}")
    for name in _REQUIRED:
        if name not in obj:
            raise ConfigError(f"{where}: missing required field {name!r}")
    return obj


def _text(obj: dict, name: str, where: str, *, empty_ok: bool = True) -> str:
    value = obj.get(name, "")
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        what = "a non-empty string" if not empty_ok else "a string"
        raise ConfigError(f"{where}: field {name!r} must be {what}, got {value!r}")
    return value


def _strings(obj: dict, name: str, where: str) -> tuple[str, ...]:
    value = obj.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(
            f"{where}: field {name!r} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _history(value: object, where: str) -> tuple[tuple[str, str], ...]:
    """Earlier turns, checked by the pipeline's own rule; the error names the line and field."""
    try:
        return validate_history(value)
    except QuestionError:
        raise ConfigError(f"{where}: field 'history' must be a list of [question, answer] "
                          f"string pairs, got {value!r}") from None


def _patterns(obj: dict, where: str) -> tuple[str, ...]:
    patterns = _strings(obj, "patterns", where)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}: field 'patterns' has an invalid regex {pattern!r}: "
                              f"{exc}") from None
    return patterns


def _check_gold(q: Question, where: str) -> None:
    """Answerable questions carry a gold answer; unanswerable ones carry none."""
    if q.answerable:
        if q.type == "unanswerable":
            raise ConfigError(f"{where}: field 'type' is 'unanswerable' but 'answerable' is true")
        if not (q.answer.strip() or q.alternatives or q.patterns):
            raise ConfigError(f"{where}: answerable question {q.id!r} gives no gold answer "
                              f"(fill 'answer', 'alternatives' or 'patterns')")
        return
    if q.type != "unanswerable":
        raise ConfigError(f"{where}: field 'type' must be 'unanswerable' when 'answerable' "
                          f"is false, got {q.type!r}")
    for name in ("answer", "alternatives", "patterns", "sources"):
        value = getattr(q, name)
        if value:
            raise ConfigError(f"{where}: field {name!r} must be empty for an unanswerable "
                              f"question, got {value!r}")


def _check_sources(q: Question, corpus_dir: Path, where: str) -> None:
    for source in q.sources:
        if not (corpus_dir / source).is_file():
            raise ConfigError(f"{where}: field 'sources' names {source!r}, which is not a file "
                              f"in {corpus_dir}")
