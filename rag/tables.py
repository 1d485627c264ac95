"""The sentence and chunk tables of an index: int64 rows over the articles' texts, read as
``Sentence`` and ``Chunk`` records when asked for.

A table is what the index files hold (``sentences.npy``: article, start, end; ``chunks.npy``:
article, start, end, first sentence, sentence count), with the articles beside it. A record
is made when a question reads it (a few dozen per question), not for the whole archive: at
17,528 articles, making 60,000 sentence and 20,000 chunk records took about a second of every
load, and renumbering them a second of every re-index; copying rows is a NumPy gather.

>>> from rag.types import Document
>>> docs = (Document(source="a.txt", text="One.  Two. Three.", title="A"),)
>>> sentences = SentenceTable(docs, [[0, 0, 4], [0, 6, 10], [0, 11, 17]])
>>> sentences[1]
Sentence(id=1, source='a.txt', start=6, end=10, text='Two.')
>>> chunks = ChunkTable(sentences, [[0, 0, 10, 0, 2], [0, 6, 17, 1, 2]])
>>> chunks[0].text, chunks[1].sentence_ids
('One. Two.', (1, 2))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .types import Chunk, Document, Sentence

SENTENCE_COLUMNS = 3  # article, start, end
CHUNK_COLUMNS = 5  # article, start, end, first sentence, number of sentences


def _frozen(rows, width: int) -> np.ndarray:
    table = np.array(rows, dtype=np.int64).reshape(-1, width)  # a copy: the caller's array stays theirs
    table.flags.writeable = False
    return table


class _Table(Sequence):
    """Rows of one width, grouped by article (column 0); item i is the record of row i."""

    __slots__ = ("rows",)
    docs: tuple[Document, ...]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = _index(i, len(self))
        return self._record(i, *self.rows[i].tolist())

    def __iter__(self):
        for i, row in enumerate(self.rows.tolist()):
            yield self._record(i, *row)

    def __eq__(self, other) -> bool:
        if type(other) is type(self):  # a chunk table's texts also depend on its sentence rows
            return (self.docs == other.docs and np.array_equal(self.rows, other.rows)
                    and getattr(self, "sentences", None) == getattr(other, "sentences", None))
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} rows over {len(self.docs)} articles)"

    def _record(self, i: int, *row: int):
        raise NotImplementedError

    @property
    def articles(self) -> np.ndarray:
        """The article number (position in ``docs``) of every row."""
        return self.rows[:, 0]

    def source(self, i: int) -> str:
        """The article of row ``i`` (no record made)."""
        return self.docs[int(self.rows[i, 0])].source

    def article_rows(self) -> np.ndarray:
        """Where each article's rows start, and one past the last row: article k is
        ``rows[bounds[k]:bounds[k + 1]]``."""
        return article_bounds(self.articles, len(self.docs))


class SentenceTable(_Table):
    """Sentence i of the index is ``docs[rows[i, 0]].text[rows[i, 1]:rows[i, 2]]``; rows of
    one article are consecutive, articles in ``docs`` order (as every build writes them)."""

    __slots__ = ("docs",)

    def __init__(self, docs: Sequence[Document], rows) -> None:
        self.docs = tuple(docs)
        self.rows = _frozen(rows, SENTENCE_COLUMNS)

    @classmethod
    def of(cls, docs: Sequence[Document], sentences: Sequence[Sentence]) -> SentenceTable:
        """The table of ``sentences`` (records numbered 0, 1, ... over ``docs``)."""
        article = {d.source: i for i, d in enumerate(docs)}
        return cls(docs, [(article[s.source], s.start, s.end) for s in sentences])

    def _record(self, i: int, a: int, start: int, end: int) -> Sentence:
        doc = self.docs[a]
        return Sentence(i, doc.source, start, end, doc.text[start:end])

    def text(self, i: int) -> str:
        """The text of sentence ``i`` (no record made)."""
        a, start, end = self.rows[i].tolist()
        return self.docs[a].text[start:end]


class ChunkTable(_Table):
    """Chunk i is sentences ``rows[i, 3]`` .. ``rows[i, 3] + rows[i, 4] - 1`` of ``sentences``
    (a window of consecutive sentences of one article), text joined by single spaces."""

    __slots__ = ("sentences",)

    def __init__(self, sentences: SentenceTable, rows) -> None:
        self.sentences = sentences
        self.rows = _frozen(rows, CHUNK_COLUMNS)

    @property
    def docs(self) -> tuple[Document, ...]:
        return self.sentences.docs

    @classmethod
    def of(cls, sentences: SentenceTable, chunks: Sequence[Chunk]) -> ChunkTable:
        """The table of ``chunks`` (records numbered 0, 1, ...; each a run of consecutive sentences)."""
        article = {d.source: i for i, d in enumerate(sentences.docs)}
        rows = []
        for c in chunks:
            ids = c.sentence_ids
            if ids and tuple(ids) != tuple(range(ids[0], ids[0] + len(ids))):
                raise ValueError(f"chunk {c.id} of {c.source!r} holds sentences {ids}, not consecutive ones")
            rows.append((article[c.source], c.start, c.end, ids[0] if ids else 0, len(ids)))
        return cls(sentences, rows)

    def _record(self, i: int, a: int, start: int, end: int, first: int, count: int) -> Chunk:
        ids = tuple(range(first, first + count))
        text = " ".join(" ".join(self.sentences.text(j).split()) for j in ids)
        return Chunk(i, self.docs[a].source, start, end, ids, text)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(first, last) sentence id of every chunk."""
        first = self.rows[:, 3]
        return first, first + self.rows[:, 4] - 1


def check_tables(sentences: SentenceTable, chunks: ChunkTable) -> None:
    """ValueError when a row points outside its article's text or its sentence table (a
    record would otherwise be cut from the wrong place when a question reads it): what a
    backend checks after reading tables it did not just make."""
    rows, lengths = sentences.rows, np.array([len(d.text) for d in sentences.docs], dtype=np.int64)
    sentences.article_rows()  # grouped by article, articles in range
    if len(rows) and (np.any(rows[:, 1] < 0) or np.any(rows[:, 2] < rows[:, 1]) or np.any(rows[:, 2] > lengths[rows[:, 0]])):
        raise ValueError("a sentence row holds a span outside its article's text")
    first, last = chunks.bounds()
    crows = chunks.rows
    if len(crows) and (np.any(crows[:, 4] < 1) or np.any(first < 0) or np.any(last >= len(rows))
                       or np.any(sentences.articles[first] != crows[:, 0]) or np.any(sentences.articles[last] != crows[:, 0])):
        raise ValueError("a chunk row holds a window outside its article's sentences")


def article_bounds(articles: np.ndarray, n_articles: int) -> np.ndarray:
    """Row bounds per article of rows grouped by article in ascending order (ValueError
    otherwise): article k owns rows ``bounds[k]:bounds[k + 1]``.

    >>> article_bounds(np.array([0, 0, 2]), 3).tolist()
    [0, 2, 2, 3]
    """
    if len(articles) and (np.any(np.diff(articles) < 0) or articles[0] < 0 or articles[-1] >= n_articles):
        raise ValueError(f"table rows are not grouped by article 0..{n_articles - 1} in order")
    return np.searchsorted(articles, np.arange(n_articles + 1), side="left").astype(np.int64)


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of ``range(starts[i], ends[i])`` for every i, without a Python loop.

    >>> ranges(np.array([5, 0]), np.array([7, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    lengths = ends - starts
    if not len(lengths):
        return np.zeros(0, dtype=np.int64)
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)


def _index(i, n: int) -> int:
    i = int(i)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"row {i} is out of range for a table of {n}")
    return i


def copy_rows(source: np.ndarray, rows: np.ndarray, target: np.ndarray, to: np.ndarray) -> None:
    """``target[to] = source[rows]``, a block copy per run of consecutive rows on both sides
    (a re-index copies the vectors of unchanged articles in a few long runs: 92 MB gathered
    and scattered row by row took 0.08 s at 17.5k articles).

    >>> target = np.zeros(6, dtype=int)
    >>> copy_rows(np.arange(10, 16), np.array([0, 1, 2, 5]), target, np.array([1, 2, 3, 0]))
    >>> target.tolist()
    [15, 10, 11, 12, 0, 0]
    """
    rows, to = np.asarray(rows, dtype=np.int64), np.asarray(to, dtype=np.int64)
    if not len(rows):
        return
    breaks = np.flatnonzero((np.diff(rows) != 1) | (np.diff(to) != 1)) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(rows)]])
    if len(starts) > len(rows) // 8:  # scattered: one fancy-indexed copy is faster
        target[to] = source[rows]
        return
    for a, b in zip(starts.tolist(), ends.tolist()):
        target[to[a]:to[a] + (b - a)] = source[rows[a]:rows[a] + (b - a)]
