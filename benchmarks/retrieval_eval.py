"""Does the retrieval evaluation cost more than the arithmetic it cannot avoid?

For 10,000 queries against galleries of 10k, 30k and 100k embeddings (d=512,
L2-normalised, 10 gallery images per identity) it times, in one process:

- ``evaluation``: ``RetrievalMetrics.compute()`` with its defaults (exact faiss
  ``IndexFlatIP``, ks 1/5/10, MAP@R): dedup, index build, search, ranx metrics;
- ``bare``: the similarity arithmetic alone, a chunked ``torch.mm`` plus ``topk``
  over the same arrays, keeping as many neighbours as the evaluation searches.

Each is run ``--repeat`` times, alternating, and the fastest run counts (the
machine may be shared). CPU seconds are printed beside wall seconds: on a busy
machine they show the work done independently of the waiting. The first ranx
call (numba compiling, or loading its on-disk cache) is timed on its own first.

    nice -n 10 python benchmarks/retrieval_eval.py [--sizes 10000 30000 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

import numpy as np
import torch

from component_library.metrics.retrieval import RetrievalMetrics

QUERIES, DIM, PER_IDENTITY, CHUNK = 10_000, 512, 10, 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}, {QUERIES} queries, d={DIM}")

    first = _timed(lambda: _metric_for(*_data(200, 200)).compute())
    again = _timed(lambda: _metric_for(*_data(200, 200)).compute())
    print(f"first evaluation (ranx import + numba JIT or cache load): {_seconds(first)}")
    print(f"second evaluation, warm:                                  {_seconds(again)}\n")

    header = f"{'gallery':>8} | {'bare s (cpu)':>14} | {'eval s (cpu)':>14} | {'ratio':>5} | "
    print(header + f"{'eval us/item':>12} | peak RSS MiB")
    for size in args.sizes:
        embeddings, labels, is_query = _data(QUERIES, size)
        queries = torch.from_numpy(embeddings[is_query])
        gallery = torch.from_numpy(embeddings[~is_query])
        bare, evaluation = [], []
        for _ in range(args.repeat):
            bare.append(_timed(lambda q=queries, g=gallery: _bare(q, g, k=PER_IDENTITY)))
            metric = _metric_for(embeddings, labels, is_query)
            evaluation.append(_timed(metric.compute))
            del metric
        (bare_wall, bare_cpu), (eval_wall, eval_cpu) = min(bare), min(evaluation)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{size:>8} | {bare_wall:6.2f} ({bare_cpu:5.2f}) | {eval_wall:6.2f} ({eval_cpu:5.2f})"
            f" | {eval_wall / bare_wall:5.2f} | {eval_wall / size * 1e6:12.1f} | {peak:.0f}",
            flush=True,
        )


def _data(queries: int, gallery: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit embeddings, labels (``PER_IDENTITY`` gallery items each) and a query mask."""
    rng = np.random.default_rng(0)
    identities = max(1, gallery // PER_IDENTITY)
    labels = np.concatenate([rng.integers(0, identities, queries), np.arange(gallery) % identities])
    embeddings = rng.standard_normal((queries + gallery, DIM), dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    is_query = np.arange(queries + gallery) < queries
    return embeddings, labels, is_query


def _metric_for(embeddings: np.ndarray, labels: np.ndarray, is_query: np.ndarray):
    """A default ``RetrievalMetrics`` fed in validation-sized batches of 256."""
    metric = RetrievalMetrics()
    for start in range(0, len(labels), 256):
        part = slice(start, start + 256)
        metric.update(
            torch.from_numpy(embeddings[part]),
            torch.from_numpy(labels[part]),
            torch.arange(len(labels))[part],
            torch.from_numpy(is_query[part]),
            torch.from_numpy(~is_query[part]),
        )
    return metric


def _bare(queries: torch.Tensor, gallery: torch.Tensor, k: int) -> None:
    """The similarity arithmetic alone: ``CHUNK`` queries at a time, top-``k`` of each row."""
    for start in range(0, len(queries), CHUNK):
        torch.topk(queries[start : start + CHUNK] @ gallery.T, k, dim=1)


def _seconds(timing: tuple[float, float]) -> str:
    return f"{timing[0]:.2f} s wall, {timing[1]:.2f} s CPU"


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    """``(wall seconds, CPU seconds)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
