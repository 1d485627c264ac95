"""Vectors and articles on disk as packs: files that later generations share by hard link, so
a re-index writes the vectors and text of the articles that changed, not the archive's.

A generation holding its ``kind`` of rows ("sentence" or "chunk" vectors, "document" rows) in
packs has

    <kind>-vectors-<tag>.npy    float32 [rows, dim]: vectors, in the order they were written
    documents-<tag>.jsonl       one article per line (store's row: metadata, junk spans, text)
    <kind>_vector_rows.npy      int64 [n, 2]: (pack number, row in that pack) of row i
    document_rows.npy           (named ``rows_file(kind)``)

and its manifest lists the packs in order (``"packs": {kind: [[file name, rows], ...]}``).
Saving after a re-index links the previous generation's packs that still hold a live
row into the new folder (no byte copied, checksums carried over) and writes one new pack
with the rows of what changed. Rows of removed or edited articles stay in their old pack
as dead rows until the packs are rewritten as one: when more than half their rows are dead
or there are ``MAX_PACKS`` of them (so a load reads at most twice the live rows). Where
the file system refuses hard links, everything is written afresh, as the first save is.

Measured at 17,528 NQ paragraphs (60k sentence and 26k chunk vectors, 154 MB; 69 MB of
text), one article changed, in process: a save wrote, hashed and synced all of them
(sentences.faiss + chunk_vectors.npy); with vector packs the re-index went from 1.12-1.24 s
to 0.81-0.83 s; writing documents.jsonl whole was then 0.11 s of the 0.5-0.6 s left.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VECTOR_KINDS = ("sentence", "chunk")
KINDS = (*VECTOR_KINDS, "document")
MAX_PACKS = 8
MAX_DEAD_SHARE = 0.5
_PACK_NAME = re.compile(r"^((sentence|chunk)-vectors-[0-9a-f]{12}\.npy|documents-[0-9a-f]{12}\.jsonl)$")


@dataclass(frozen=True)
class Carried:
    """What a save may reuse of the live generation for one kind of vectors: its folder, its
    packs (``[[name, rows], ...]``) and checksums, where its vectors are (``rows``), and which
    of them the data being saved keeps: vector ``new[i]`` is the old vector ``old[i]``."""

    gen: Path
    packs: list
    checksums: dict[str, str]
    rows: np.ndarray
    new: np.ndarray
    old: np.ndarray


def rows_file(kind: str) -> str:
    return "document_rows.npy" if kind == "document" else f"{kind}_vector_rows.npy"


def _pack_name(kind: str) -> str:
    tag = uuid.uuid4().hex[:12]
    return f"documents-{tag}.jsonl" if kind == "document" else f"{kind}-vectors-{tag}.npy"


def write_packs(folder: Path, kind: str, vectors: np.ndarray, carried: Carried | None = None
                ) -> tuple[list, dict[str, str]]:
    """Write ``vectors`` (n, dim) into ``folder`` as packs: the carried ones linked, the rest in
    one new pack. Returns (the packs, in order, as the manifest lists them; {linked file:
    its checksum}, which need not be hashed again)."""
    def write(path: Path, missing: np.ndarray) -> None:
        np.save(path, np.ascontiguousarray(vectors[missing], dtype=np.float32), allow_pickle=False)
    return _write(folder, kind, len(vectors), write, carried)


def write_line_packs(folder: Path, kind: str, count: int, line: Callable[[int], bytes],
                     carried: Carried | None = None) -> tuple[list, dict[str, str]]:
    """Write ``count`` rows of ``kind`` as packs of lines, like ``write_packs``: ``line(i)``
    gives row i's bytes (one line, no newline), asked only for the rows not carried over."""
    def write(path: Path, missing: np.ndarray) -> None:
        with path.open("wb") as fh:
            fh.write(b"".join(line(i) + b"\n" for i in missing.tolist()))
    return _write(folder, kind, count, write, carried)


def _write(folder: Path, kind: str, count: int, write: Callable[[Path, np.ndarray], None],
           carried: Carried | None) -> tuple[list, dict[str, str]]:
    where = np.full((count, 2), -1, dtype=np.int64)
    packs, linked = _link_carried(folder, carried, where) if carried is not None else ([], {})
    missing = np.flatnonzero(where[:, 0] < 0)
    if len(missing) or not packs:
        name = _pack_name(kind)
        write(folder / name, missing)
        where[missing, 0] = len(packs)
        where[missing, 1] = np.arange(len(missing), dtype=np.int64)
        packs.append([name, int(len(missing))])
    np.save(folder / rows_file(kind), where, allow_pickle=False)
    return packs, linked


def _link_carried(folder: Path, carried: Carried, where: np.ndarray) -> tuple[list, dict[str, str]]:
    """Hard-link the carried packs that hold a kept vector and fill ``where`` for the kept
    vectors; ([], {}) when the packs should be rewritten (too many, too many dead rows) or
    cannot be linked."""
    if not len(carried.new):
        return [], {}
    used = np.unique(carried.rows[carried.old, 0])
    total = sum(int(carried.packs[p][1]) for p in used.tolist())
    if len(used) >= MAX_PACKS or len(carried.new) < (1 - MAX_DEAD_SHARE) * total:
        return [], {}
    names = [carried.packs[p][0] for p in used.tolist()]
    try:
        for name in names:
            os.link(carried.gen / name, folder / name)
    except OSError:  # no hard links here (or the old file went): write them afresh
        for name in names:
            (folder / name).unlink(missing_ok=True)
        return [], {}
    renumber = np.full(len(carried.packs), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used), dtype=np.int64)
    where[carried.new, 0] = renumber[carried.rows[carried.old, 0]]
    where[carried.new, 1] = carried.rows[carried.old, 1]
    return [list(carried.packs[p]) for p in used.tolist()], {name: carried.checksums[name] for name in names}


def read_rows(folder: Path, kind: str, packs: list) -> np.ndarray:
    """Where each vector of ``kind`` is: (pack number, row), checked against the packs."""
    where = np.load(folder / rows_file(kind), allow_pickle=False)
    if where.dtype != np.int64 or where.ndim != 2 or where.shape[1] != 2:
        raise ValueError(f"{rows_file(kind)} holds {where.dtype} {where.shape}, not int64 rows of 2")
    sizes = np.array([int(rows) for _, rows in packs] or [0], dtype=np.int64)
    if len(where) and (np.any(where[:, 0] < 0) or np.any(where[:, 0] >= len(packs))
                       or np.any(where[:, 1] < 0) or np.any(where[:, 1] >= sizes[np.minimum(where[:, 0], len(sizes) - 1)])):
        raise ValueError(f"{rows_file(kind)} points outside its packs")
    return where


def _check_listed(kind: str, packs: list) -> None:
    what = "articles" if kind == "document" else f"{kind} vectors"
    for entry in packs:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
                and _PACK_NAME.match(entry[0]) and entry[0].startswith(kind) and isinstance(entry[1], int)):
            raise ValueError(f"the manifest lists {entry!r} as a pack of {what}")


def read_line_packs(folder: Path, kind: str, packs: list) -> list[bytes]:
    """The rows of ``kind`` in order, each the bytes of its line, gathered from packs of lines
    (``write_line_packs``); ValueError naming what does not fit."""
    _check_listed(kind, packs)
    where = read_rows(folder, kind, packs)
    out: list[bytes] = [b""] * len(where)
    for p, (name, rows) in enumerate(packs):
        lines = (folder / name).read_bytes().split(b"\n")
        if len(lines) != rows + 1 or lines[-1]:
            raise ValueError(f"{name} holds {len(lines) - 1} lines, not {rows}")
        mine = np.flatnonzero(where[:, 0] == p)
        for target, source in zip(mine.tolist(), where[mine, 1].tolist()):
            out[target] = lines[source]
    return out


def read_packs(folder: Path, kind: str, packs: list, dim: int) -> np.ndarray:
    """The vectors of ``kind`` in order, float32 (n, dim), gathered from the packs; ValueError
    naming what does not fit."""
    _check_listed(kind, packs)
    where = read_rows(folder, kind, packs)
    out = np.empty((len(where), dim), dtype=np.float32)
    for p, (name, rows) in enumerate(packs):
        mine = np.flatnonzero(where[:, 0] == p)
        _read_rows_into(folder / name, rows, dim, where[mine, 1], out, mine)
    return out


def _read_rows_into(path: Path, rows: int, dim: int, source: np.ndarray, out: np.ndarray, target: np.ndarray) -> None:
    """``out[target] = pack[source]`` for the pack at ``path`` (float32 (rows, dim) .npy), read
    run by run straight into ``out``: no memory-mapped or whole copy of the pack beside the
    result (a mapped pack's pages counted twice in the serving process's peak memory: +83 MB
    at 10k Wikipedia articles)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = header(fh)
        if dtype != np.dtype("<f4") or fortran or shape != (rows, dim):
            raise ValueError(f"{path.name} holds {dtype} {shape}, not float32 ({rows}, {dim})")
        start, row_bytes = fh.tell(), dim * 4
        breaks = np.flatnonzero((np.diff(source) != 1) | (np.diff(target) != 1)) + 1
        for a, b in zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(source)].tolist()):
            if a == b:
                continue
            fh.seek(start + int(source[a]) * row_bytes)
            block = memoryview(out[int(target[a]):int(target[a]) + (b - a)]).cast("B")
            if fh.readinto(block) != len(block):
                raise ValueError(f"{path.name} ends before row {int(source[b - 1])}")


def pack_names(packs: dict) -> set[str]:
    """Every pack file a manifest's ``packs`` lists."""
    return {name for kind in KINDS for name, _ in packs.get(kind, [])}
