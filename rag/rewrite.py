"""Turn a follow-up question into a standalone search query using the conversation so far.

No LLM is needed: a follow-up is recognised by pronouns or by being very short, and the
pronoun is replaced by the most specific name from the previous turn (its answer first,
then its question), while the previous question's key words are appended for context.

>>> standalone_query("When did he meet Putin?",
...     [("Who is the president of Mongolia?", "Mongolian President Khurelsukh Ukhnaa [1].")])
'When did Khurelsukh Ukhnaa meet Putin? (president of Mongolia)'
>>> standalone_query("Who is the president of Mongolia?", [])
'Who is the president of Mongolia?'
"""

from __future__ import annotations

import re

from .markers import strip_markers
from .terms import STOPWORDS, fold, key_terms, name_spans, question_type, terms_match

_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers|they|them|their|it|its|this|that|these|those|there)\b",
                      re.IGNORECASE)
_PERSONAL = {"he", "she", "him", "her", "his", "hers"}
_CONTINUATION = re.compile(r"^(and|what about|how about|also|then)\b", re.IGNORECASE)
_QUESTION_WORDS = {"who", "what", "when", "where", "why", "how", "which", "whom", "whose", "is", "are",
                   "was", "were", "did", "does", "do"}


def is_follow_up(question: str) -> bool:
    """Pronouns, 'and ...'/'what about ...' openings, or three words or fewer."""
    words = re.findall(r"\w+", question)
    return bool(_PRONOUN.search(question) or _CONTINUATION.search(question.strip()) or len(words) <= 3)


def standalone_query(question: str, history: list[tuple[str, str]] | None, max_turns: int = 3) -> str:
    """The query to search for ``question`` given earlier (question, answer) turns."""
    question = " ".join(question.split())
    turns = [t for t in (history or [])[-max_turns:] if t and t[0]] if max_turns else []
    if not turns or not is_follow_up(question):
        return question
    last_q, last_a = turns[-1]
    last_a = strip_markers(last_a or "")
    context = _topic_phrase(last_q)
    # After a "who" question the person is in the answer; otherwise the previous question's
    # own subject ("Why wasn't Putin arrested?" -> Putin) is what "he" refers to.
    if question_type(last_q) == "who":
        entity = _main_entity(last_a, question, last_q) or _main_entity(last_q, question, last_q)
    else:  # the grammatical subject usually comes first: "Did Vladimir Putin visit Mongolia?"
        entity = (_main_entity(last_q, question, last_q, first=True)
                  or _main_entity(last_a, question, last_q))
    rewritten = question
    match = _PRONOUN.search(question)
    if entity and match and match.group(0).lower() in _PERSONAL | {"they", "them", "their", "it", "its"}:
        replacement = entity + ("'s" if match.group(0).lower() in ("his", "her", "their", "its") else "")
        rewritten = question[:match.start()] + replacement + question[match.end():]
    if context and fold(context) not in fold(rewritten):
        rewritten = f"{rewritten} ({context})"
    return rewritten


def with_context(question: str, previous: str) -> str:
    """``question`` plus the topic of ``previous`` when it leans on it (pronouns, brevity).

    >>> with_context("and what was it fought over?", "What was the 1939 battle called?")
    'and what was it fought over? (1939 battle called)'
    """
    if not is_follow_up(question):
        return question
    context = _topic_phrase(previous)
    return f"{question} ({context})" if context else question


def _topic_phrase(question: str) -> str:
    """The previous question without its question words: 'president of Mongolia'."""
    words = re.findall(r"[\w'’-]+", question)
    while words and (words[0].lower() in _QUESTION_WORDS or words[0].lower() in STOPWORDS):
        words.pop(0)
    return " ".join(words)


def _main_entity(text: str, question: str, previous_question: str = "", first: bool = False) -> str | None:
    """The name in ``text`` that best answers ``previous_question``: the one whose title or
    surrounding words carry its key terms ('Mongolian President Khurelsukh Ukhnaa' for
    "Who is the president of Mongolia?"); names the new question already uses are skipped."""
    asked_words = {fold(w) for w in re.findall(r"\w+", question)}
    wanted = key_terms(previous_question)
    best: tuple[int, int, int] | None = None
    best_name = None
    for m in name_spans(text):
        words = _strip_titles(m.group(0)).split()
        while words and fold(words[0]) in STOPWORDS:  # "Did Vladimir Putin" -> "Vladimir Putin"
            words.pop(0)
        name = " ".join(words)
        if (not name or len(name) <= 2 or any(fold(w) in asked_words for w in words)
                or all(fold(w) in STOPWORDS or fold(w) in ("yes", "no") for w in words)):
            continue  # "The", "Yes": a capitalised sentence opener, not a name
        context = key_terms(text[max(0, m.start() - 40):m.end()])
        hits = sum(1 for t in wanted if any(terms_match(t, c) for c in context))
        key = (0, 0, -m.start()) if first else (hits, len(words), -m.start())
        if best is None or key > best:
            best, best_name = key, name
    return best_name



# A title, optionally after nationality-style adjectives: "Mongolian President", "Mr.".
_TITLES = re.compile(r"^(?:(?:[A-Z][a-z]+(?:ian|an|ese|ish|ch|i)|U\.S\.|Former|Prime|Vice|Foreign|Deputy|The)\s+)*"
                     r"(?:President|Minister|Spokesman|Spokesperson|Leader|Chancellor|King|Queen|General"
                     r"|Mr\.?|Mrs\.?|Ms\.?|Dr\.?)\s+")


def _strip_titles(name: str) -> str:
    return _TITLES.sub("", name, count=1).strip()
