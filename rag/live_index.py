"""The live index of one corpus: load it, notice when the corpus changed, swap in updates.

``live_index(config)`` returns one ``LiveIndex`` per (corpus, index, model, chunking) per
process, shared by all threads. ``snapshot()`` hands out an immutable ``Snapshot`` (index
data + term statistics); a question takes one snapshot and uses it from retrieval to the
Answer, while an update builds the next one and swaps it in as a whole.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import store
from .config import Config
from .embedding import load_embedder
from .errors import CorpusError, IndexCorruptError
from .evidence import TermStats
from .indexer import IndexReport, Progress, build_index, corpus_state, is_compatible
from .store import IndexData
from .types import Embedder


@dataclass(frozen=True)
class Snapshot:
    """An index and the statistics derived from it, swapped as one."""

    data: IndexData
    stats: TermStats


class LiveIndex:
    """The current Snapshot of one corpus/index/model, kept up to date with the corpus."""

    def __init__(self, config: Config, embedder: Embedder | None = None) -> None:
        self.config = config
        self.embedder = embedder or load_embedder(config.model, config.batch_size)
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self.last_report: IndexReport | None = None

    def snapshot(self) -> Snapshot:
        """The current index, loading, building or updating it when needed."""
        snap = self._snapshot
        if snap is not None and time.monotonic() - self._checked < self.config.stale_check_seconds:
            return snap
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self._load_or_build()
            elif self._is_stale(self._snapshot.data):
                self.update()
            self._checked = time.monotonic()
            return self._snapshot

    def update(self, *, rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
        """Bring the index up to date with the corpus (incrementally unless ``rebuild``)."""
        with self._lock:
            previous = self._snapshot.data if self._snapshot and not rebuild else None
            data, report = build_index(self.config, self.embedder, rebuild=rebuild,
                                       progress=progress, previous=previous)
            self._snapshot = Snapshot(data, TermStats(data))
            self._checked = time.monotonic()
            self.last_report = report
            return report

    def _load_or_build(self) -> Snapshot:
        data = None
        for _ in range(2):  # another process may swap generations while we read
            try:
                data = store.load(self.config.index_dir)
                break
            except IndexCorruptError:
                time.sleep(0.05)
        if data is None or not is_compatible(data.manifest, self.config, self.embedder) or self._is_stale(data):
            data, self.last_report = build_index(self.config, self.embedder, previous=data)
        return Snapshot(data, TermStats(data))

    def _is_stale(self, data: IndexData) -> bool:
        if str(Path(self.config.corpus_dir).resolve()) != data.manifest.get("corpus_dir"):
            return True
        if not Path(self.config.corpus_dir).is_dir():
            raise CorpusError(f"corpus folder {str(self.config.corpus_dir)!r} does not exist or is not a folder")
        return corpus_state(self.config.corpus_dir) != data.manifest.get("corpus_state")


_live: dict[tuple, LiveIndex] = {}
_live_lock = threading.Lock()


def index_key(config: Config) -> tuple:
    """What identifies an index: corpus, index folder, model and chunking."""
    return (str(Path(config.corpus_dir).resolve()), str(Path(config.index_dir).resolve()), config.model,
            config.chunk_sentences, config.chunk_overlap, config.chunk_vectors)


def live_index(config: Config) -> LiveIndex:
    """The shared LiveIndex for this config's corpus, index, model and chunking."""
    key = index_key(config)
    with _live_lock:
        live = _live.get(key)
        if live is None:
            live = _live[key] = LiveIndex(config)
        return live


def forget_live_indexes() -> None:
    """Forget every loaded index (tests; after deleting an index folder by hand)."""
    with _live_lock:
        _live.clear()
