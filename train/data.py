"""Fetch public data packages from PyPI into a local cache and read task files out of them.

Only the data source lives here: ``fetch_sdist`` downloads an sdist with pip (once), and
``read_bigbench_task`` reads one BIG-bench ``task.json`` straight out of the tarball, without
unpacking the rest. ``detokenise`` turns SQuAD/NQ-style tokenised text back into prose.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

CACHE_DIR = Path.home() / ".cache" / "newsdesk-qa" / "data"
BIGBENCH = ("bigbench", "1.0.0")


def fetch_sdist(name: str, version: str, cache_dir: Path = CACHE_DIR) -> Path:
    """Path of ``name-version.tar.gz`` in ``cache_dir``, downloaded with pip if missing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{name}-{version}.tar.gz"
    if not target.exists():
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"{name}=={version}", "-d", str(cache_dir)]
        subprocess.run(cmd, check=True)
    if not target.exists():
        raise FileNotFoundError(f"pip download did not produce {target}")
    return target


def read_bigbench_tasks(tasks: list[str], tarball: Path | None = None) -> dict[str, list[dict]]:
    """The ``examples`` lists of BIG-bench tasks (e.g. ``disfl_qa``), in file order, in one pass."""
    tarball = tarball or fetch_sdist(*BIGBENCH)
    wanted = {f"bigbench/benchmark_tasks/{task}/task.json": task for task in tasks}
    found: dict[str, list[dict]] = {}
    with tarfile.open(tarball, "r:*") as tf:
        for member in tf:
            task = wanted.get(member.name.split("/", 1)[-1])
            if task and member.isfile():
                found[task] = json.load(tf.extractfile(member))["examples"]
                if len(found) == len(wanted):
                    break
    missing = sorted(set(tasks) - set(found))
    if missing:
        raise FileNotFoundError(f"tasks {missing} not found in {tarball}")
    return found


_DETOK = [
    (re.compile(r"``\s*|\s*''"), '"'),
    (re.compile(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", re.I), r"\1"),
    (re.compile(r"\s+'\s+(s|re|ve|ll|d|m)\b", re.I), r"'\1"),
    (re.compile(r"\s+([.,;:!?%)\]}])"), r"\1"),
    (re.compile(r"([(\[{$])\s+"), r"\1"),
    (re.compile(r"(\w) - (?=\w)"), r"\1-"),
    (re.compile(r'"\s+([^"]*?)\s+"'), r'"\1"'),
    (re.compile(r"[ \t]{2,}"), " "),
]


def detokenise(text: str) -> str:
    """Undo space-around-punctuation tokenisation, lightly.

    >>> detokenise("Phineas 's sister ( voiced by Ashley ) , a fifteen - year - old .")
    "Phineas's sister (voiced by Ashley), a fifteen-year-old."
    >>> detokenise("the `` arts and sciences focus '' , he said")
    'the "arts and sciences focus", he said'
    """
    text = text.strip()
    for pattern, repl in _DETOK:
        text = pattern.sub(repl, text)
    return text
