"""Retrieval evaluation: embeddings gathered from every rank, searched with faiss, scored by ranx.

``RetrievalMetrics`` is a torchmetrics ``Metric``: ``update`` once per batch,
``compute`` once per epoch. ``compute`` returns (all floats in ``[0, 1]``, as
0-dim tensors), for each ``k`` in ``ks`` (ranx's ``hit_rate@k`` is named
``hit_rate_at_k``, a name every logger keeps):

- ``hit_rate_at_k``: fraction of queries with at least one relevant item in the
  top ``k``. This is what the metric-learning literature (SOP, CUB, In-Shop)
  calls "Recall@K".
- ``precision_at_k``: relevant items in the top ``k``, divided by ``k``.
- ``recall_at_k``: relevant items in the top ``k``, divided by the query's number
  of relevant items ``R``. This is the information-retrieval recall (ranx's),
  *not* the metric-learning "Recall@K" (that is ``hit_rate_at_k``).
- ``map_at_k``: ranx's average precision, ``sum_{i <= k} P@i * rel_i / R`` (the
  denominator is all ``R`` relevant items, not ``min(R, k)``).
- ``ndcg_at_k``: binary-relevance NDCG, ``sum_{i <= k} rel_i / log2(i + 1)``
  over its ideal value ``sum_{i <= min(R, k)} 1 / log2(i + 1)``.

and once:

- ``mrr``: ``1 / rank`` of the first relevant item within the top ``max(ks)``, else 0.
- ``map_at_r`` (``map_at_r=True``): MAP@R of Musgrave et al. 2020,
  ``sum_{i <= R} P@i * rel_i / R``, which needs a search depth of the largest ``R``.

Every value is the mean over queries that have at least one relevant gallery
item (a query with none cannot score and is left out).

Protocol. An item is relevant to a query when it has the same label. Each item
is a query, part of the gallery, or both (``update``'s masks; by default both:
every item is searched against all the others). An item never retrieves itself.
The duplicates that ``DistributedSampler`` pads into the last batches are removed
by sample index before the search, and items are sorted by sample index, so the
result does not depend on the number of ranks.

Search. ``index="flat"`` (default) is exact inner-product search (``IndexFlatIP``)
on L2-normalised embeddings, i.e. cosine similarity; ``"hnsw"`` and ``"ivf"``
select faiss's approximate indexes for large galleries. faiss computes
similarities in ``4096 x 1024`` tiles (BLAS) and keeps only the top results,
so the full query x gallery matrix is never held. Queries go to faiss in
batches of ``query_batch``; keep it in the thousands. faiss uses BLAS only for
calls with ``queries * d >= faiss.cvar.distance_compute_blas_threshold``
(128000, so 250 queries at d=512); smaller calls, such as one call per
validation batch, take a per-pair kernel that streams the whole gallery from
memory once per query, about 7x slower on a 2-core CPU. In BLAS mode, exact
search costs about what ``torch.mm`` plus ``topk`` does (benchmarks/retrieval_eval.py).

ranx. ranx compiles its kernels with numba. ``import ranx`` happens inside
``compute`` only (it costs seconds), and numba's on-disk cache goes to
``numba_cache_dir`` (default ``.cache/numba`` under the working directory)
unless ``NUMBA_CACHE_DIR`` is already set: the first evaluation ever compiles
(about 20 s), later processes load the cache (seconds), later calls in one
process take milliseconds. To choose the folder yourself, export
``NUMBA_CACHE_DIR=/path/to/folder`` before the process starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric

IndexKind = Literal["flat", "hnsw", "ivf"]
_MISSING = -1
"""faiss's id for "no result" (approximate indexes), and the qrels padding id."""


class RetrievalMetrics(Metric):
    """Ranking metrics of queries against a gallery (see the module docstring for the keys).

    Args:
        ks: Cut-offs of the ``@k`` metrics.
        index: ``"flat"`` (exact), ``"hnsw"`` or ``"ivf"`` (approximate).
        map_at_r: Also report ``map_at_r`` (searches as deep as the largest class).
        normalize: L2-normalise embeddings before the search (cosine similarity).
        query_batch: Queries per faiss search call (bounds the result buffers).
        hnsw_neighbors: HNSW graph degree ``M``.
        hnsw_ef_search: HNSW search breadth (raised to the search depth if lower).
        ivf_lists: IVF cells; ``None`` for ``4 * sqrt(gallery size)``, at most one per
            39 gallery items (faiss's minimum of training points per cell).
        ivf_probe: IVF cells visited per query.
        numba_cache_dir: numba's cache folder for ranx when ``NUMBA_CACHE_DIR`` is unset.
        **kwargs: Passed to ``torchmetrics.Metric`` (e.g. ``dist_sync_on_step``).

    ``update(embeddings (B, D), labels (B,) long, indices (B,) long,
    is_query (B,) bool | None, is_gallery (B,) bool | None)``; ``indices`` are
    the dataset's sample indices, used to drop the sampler's duplicates.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        ks: Sequence[int] = (1, 5, 10),
        index: IndexKind = "flat",
        *,
        map_at_r: bool = True,
        normalize: bool = True,
        query_batch: int = 4096,
        hnsw_neighbors: int = 32,
        hnsw_ef_search: int = 128,
        ivf_lists: int | None = None,
        ivf_probe: int = 16,
        numba_cache_dir: str | Path = Path(".cache") / "numba",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not ks or min(ks) < 1:
            raise ValueError(f"RetrievalMetrics: ks must be positive integers, got {list(ks)}")
        if index not in ("flat", "hnsw", "ivf"):
            raise ValueError(f"RetrievalMetrics: index must be flat, hnsw or ivf, got {index!r}")
        self.ks = sorted(set(ks))
        self.search = SearchConfig(
            index, query_batch, hnsw_neighbors, hnsw_ef_search, ivf_lists, ivf_probe
        )
        self.map_at_r = map_at_r
        self.normalize = normalize
        self.numba_cache_dir = Path(numba_cache_dir)
        for name in ("embeddings", "labels", "indices", "is_query", "is_gallery"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(
        self,
        embeddings: Tensor,
        labels: Tensor,
        indices: Tensor,
        is_query: Tensor | None = None,
        is_gallery: Tensor | None = None,
    ) -> None:
        """Store one batch: embeddings ``(B, D)``, labels and sample indices ``(B,)``."""
        both = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
        self.embeddings.append(embeddings.detach().float())
        self.labels.append(labels.long())
        self.indices.append(indices.long())
        self.is_query.append(both if is_query is None else is_query.bool())
        self.is_gallery.append(both if is_gallery is None else is_gallery.bool())

    def compute(self) -> dict[str, Tensor]:
        """Search every query in the gallery and score the rankings with ranx."""
        if isinstance(self.indices, list) and not self.indices:  # a tensor once synced
            raise ValueError("RetrievalMetrics: compute() called before any update()")
        indices = _numpy(self.indices)
        # Unique sample indices, sorted; the first copy of each padded duplicate is kept.
        _, first = np.unique(indices, return_index=True)
        embeddings = np.ascontiguousarray(_numpy(self.embeddings)[first], dtype=np.float32)
        labels, is_query, is_gallery = (
            _numpy(state)[first] for state in (self.labels, self.is_query, self.is_gallery)
        )
        if self.normalize:
            embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True).clip(1e-12)
        queries, gallery = np.flatnonzero(is_query), np.flatnonzero(is_gallery)
        if not len(queries) or not len(gallery):
            raise ValueError(
                f"RetrievalMetrics: need queries and a gallery, got {len(queries)} queries "
                f"and {len(gallery)} gallery items"
            )
        # Gallery position of every item (-1 outside it), to find a query's own entry.
        position = np.full(len(labels), _MISSING, dtype=np.int64)
        position[gallery] = np.arange(len(gallery))
        qrels = _qrels(labels[queries], labels[gallery], position[queries])
        scored = qrels[:, :, 1].sum(axis=1) > 0
        queries, qrels = queries[scored], qrels[scored]
        if not len(queries):
            raise ValueError("RetrievalMetrics: no query has a relevant item in the gallery")
        relevant = qrels[:, :, 1].sum(axis=1).astype(np.int64)
        depth = max(self.ks[-1], int(relevant.max()) if self.map_at_r else 0)
        run = self._search(embeddings[queries], embeddings[gallery], depth, position[queries])
        return self._score(qrels, run, relevant)

    def _search(
        self, queries: np.ndarray, gallery: np.ndarray, depth: int, own: np.ndarray
    ) -> np.ndarray:
        """ranx run ``(Q, depth', 2)`` of (gallery position, similarity), best first,
        without each query's own entry; ``depth' = min(depth, gallery items left)``."""
        extra = int((own >= 0).any())
        searched = min(depth + extra, len(gallery))
        scores, ids = knn_search(queries, gallery, searched, self.search)
        # Move each query's own entry (if retrieved) to the end and cut one column,
        # so a query never retrieves itself; without it, the last result goes.
        is_own = (ids == own[:, None]) & (own[:, None] >= 0)
        keep = np.argsort(is_own, axis=1, kind="stable")[:, : searched - extra]
        ids, scores = np.take_along_axis(ids, keep, 1), np.take_along_axis(scores, keep, 1)
        # ranx scores numpy runs in the order given (it sorts only dict runs): best first here.
        return np.stack([ids.astype(np.float64), scores.astype(np.float64)], axis=2)

    def _score(self, qrels: np.ndarray, run: np.ndarray, relevant: np.ndarray) -> dict[str, Tensor]:
        ranx = _import_ranx(self.numba_cache_dir)
        import numba

        at_k = [f"{metric}@{k}" for k in self.ks for metric in _RANX_AT_K]
        mrr = f"mrr@{self.ks[-1]}"
        threads = numba.config.NUMBA_NUM_THREADS  # ranx drops to 1 thread after a small input
        values = ranx.evaluate(qrels, run, [*at_k, mrr], threads=threads)
        # ranx's "hit_rate@1" is logged as "hit_rate_at_1": MLflow drops "@" from metric names.
        results = {name.replace("@", "_at_"): values[name] for name in at_k} | {"mrr": values[mrr]}
        if self.map_at_r:
            # MAP@R is ranx's AP over a run cut at each query's own R.
            beyond_r = np.arange(run.shape[1])[None, :] >= relevant[:, None]
            cut = run.copy()
            cut[:, :, 0][beyond_r] = _MISSING
            results["map_at_r"] = ranx.evaluate(qrels, cut, "map", threads=threads)
        return {name: torch.tensor(float(value)) for name, value in results.items()}


@dataclass(frozen=True)
class SearchConfig:
    """How ``knn_search`` searches; the fields are ``RetrievalMetrics``' arguments of the
    same names."""

    index: IndexKind = "flat"
    query_batch: int = 4096
    hnsw_neighbors: int = 32
    hnsw_ef_search: int = 128
    ivf_lists: int | None = None
    ivf_probe: int = 16


def knn_search(
    queries: np.ndarray, gallery: np.ndarray, k: int, config: SearchConfig = SearchConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` gallery rows with the largest inner product with each query, best first.

    queries ``(Q, D)`` and gallery ``(N, D)`` float32 (L2-normalised for cosine
    similarity) -> scores ``(Q, k)`` float32 and gallery row ids ``(Q, k)`` int64;
    an approximate index that finds fewer than ``k`` returns id -1 for the rest.
    Also what ``predict`` needs for the neighbours of new queries.
    """
    dim = gallery.shape[1]
    if config.index == "flat":
        index = faiss.IndexFlatIP(dim)
    elif config.index == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_neighbors, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(config.hnsw_ef_search, k)
    else:
        lists = config.ivf_lists or max(1, min(len(gallery) // 39, int(4 * len(gallery) ** 0.5)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(gallery)
        index.nprobe = min(config.ivf_probe, lists)
    index.add(gallery)
    scores = np.empty((len(queries), k), dtype=np.float32)
    ids = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), config.query_batch):
        stop = start + config.query_batch
        scores[start:stop], ids[start:stop] = index.search(queries[start:stop], k)
    return scores, ids


_RANX_AT_K = ("hit_rate", "precision", "recall", "map", "ndcg")


def _numpy(state: list[Tensor] | Tensor) -> np.ndarray:
    """A list state (or, once synced across ranks, its concatenation) as one array.

    numpy concatenates in one thread: ``torch.cat`` splits the copy over its
    OpenMP threads, which costs 20x the CPU time when the cores are busy.
    """
    parts = state if isinstance(state, list) else [state]
    return np.concatenate([part.cpu().numpy() for part in parts])


def _qrels(query_labels: np.ndarray, gallery_labels: np.ndarray, own: np.ndarray) -> np.ndarray:
    """ranx qrels ``(Q, R_max, 2)``: the gallery positions with each query's label
    (relevance 1) except its own, then padding rows (id -1, relevance 0) at the end,
    where ranx's ideal-DCG pass expects them."""
    order = np.argsort(gallery_labels, kind="stable")
    sorted_labels = gallery_labels[order]
    start = np.searchsorted(sorted_labels, query_labels, side="left")
    count = np.searchsorted(sorted_labels, query_labels, side="right") - start
    width = max(int(count.max()), 1)
    offsets = np.arange(width)[None, :]
    ids = order[np.minimum(start[:, None] + offsets, len(order) - 1)]
    valid = (offsets < count[:, None]) & (ids != own[:, None])
    compact = np.argsort(~valid, axis=1, kind="stable")
    ids, valid = np.take_along_axis(ids, compact, 1), np.take_along_axis(valid, compact, 1)
    return np.stack([np.where(valid, ids, _MISSING), valid], axis=2).astype(np.float64)


def _import_ranx(cache_dir: Path) -> Any:
    """Import ranx with numba's cache in ``cache_dir`` unless ``NUMBA_CACHE_DIR`` is set."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(cache_dir.resolve())
        if "numba" in sys.modules:  # numba reads its configuration at import
            sys.modules["numba"].core.config.reload_config()
    import ranx

    return ranx
