"""Time scoring a handful of pairs on one thread: torch fp32 vs the shipped int8 ONNX reader.

Each figure is the median of ``repeats`` calls after one warm-up, one query at a time, so
it is what one question costs at run time (not a throughput figure).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch

from rag.reader import pair_text


def median_ms(fn: Callable[[], object], repeats: int = 15) -> float:
    """Median wall time of ``fn()`` in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def measure(torch_model, reader, question: str, items: Sequence[tuple[str, str, str]],
            sizes: Sequence[int] = (16, 30), repeats: int = 15) -> dict:
    """``{"16": {"torch_fp32_ms": …, "onnx_int8_ms": …}, …}`` on one thread each."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    try:
        for n in sizes:
            batch = [items[i % len(items)] for i in range(n)]
            pairs = [(question, pair_text(*item)) for item in batch]
            row = {"onnx_int8_ms": median_ms(lambda: reader.score_texts(question, batch), repeats)}
            if torch_model is not None:
                row["torch_fp32_ms"] = median_ms(
                    lambda: torch_model.predict(pairs, batch_size=32, show_progress_bar=False), repeats)
            out[str(n)] = row
    finally:
        torch.set_num_threads(old)
    return out
