"""Resumable embedding: vectors computed by a build that has not finished yet, kept on disk.

A build embeds new texts batch by batch; each batch is appended to the index folder's
``.pending/`` journal as it is computed. A build killed halfway (Ctrl-C, OOM, a crash)
leaves the journal behind, and the next build takes every vector it holds for the same
embedding model instead of computing it again, so a long first build continues where it
stopped. The live index is never touched by the journal: it is only read by builds, and
removed once a build has saved its generation.

Layout (safe formats only, every file written to a temporary name and then renamed)::

    .pending/journal.json        {"fingerprint": model weights hash, "dim": vector width}
    .pending/batch-<n>.npy       float32 vectors of one batch (allow_pickle=False)
    .pending/batch-<n>.json      the texts' hashes, in row order (written after the .npy)

A batch counts only when its ``.json`` exists and its row count matches the ``.npy``; a
journal for another model or width is discarded.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)
FOLDER = ".pending"


class Journal:
    """The pending vectors of one index folder for one embedder (``fingerprint``, ``dim``)."""

    def __init__(self, index_dir: Path, fingerprint: str, dim: int) -> None:
        self.folder = Path(index_dir) / FOLDER
        self.header = {"fingerprint": str(fingerprint), "dim": int(dim)}
        self._next = 0

    def load(self) -> dict[str, np.ndarray]:
        """Vectors by text hash from earlier, unfinished builds ({} when there are none).

        A journal written for another model is removed; a batch whose files are incomplete
        or unreadable is skipped (its texts are embedded again)."""
        if not self.folder.is_dir() or self.folder.is_symlink():
            return {}
        try:
            header = json.loads((self.folder / "journal.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            header = None
        if header != self.header:
            log.warning("discarding %s: it holds vectors of another embedding model or an unreadable header",
                        self.folder)
            self.clear()
            return {}
        vectors: dict[str, np.ndarray] = {}
        numbers = []
        for keys_file in sorted(self.folder.glob("batch-*.json")):
            number = keys_file.stem.removeprefix("batch-")
            try:
                keys = json.loads(keys_file.read_text(encoding="utf-8"))
                matrix = np.load(self.folder / f"batch-{number}.npy", allow_pickle=False)
                ok = (isinstance(keys, list) and matrix.ndim == 2 and matrix.shape == (len(keys), self.header["dim"])
                      and matrix.dtype == np.float32 and np.isfinite(matrix).all())
            except (OSError, ValueError):
                ok = False
            if not ok:
                log.warning("skipping the damaged batch %s of %s; its texts will be embedded again",
                            keys_file.name, self.folder)
                continue
            vectors.update(zip(keys, matrix))
            numbers.append(int(number) if number.isdigit() else 0)
        self._next = max(numbers, default=-1) + 1
        if vectors:
            log.info("resuming: %d vectors from an unfinished build in %s", len(vectors), self.folder)
        return vectors

    def append(self, keys: list[str], matrix: np.ndarray) -> None:
        """Record one computed batch (vectors first, then its keys: the keys file commits it)."""
        if not keys:
            return
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.shape != (len(keys), self.header["dim"]):
            raise ValueError(f"batch of {len(keys)} keys has vectors of shape {matrix.shape}")
        if not (self.folder / "journal.json").exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.folder / "journal.json", json.dumps(self.header).encode("utf-8"))
        name = f"batch-{self._next:06d}"
        self._next += 1
        tmp = self.folder / f".{name}.{uuid.uuid4().hex}.npy"
        with open(tmp, "wb") as fh:
            np.save(fh, matrix, allow_pickle=False)
        os.replace(tmp, self.folder / f"{name}.npy")
        _write_atomic(self.folder / f"{name}.json", json.dumps(keys).encode("utf-8"))

    def clear(self) -> None:
        """Remove the journal (a build saved its generation, or the journal is unusable)."""
        if self.folder.is_symlink():
            self.folder.unlink(missing_ok=True)
        else:
            shutil.rmtree(self.folder, ignore_errors=True)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
