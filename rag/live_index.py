"""The live index of one corpus: load it, notice when the corpus changed, swap in updates.

``live_index(config)`` returns one ``LiveIndex`` per (corpus, index, model, chunking) per
process, shared by all threads. ``snapshot()`` hands out an immutable ``Snapshot`` (index
data + term statistics); a question takes one snapshot and uses it from retrieval to the
Answer, while an update builds the next one and swaps it in as a whole.

Readers never wait for a build. While one runs (``update()``, a background update, or a
build in another process holding the index folder's file lock, which only writers take)
they get the live snapshot, and ``status()`` says "index updating: 40%". Every
``Config.stale_check_seconds``, ``snapshot()`` looks at the corpus folder (in a background
thread; with 0, on every call before it returns): when the corpus changed, or the index was
built with other chunking settings, the update runs in a background thread, and the
snapshot it has is returned meanwhile. Only when there is no index
it can answer from (none yet, damaged, another embedding model or corpus folder) does the
caller wait while one is built.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .embedding import load_embedder
from .errors import CorpusError, IndexCorruptError, RagError
from .evidence import TermStats
from .indexer import IndexReport, Progress, build_index, corpus_state, incompatibility, load_index, model_settings
from .store import IndexData
from .types import Embedder

log = logging.getLogger(__name__)
# Share of a build's time per indexer stage, as (start %, end %): embedding dominates.
_STAGE_SPANS = {"reading": (0, 5), "segmenting": (5, 30), "embedding": (30, 95), "writing": (95, 100)}


@dataclass(frozen=True)
class Snapshot:
    """An index and the statistics derived from it, swapped as one."""

    data: IndexData
    stats: TermStats


class LiveIndex:
    """The current Snapshot of one corpus/index/model, kept up to date with the corpus."""

    def __init__(self, config: Config, embedder: Embedder | None = None) -> None:
        self.config = config
        self.embedder = embedder or load_embedder(config.model, config.batch_size, config.encoder)
        self._snapshot: Snapshot | None = None
        self._checked = 0.0  # time.monotonic() of the last look at the corpus folder
        self._swapping = threading.Lock()  # swapping a snapshot in; held while the first one loads
        self._writer = threading.Lock()  # one build at a time; held for the build, never by readers
        self._starting = threading.Lock()  # starting the background updater
        self._updater: threading.Thread | None = None
        self._looker: threading.Thread | None = None  # a look at the corpus folder (snapshot())
        self._progress: tuple[str, int, int] | None = None  # (stage, done, total) of the running build
        self.last_report: IndexReport | None = None

    def snapshot(self) -> Snapshot:
        """The live index. A stale one is returned as it is while a background thread updates
        it; only when there is none to answer from does this wait for a build."""
        snap = self._snapshot
        if snap is None:
            return self._first_snapshot()
        interval = self.config.stale_check_seconds
        if time.monotonic() - self._checked >= interval:
            if interval <= 0:  # every call looks at the folder first
                stale = self._is_stale(snap.data)  # CorpusError when the folder is gone
                self._checked = time.monotonic()
                if stale:
                    self.update_in_background()
            else:
                self._checked = time.monotonic()
                self._look_in_background()
        return snap

    def _look_in_background(self) -> None:
        """Look at the corpus folder for changes in a daemon thread (and update if it changed):
        listing and statting 17,528 files took 0.05-0.13 s of whichever question was due."""
        with self._starting:
            busy = [t for t in (self._looker, self._updater) if t is not None and t.is_alive()]
            if busy:
                return
            self._looker = threading.Thread(target=self._look, name="newsdesk-corpus-check", daemon=True)
            self._looker.start()

    def _look(self) -> None:
        try:
            snap = self._snapshot
            if snap is not None and self._is_stale(snap.data):
                self.update_in_background()
        except Exception as exc:  # noqa: BLE001 - a vanished folder, a race with a build: the next look retries
            log.warning("looking for changes in the corpus folder %r failed; questions are answered from the "
                        "index as it is: %s", str(self.config.corpus_dir), exc)

    def status(self) -> str | None:
        """'index updating: 40%' while this process builds the next index, else None."""
        progress = self._progress
        return None if progress is None else f"index updating: {percent_done(*progress)}%"

    def update(self, *, rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
        """Bring the index up to date with the corpus (incrementally unless ``rebuild``).

        Waits for a build already running in this process (or, through the file lock, in
        another); questions meanwhile are answered from the live snapshot."""
        with self._writer:
            return self._build(rebuild, progress)

    def update_in_background(self) -> None:
        """Start updating the index in a daemon thread, unless one is at it already; from
        now until it is done, ``status()`` says so."""
        with self._starting:
            if self._updater is not None and self._updater.is_alive():
                return
            if self._progress is None:
                self._progress = ("reading", 0, 0)
            self._updater = threading.Thread(target=self._update_if_stale, name="newsdesk-index-update",
                                             daemon=True)
            self._updater.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background look at the corpus and the update it may start to finish;
        True when none is running."""
        done = True
        for attribute in ("_looker", "_updater"):  # the updater after the look that may start it
            thread = getattr(self, attribute)
            if thread is not None:
                thread.join(timeout)
                done = done and not thread.is_alive()
        return done

    def _update_if_stale(self) -> None:
        try:
            with self._writer:  # an update() may have run meanwhile: look again
                try:
                    if self._snapshot is None or self._is_stale(self._snapshot.data):
                        self._build(False, None)
                finally:
                    self._progress = None
        except Exception as exc:  # noqa: BLE001 - the live snapshot stays; the next check retries
            log.warning("updating the index in %r in the background failed; questions are answered from the "
                        "previous index: %s", str(self.config.index_dir), exc,
                        exc_info=not isinstance(exc, (RagError, OSError)))

    def _build(self, rebuild: bool, progress: Progress | None) -> IndexReport:
        """Build the next index and swap it in; the caller holds ``_writer``."""
        def track(stage: str, done: int, total: int) -> None:
            self._progress = (stage, done, total)
            if progress is not None:
                progress(stage, done, total)

        self._progress = ("reading", 0, 0)
        try:
            previous = self._snapshot.data if self._snapshot and not rebuild else None
            data, report = build_index(self.config, self.embedder, rebuild=rebuild,
                                       progress=track, previous=previous)
            with self._swapping:
                self._swap(data)
            self.last_report = report
            return report
        finally:
            self._progress = None

    def _first_snapshot(self) -> Snapshot:
        """No snapshot yet: the index on disk when it can answer (updated in the background
        if stale), else one built now, which the caller waits for."""
        with self._swapping:
            if self._snapshot is None and (data := self._load_answerable()) is not None:
                self._swap(data)
                if self._is_stale(data):
                    self.update_in_background()
            if self._snapshot is not None:
                return self._snapshot
        with self._writer:
            if self._snapshot is None:
                self._build(False, None)
            return self._snapshot

    def _swap(self, data: IndexData) -> None:
        self._snapshot = Snapshot(data, TermStats(data))
        self._checked = time.monotonic()

    def _load_answerable(self) -> IndexData | None:
        """The index on disk if questions can be answered from it (perhaps stale), else None.

        Damaged (IndexCorruptError) counts as none: the build that follows says why."""
        for _ in range(2):  # another process may swap generations while we read
            try:
                data = load_index(self.config)
                break
            except IndexCorruptError:
                time.sleep(0.05)
        else:
            return None
        if data is None:
            return None
        same_model = all(data.manifest.get(k) == v for k, v in model_settings(self.embedder).items())
        return data if same_model and data.manifest.get("corpus_dir") == self._corpus() else None

    def _is_stale(self, data: IndexData) -> bool:
        """True when ``data`` is not the index of the corpus as it is now, with these settings."""
        if self._corpus() != data.manifest.get("corpus_dir"):
            return True
        if not Path(self.config.corpus_dir).is_dir():
            raise CorpusError(f"corpus folder {str(self.config.corpus_dir)!r} does not exist or is not a folder")
        return (corpus_state(self.config.corpus_dir) != data.manifest.get("corpus_state")
                or incompatibility(data.manifest, self.config, self.embedder) is not None)

    def _corpus(self) -> str:
        return str(Path(self.config.corpus_dir).resolve())


def percent_done(stage: str, done: int, total: int) -> int:
    """How far a build is, in whole percent, from the indexer's Progress (stage, done, total).

    >>> percent_done("reading", 0, 0), percent_done("segmenting", 50, 100), percent_done("writing", 1, 1)
    (0, 17, 100)
    """
    low, high = _STAGE_SPANS.get(stage, (0, 0))
    share = min(max(done / total, 0.0), 1.0) if total else 0.0
    return int(low + (high - low) * share)


_live: dict[tuple, LiveIndex] = {}
_live_lock = threading.Lock()


def index_key(config: Config) -> tuple:
    """What identifies an index: corpus, index folder (or database and name), model and chunking."""
    return (str(Path(config.corpus_dir).resolve()), str(Path(config.index_dir).resolve()), config.database_url,
            config.database_index, config.model, config.chunk_sentences, config.chunk_overlap, config.chunk_vectors)


def live_index(config: Config) -> LiveIndex:
    """The shared LiveIndex for this config's corpus, index, model and chunking."""
    key = index_key(config)
    with _live_lock:
        live = _live.get(key)
        if live is None:
            live = _live[key] = LiveIndex(config)
        return live


def forget_live_indexes(timeout: float = 60.0) -> None:
    """Forget every loaded index (tests; after deleting an index folder by hand), after
    letting their background updates finish (up to ``timeout`` seconds each)."""
    with _live_lock:
        forgotten = list(_live.values())
        _live.clear()
    for live in forgotten:
        live.wait(timeout)


def forget_live_index(config: Config, timeout: float = 60.0) -> None:
    """Forget the loaded index of this config (its folders are about to be deleted), after
    letting its background update finish (up to ``timeout`` seconds)."""
    with _live_lock:
        live = _live.pop(index_key(config), None)
    if live is not None:
        live.wait(timeout)
