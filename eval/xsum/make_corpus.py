#!/usr/bin/env python3
"""Extract the second evaluation corpus: 200 BBC articles from BIG-bench ``gem/xsum``.

The articles are not committed (copyright): this script rebuilds them from the PyPI sdist
``bigbench==1.0.0``, which holds the task at
``bigbench-1.0.0/bigbench/benchmark_tasks/gem/xsum/task.json`` (1,001 examples; each
``input`` is one BBC article, ``comment`` is ``xsum-test-<list index>``). Only ``input``
is written; the one-sentence ``target`` summaries are not used.

Selection (deterministic): walk the examples in list order and keep the first 200 whose
article is 500 to 5,000 characters long (this skips 22 very short or very long ones and
ends at list index 221). The resulting indices are recorded below in ``EXPECTED`` and
checked, so a changed rule or data file fails loudly instead of silently changing the
corpus the questions were written against.

Output, one article per file, named by list index:
    xsum-0042.txt              the article text exactly as in the task, plus a final newline
    xsum-0042.txt.meta.json    {"title": <first line, shortened>, "outlet": "BBC"}

Usage (python standard library only):
    python eval/xsum/make_corpus.py [TARGET_DIR] [--sdist PATH]
TARGET_DIR defaults to eval/xsum/corpus/ (gitignored). If the sdist is missing it is
fetched with ``pip download --no-deps --no-binary :all: bigbench==1.0.0`` into
~/.cache/newsdesk-qa/data/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TARGET = HERE / "corpus"
CACHE_DIR = Path.home() / ".cache" / "newsdesk-qa" / "data"
SDIST_NAME = "bigbench-1.0.0.tar.gz"
REQUIREMENT = "bigbench==1.0.0"
MEMBER = "bigbench-1.0.0/bigbench/benchmark_tasks/gem/xsum/task.json"
TASK_SHA256 = "927d7a4c6ec326b79b41537538ac49525541a32e1e5bc0787bea3f2879ca8fb9"

COUNT = 200
MIN_CHARS, MAX_CHARS = 500, 5000
# List indices skipped by the length rule (all others in 0..221 are kept).
SKIPPED = (1, 7, 11, 13, 20, 26, 40, 47, 57, 65, 96, 104, 117, 119, 122, 125, 175, 195, 201,
           202, 217, 220)
EXPECTED = tuple(i for i in range(222) if i not in SKIPPED)
OUTLET = "BBC"
TITLE_MAX = 110


def ensure_sdist(path: Path | None) -> Path:
    if path is not None:
        if not path.is_file():
            sys.exit(f"make_corpus: sdist {str(path)!r} does not exist")
        return path
    sdist = CACHE_DIR / SDIST_NAME
    if not sdist.is_file():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        print(f"downloading {REQUIREMENT} (≈360 MB) to {CACHE_DIR} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                        "--no-binary", ":all:", REQUIREMENT, "-d", str(CACHE_DIR)], check=True)
        if not sdist.is_file():
            sys.exit(f"make_corpus: pip finished but {str(sdist)!r} is missing")
    return sdist


def read_task(sdist: Path) -> dict:
    with tarfile.open(sdist, "r:gz") as tar:
        handle = tar.extractfile(MEMBER)
        if handle is None:
            sys.exit(f"make_corpus: {MEMBER!r} is not a regular file in {sdist.name}")
        raw = handle.read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != TASK_SHA256:
        sys.exit(f"make_corpus: {MEMBER} has sha256 {digest}, expected {TASK_SHA256}")
    return json.loads(raw.decode("utf-8"))


def select(examples: list[dict]) -> list[int]:
    chosen = [i for i, ex in enumerate(examples)
              if MIN_CHARS <= len(ex["input"]) <= MAX_CHARS][:COUNT]
    if tuple(chosen) != EXPECTED:
        sys.exit("make_corpus: the selection rule no longer gives the recorded 200 indices")
    for i in chosen:
        if examples[i].get("comment") != f"xsum-test-{i}":
            sys.exit(f"make_corpus: example {i} has comment {examples[i].get('comment')!r}")
    return chosen


def title_of(text: str) -> str:
    first = text.strip().splitlines()[0].strip()
    if len(first) <= TITLE_MAX:
        return first
    cut = first[:TITLE_MAX].rsplit(" ", 1)[0].rstrip(",;:-–— ")
    return cut + "…"


def write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", type=Path, default=DEFAULT_TARGET,
                        help="folder to write the articles to (default: eval/xsum/corpus/)")
    parser.add_argument("--sdist", type=Path, default=None,
                        help=f"path to {SDIST_NAME} (default: download into {CACHE_DIR})")
    args = parser.parse_args(argv)

    examples = read_task(ensure_sdist(args.sdist))["examples"]
    chosen = select(examples)
    target: Path = args.target
    target.mkdir(parents=True, exist_ok=True)

    wanted: set[str] = set()
    changed = 0
    for i in chosen:
        text = examples[i]["input"]
        if not text.endswith("\n"):
            text += "\n"
        name = f"xsum-{i:04d}.txt"
        meta = json.dumps({"title": title_of(text), "outlet": OUTLET}, ensure_ascii=False) + "\n"
        changed += write_if_changed(target / name, text.encode("utf-8"))
        changed += write_if_changed(target / (name + ".meta.json"), meta.encode("utf-8"))
        wanted |= {name, name + ".meta.json"}
    # Remove only our own stale files (from an older selection); leave anything else alone.
    removed = 0
    for path in target.glob("xsum-*.txt*"):
        if path.name not in wanted and path.name.endswith((".txt", ".txt.meta.json")):
            path.unlink()
            removed += 1
    print(f"{len(chosen)} articles in {target} ({changed} files written, {removed} removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
