"""Find an article's title, outlet, publication date, author and URL.

Each field is taken from the first of these that has it:

1. the sidecar ``<file>.meta.json`` the user wrote (``SIDECAR_KEYS`` only: a misspelt key
   or a date that is not a date is an error naming the file, never silently ignored);
2. what the file itself says: a web page's meta tags and JSON-LD ``NewsArticle`` (read by
   trafilatura in ``rag.corpus``), a PDF's document info (pypdf), a Markdown file's YAML
   front matter, a Markdown ``#`` heading or a plain-text headline line;
3. the first sentence of the text as the title (no article is titled from its file name
   unless it has no sentence at all).

>>> meta = front_matter("---\\ntitle: Putin lands\\ndate: 2024-09-02\\nlayout: post\\n---\\nHe landed.")
>>> meta.fields["title"], meta.fields["published"], meta.end
('Putin lands', datetime.date(2024, 9, 2), 57)
>>> title_from_sentence("Putin arrived in Mongolia on Monday. He met the president.")
'Putin arrived in Mongolia on Monday.'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from .config import parse_date
from .errors import CorpusError
from .segment import split_sentences

META_SUFFIX = ".meta.json"
# The sidecar's keys, with what each holds (the README's "Article metadata" table).
SIDECAR_KEYS = {
    "title": "the headline",
    "outlet": "who published it (e.g. 'The Associated Press'); sources are counted by outlet",
    "published": "publication date, ISO 8601 ('2024-09-02'; a time part is ignored)",
    "url": "where the article was published",
    "author": "the byline",
}
TITLE_CHARS = 120  # a first sentence longer than this is cut at a word and ends with "…"
# Front matter is written for site generators (Jekyll, Hugo, Obsidian) whose own names for
# the same fields are these; any other key (layout, tags, draft ...) belongs to them.
_FRONT_MATTER_KEYS = {"title": "title", "outlet": "outlet", "publisher": "outlet", "source": "outlet",
                      "published": "published", "date": "published", "url": "url", "link": "url",
                      "author": "author", "authors": "author"}
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(\r?\n|\Z)", re.DOTALL)
# Titles that PDF writers fill in by themselves ("Microsoft Word - draft.docx", "untitled"):
# they name the tool or the file, never the article.
_MACHINE_TITLE = re.compile(r"^(microsoft \w+ - |untitled\b)|\.(docx?|odt|rtf|pdf|pages|txt|indd)$",
                            re.IGNORECASE)


@dataclass(frozen=True)
class FrontMatter:
    """The fields of a Markdown file's front matter and where the block ends in the text."""

    fields: dict = field(default_factory=dict)
    end: int = 0  # text[:end] is the front matter block (0: there is none)


def read_sidecar(name: str, raw: bytes) -> dict:
    """The fields of a sidecar file (bytes ``raw``, file ``name``), checked: a JSON object of
    ``SIDECAR_KEYS`` whose values are text or null, and a ``published`` that is a date.

    >>> read_sidecar("a.txt.meta.json", b'{"title": "Putin lands", "published": "2024-09-02"}')
    {'title': 'Putin lands', 'published': datetime.date(2024, 9, 2)}
    >>> read_sidecar("a.txt.meta.json", b'{"titel": "Putin lands"}')
    Traceback (most recent call last):
    ...
    rag.errors.CorpusError: metadata file 'a.txt.meta.json' has unknown key 'titel'; \
the keys are author, outlet, published, title, url
    """
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorpusError(f"metadata file {name!r} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise CorpusError(f"metadata file {name!r} must hold a JSON object")
    for key, value in meta.items():
        if key not in SIDECAR_KEYS:
            raise CorpusError(f"metadata file {name!r} has unknown key {key!r}; "
                              f"the keys are {', '.join(sorted(SIDECAR_KEYS))}")
        if value is not None and not isinstance(value, str):
            raise CorpusError(f"metadata file {name!r}: {key} must be text, got {value!r}")
    fields = {key: value.strip() for key, value in meta.items() if value and value.strip()}
    if "published" in fields:
        fields["published"] = parse_date(fields["published"], f"metadata file {name!r}: published",
                                         CorpusError)
    return fields


def front_matter(text: str) -> FrontMatter:
    """The known fields of a YAML front matter block at the start of a Markdown text.

    A block that is not valid YAML, or not a mapping, is not front matter (returns none);
    an unparseable date is left out rather than guessed.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return FrontMatter()
    import yaml  # only Markdown articles with front matter pay for the import

    try:
        data = yaml.safe_load(match.group(1) or "")
    except yaml.YAMLError:
        return FrontMatter()
    if not isinstance(data, dict):
        return FrontMatter()
    fields: dict = {}
    for key, value in data.items():
        name = _FRONT_MATTER_KEYS.get(str(key).lower())
        if name is None or name in fields or value in (None, ""):
            continue
        if name == "published":
            value = as_date(value)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value if v)
        if value:
            fields[name] = value if isinstance(value, date) else str(value).strip()
    return FrontMatter(fields, match.end())


def pdf_fields(info) -> dict:
    """Title, author and date from a PDF's document information (pypdf ``reader.metadata``).

    The creation date stands in for the publication date (override it in a sidecar); a title
    the writing program filled in ("Microsoft Word - draft.docx") is not a title.
    """
    if not info:
        return {}
    fields = {"title": _text(info.title), "author": _text(info.author)}
    if fields["title"] and _MACHINE_TITLE.search(fields["title"]):
        fields["title"] = None
    try:
        created = info.creation_date
    except (ValueError, TypeError):  # a malformed /CreationDate string
        created = None
    fields["published"] = created.date() if created else None
    return {key: value for key, value in fields.items() if value}


def html_fields(extracted) -> dict:
    """Title, outlet, date, author and URL that trafilatura read from a page's meta tags and
    JSON-LD (``extracted`` is its Document); the site's host name stands in for a missing
    site name, so two pages of one site count as one outlet."""
    if extracted is None:
        return {}
    fields = {"title": _text(extracted.title), "outlet": _text(extracted.sitename) or _text(extracted.hostname),
              "published": as_date(extracted.date), "author": _text(extracted.author),
              "url": _text(extracted.url)}
    return {key: value for key, value in fields.items() if value}


def title_from_sentence(text: str, junk: tuple[tuple[int, int], ...] = ()) -> str | None:
    """The first sentence of ``text`` outside the ``junk`` spans, cut to ``TITLE_CHARS``.

    The segmenter reads a window of twice the title length at a time (18 ms for 4,000
    characters, a build of 17,500 articles would pay minutes), moving on past junk."""
    start, limit = 0, min(len(text), 4000)
    while start < limit:
        end = min(len(text), start + 2 * TITLE_CHARS)
        for s, e in split_sentences(text, start, end):
            if any(js < e and s < je for js, je in junk) or not any(c.isalpha() for c in text[s:e]):
                continue  # boilerplate, or a rule such as "---"
            if e == end < len(text) and e - s < TITLE_CHARS and s > start:
                start = s  # cut by the window: read it again from its start
                break
            sentence = " ".join(text[s:e].split())
            if len(sentence) <= TITLE_CHARS:
                return sentence
            return sentence[:TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "\u2026"
        else:
            start = end
    return None


def _text(value) -> str | None:
    return " ".join(str(value).split()) or None if value else None


def as_date(value) -> date | None:
    """A date from YAML/trafilatura values: a date, a datetime or ISO text; else None."""
    if isinstance(value, datetime):
        return value.date()
    try:
        return parse_date(value, "date", CorpusError)
    except CorpusError:
        return None
