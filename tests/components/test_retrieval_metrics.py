"""RetrievalMetrics: every value against a brute-force numpy ranking, roles, padding, DDP."""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from component_library.metrics.retrieval import RetrievalMetrics, SearchConfig, knn_search

KS = (1, 3, 10)


@pytest.fixture(scope="session")
def ranx_ready() -> None:
    """The first ranx evaluation of the session compiles (or loads) numba kernels; do it once."""
    metric = RetrievalMetrics(ks=(1,))
    metric.update(torch.randn(4, 3), torch.tensor([0, 0, 1, 1]), torch.arange(4))
    metric.compute()


def _fixture(seed: int, n: int = 240, dim: int = 16, classes: int = 30):
    """Continuous random embeddings (no ties), with some structure so metrics are not ~0."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.standard_normal((classes, dim))
    embeddings = centres[labels] + 1.2 * rng.standard_normal((n, dim))
    return embeddings.astype(np.float32), labels


def _brute_force(
    embeddings, labels, is_query, is_gallery, ks=KS, normalize: bool = True
) -> dict[str, float]:
    """Each formula written out, one query at a time, on a full float64 similarity matrix
    (cosine, a zero vector at similarity 0 to all; inner product with ``normalize=False``)."""
    x = embeddings.astype(np.float64)
    if normalize:
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sums: dict[str, float] = {}
    scored = 0
    for q in np.flatnonzero(is_query):
        candidates = [g for g in np.flatnonzero(is_gallery) if g != q]
        ranking = sorted(candidates, key=lambda g: -(x[q] @ x[g]))
        rel = np.array([labels[g] == labels[q] for g in ranking], dtype=np.float64)
        r = int(rel.sum())
        if r == 0:
            continue
        scored += 1
        values = {}
        for k in ks:
            top = rel[:k]
            values[f"hit_rate_at_{k}"] = float(top.any())
            values[f"precision_at_{k}"] = top.sum() / k
            values[f"recall_at_{k}"] = top.sum() / r
            values[f"map_at_{k}"] = sum(rel[: i + 1].mean() for i in range(len(top)) if top[i]) / r
            dcg = sum(top[i] / math.log2(i + 2) for i in range(len(top)))
            ideal = sum(1 / math.log2(i + 2) for i in range(min(r, k)))
            values[f"ndcg_at_{k}"] = dcg / ideal
        hits = np.flatnonzero(rel[: max(ks)])
        values["mrr"] = 1 / (hits[0] + 1) if len(hits) else 0.0
        values["map_at_r"] = sum(rel[: i + 1].mean() for i in range(r) if rel[i]) / r
        for name, value in values.items():
            sums[name] = sums.get(name, 0.0) + value
    return {name: total / scored for name, total in sums.items()}


def _compute(
    metric: RetrievalMetrics, embeddings, labels, is_query=None, is_gallery=None, batch: int = 50
) -> dict[str, float]:
    for start in range(0, len(labels), batch):
        part = slice(start, start + batch)
        metric.update(
            torch.from_numpy(embeddings[part]),
            torch.from_numpy(labels[part]),
            torch.arange(len(labels))[part],
            None if is_query is None else torch.from_numpy(is_query[part]),
            None if is_gallery is None else torch.from_numpy(is_gallery[part]),
        )
    return {name: float(value) for name, value in metric.compute().items()}


def _assert_equal(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert actual.keys() == expected.keys()
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, abs=1e-6), name


@pytest.mark.parametrize("seed", [0, 1])
def test_every_metric_matches_brute_force_when_all_items_are_both(seed: int, ranx_ready) -> None:
    embeddings, labels = _fixture(seed)
    both = np.ones(len(labels), dtype=bool)
    expected = _brute_force(embeddings, labels, both, both)
    assert 0.1 < expected["hit_rate_at_1"] < 0.95  # a fixture where the metrics discriminate
    _assert_equal(_compute(RetrievalMetrics(ks=KS), embeddings, labels), expected)


def test_defaults_match_brute_force(ranx_ready) -> None:
    embeddings, labels = _fixture(2)
    both = np.ones(len(labels), dtype=bool)
    actual = _compute(RetrievalMetrics(), embeddings, labels)
    _assert_equal(actual, _brute_force(embeddings, labels, both, both, ks=(1, 5, 10)))


def test_query_gallery_split_by_role_masks(ranx_ready) -> None:
    embeddings, labels = _fixture(3)
    role = np.random.default_rng(3).integers(0, 3, len(labels))  # 0 query, 1 gallery, 2 both
    is_query, is_gallery = role != 1, role != 0
    expected = _brute_force(embeddings, labels, is_query, is_gallery)
    actual = _compute(RetrievalMetrics(ks=KS), embeddings, labels, is_query, is_gallery)
    _assert_equal(actual, expected)
    # Same labels, only the queries' own roles changed: a different protocol, other numbers.
    all_both = _compute(RetrievalMetrics(ks=KS), embeddings, labels)
    assert all_both["map_at_r"] != pytest.approx(actual["map_at_r"], abs=1e-6)


def test_a_query_never_retrieves_itself(ranx_ready) -> None:
    # Each item's nearest neighbour is itself (similarity 1); its true match is far below.
    embeddings = np.eye(6, dtype=np.float32) + 0.1
    labels = np.array([0, 0, 1, 1, 2, 2])
    actual = _compute(RetrievalMetrics(ks=(1,)), embeddings, labels)
    # With itself excluded, every other item ties (cos = 0.0165..); exact ties are the one
    # place where faiss's order matters, so only check that self never counted as a hit.
    assert actual["hit_rate_at_1"] < 1.0
    duplicated = np.repeat(np.random.default_rng(0).standard_normal((3, 5)), 2, axis=0)
    near = duplicated.astype(np.float32) + 1e-3 * np.random.default_rng(1).standard_normal((6, 5))
    assert _compute(RetrievalMetrics(ks=(1,)), near.astype(np.float32), labels)[
        "hit_rate_at_1"
    ] == pytest.approx(1.0)


def test_padding_duplicates_are_removed_by_sample_index(ranx_ready) -> None:
    embeddings, labels = _fixture(4, n=101)
    expected = _compute(RetrievalMetrics(ks=KS), embeddings, labels)
    metric = RetrievalMetrics(ks=KS)
    # A DistributedSampler over 4 ranks pads 101 samples to 104 by repeating the first 3.
    order = np.concatenate([np.arange(101), np.arange(3)])
    metric.update(
        torch.from_numpy(embeddings[order]),
        torch.from_numpy(labels[order]),
        torch.from_numpy(order),
    )
    _assert_equal({k: float(v) for k, v in metric.compute().items()}, expected)


def test_queries_without_relevant_items_are_left_out(ranx_ready) -> None:
    embeddings, labels = _fixture(5, n=60)
    labels = labels.copy()
    labels[0] = 999  # a singleton: no relevant item anywhere
    both = np.ones(len(labels), dtype=bool)
    _assert_equal(
        _compute(RetrievalMetrics(ks=KS), embeddings, labels),
        _brute_force(embeddings, labels, both, both),
    )


def test_only_query_in_the_gallery_at_position_0_does_not_retrieve_itself(ranx_ready) -> None:
    """Item 0 is the one query that is also a gallery item, the gallery's first: its search
    goes one deeper and drops itself, so its true nearest neighbour still counts."""
    embeddings, labels = _fixture(10, n=80)
    embeddings[41] = embeddings[0] + 0.01
    labels[41] = labels[0]
    is_query, is_gallery = np.arange(80) < 40, np.arange(80) >= 40
    is_gallery[0] = True
    expected = _brute_force(embeddings, labels, is_query, is_gallery, ks=(1,))
    metric = RetrievalMetrics(ks=(1,), map_at_r=False)
    actual = _compute(metric, embeddings, labels, is_query, is_gallery)
    del expected["map_at_r"]
    _assert_equal(actual, expected)


def test_a_search_deeper_than_16_keeps_faiss_order(ranx_ready) -> None:
    """4 classes over 120 items: MAP@R searches ~35 deep, where only a stable sort keeps the
    ranking when a query's own entry is moved out."""
    embeddings, labels = _fixture(11, n=120, classes=4)
    both = np.ones(len(labels), dtype=bool)
    expected = _brute_force(embeddings, labels, both, both, ks=(1, 5, 20))
    _assert_equal(_compute(RetrievalMetrics(ks=(1, 5, 20)), embeddings, labels), expected)


def test_small_and_zero_embeddings_are_normalised(ranx_ready) -> None:
    """Norms far below 1 are divided out; a zero vector stays zero (similarity 0 to every
    query, so it ranks mid-list), not NaN. It is a gallery item only: as a query, its
    similarities would all tie."""
    rng = np.random.default_rng(12)
    labels = np.repeat(np.arange(3), 4)
    embeddings = (1e-3 * rng.standard_normal((12, 16))).astype(np.float32)
    embeddings[0] = 0.0
    is_query, is_gallery = np.arange(12) > 0, np.ones(12, dtype=bool)
    expected = _brute_force(embeddings, labels, is_query, is_gallery)
    actual = _compute(RetrievalMetrics(ks=KS), embeddings, labels, is_query, is_gallery)
    _assert_equal(actual, expected)


@pytest.mark.parametrize("index", ["flat", "hnsw", "ivf"])
def test_unnormalised_embeddings_rank_by_inner_product(index: str, ranx_ready) -> None:
    embeddings, labels = _fixture(13, n=200)
    embeddings *= np.random.default_rng(13).uniform(0.2, 5.0, (200, 1)).astype(np.float32)
    both = np.ones(len(labels), dtype=bool)
    expected = _brute_force(embeddings, labels, both, both, normalize=False)
    cosine = _brute_force(embeddings, labels, both, both)
    assert abs(expected["map_at_r"] - cosine["map_at_r"]) > 0.05  # the two rankings differ
    metric = RetrievalMetrics(ks=KS, index=index, normalize=False, ivf_probe=64)
    actual = _compute(metric, embeddings, labels)
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, abs=1e-6 if index == "flat" else 0.02), name


def test_search_settings_reach_the_index_they_belong_to(ranx_ready) -> None:
    """With settings that make every approximate index coarse, ``flat`` stays exact, IVF
    (10 cells, 1 probed) misses neighbours in other cells, and a degree-2 HNSW graph misses
    some too; IVF with those cells all probed would be exact."""
    embeddings, labels = _fixture(6, n=400)
    both = np.ones(len(labels), dtype=bool)
    exact = _brute_force(embeddings, labels, both, both)
    coarse = {"hnsw_neighbors": 2, "hnsw_ef_search": 1, "ivf_lists": 10, "ivf_probe": 1}
    _assert_equal(_compute(RetrievalMetrics(ks=KS, **coarse), embeddings, labels), exact)
    ivf = _compute(RetrievalMetrics(ks=KS, index="ivf", **coarse), embeddings, labels)
    assert ivf["hit_rate_at_10"] < exact["hit_rate_at_10"] - 0.05
    coarse_hnsw = {"hnsw_neighbors": 2, "hnsw_ef_search": 1}
    hnsw = _compute(RetrievalMetrics(ks=KS, index="hnsw", **coarse_hnsw), embeddings, labels)
    assert hnsw["hit_rate_at_10"] < exact["hit_rate_at_10"] - 0.02


def test_search_config_defaults_and_arguments() -> None:
    assert RetrievalMetrics().search == SearchConfig("flat", 4096, 32, 128, None, 16)
    assert SearchConfig() == SearchConfig("flat", 4096, 32, 128, None, 16)
    metric = RetrievalMetrics(
        index="ivf", query_batch=7, hnsw_neighbors=8, hnsw_ef_search=9, ivf_lists=10, ivf_probe=3
    )
    assert metric.search == SearchConfig("ivf", 7, 8, 9, 10, 3)


class _Stop(Exception):
    pass


@pytest.mark.parametrize(("gallery", "cells"), [(1, 1), (100, 2), (1600, 41), (25000, 632)])
def test_ivf_cells_default_to_4_sqrt_n_and_at_most_one_per_39_items(
    gallery: int, cells: int, monkeypatch
) -> None:
    from component_library.metrics import retrieval

    seen = []

    def record(quantizer, dim, lists, metric):
        seen.append(lists)
        raise _Stop  # the count is all this test needs: no training

    monkeypatch.setattr(retrieval.faiss, "IndexIVFFlat", record)
    with pytest.raises(_Stop):
        knn_search(
            np.zeros((1, 4), np.float32), np.zeros((gallery, 4), np.float32), 1, SearchConfig("ivf")
        )
    assert seen == [cells]


def test_ivf_on_a_one_item_gallery() -> None:
    scores, ids = knn_search(
        np.ones((2, 4), np.float32), np.ones((1, 4), np.float32), 1, SearchConfig("ivf")
    )
    assert ids.tolist() == [[0], [0]] and scores.tolist() == [[4.0], [4.0]]


def test_knn_search_is_the_exact_top_k_in_small_query_batches() -> None:
    embeddings, _ = _fixture(8, n=300)
    queries, gallery = embeddings[:70], embeddings[70:]
    scores, ids = knn_search(queries, gallery, 5, SearchConfig(query_batch=16))
    assert (scores.dtype, ids.dtype) == (np.float32, np.int64)
    similarity = queries.astype(np.float64) @ gallery.T.astype(np.float64)
    expected = np.argsort(-similarity, axis=1)[:, :5]
    assert np.array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(similarity, expected, 1), rtol=1e-5)


@pytest.mark.parametrize("index", ["hnsw", "ivf"])
def test_approximate_indexes_agree_with_exact_on_a_small_gallery(index: str, ranx_ready) -> None:
    embeddings, labels = _fixture(6, n=400)
    exact = _compute(RetrievalMetrics(ks=KS), embeddings, labels)
    approximate = _compute(RetrievalMetrics(ks=KS, index=index, ivf_probe=64), embeddings, labels)
    for name, value in exact.items():
        assert approximate[name] == pytest.approx(value, abs=0.02), name


def test_errors() -> None:
    with pytest.raises(ValueError, match="ks must be positive"):
        RetrievalMetrics(ks=(0, 5))
    with pytest.raises(ValueError, match="index must be flat, hnsw or ivf"):
        RetrievalMetrics(index="lsh")
    with pytest.raises(ValueError, match=r"^RetrievalMetrics: compute\(\) called before any"):
        RetrievalMetrics().compute()
    singletons = RetrievalMetrics()
    singletons.update(torch.randn(3, 4), torch.tensor([0, 1, 2]), torch.arange(3))
    with pytest.raises(ValueError, match=r"^RetrievalMetrics: no query has a relevant item in"):
        singletons.compute()
    metric = RetrievalMetrics()
    metric.update(
        torch.randn(3, 4),
        torch.tensor([0, 0, 1]),
        torch.arange(3),
        is_gallery=torch.zeros(3, dtype=torch.bool),
    )
    with pytest.raises(ValueError, match="3 queries and 0 gallery items"):
        metric.compute()


def test_numba_cache_dir_is_project_local_when_unset(tmp_path, monkeypatch) -> None:
    import numba

    from component_library.metrics import retrieval

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    expected = str(tmp_path / ".cache" / "numba")
    try:
        retrieval._import_ranx(RetrievalMetrics().numba_cache_dir)
        assert os.environ["NUMBA_CACHE_DIR"] == expected
        assert expected == numba.config.CACHE_DIR  # applied although numba was imported
    finally:
        monkeypatch.undo()
        numba.core.config.reload_config()


def test_compute_uses_the_metrics_numba_cache_dir_unless_set(tmp_path, monkeypatch, ranx_ready):
    import numba

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))

    def compute() -> None:
        metric = RetrievalMetrics(ks=(1,), numba_cache_dir=tmp_path / "metric")
        metric.update(torch.randn(4, 3), torch.tensor([0, 0, 1, 1]), torch.arange(4))
        metric.compute()

    try:
        compute()
        assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")
        monkeypatch.delenv("NUMBA_CACHE_DIR")
        compute()
        assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "metric")
    finally:
        monkeypatch.undo()
        numba.core.config.reload_config()


# --- two processes -------------------------------------------------------------------------


def _rank_main(rank: int, world: int, port: int, embeddings, labels, is_query, out) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    torch.set_num_threads(1)
    # DistributedSampler-style sharding, padded with the first samples (151 -> 154: samples
    # 0-2 twice); the last rank then drops its last item, so the shards are uneven (77, 76).
    order = np.concatenate([np.arange(len(labels)), np.arange(3)])
    mine = order[rank::world][: 77 - rank]
    metric = RetrievalMetrics(ks=KS)
    # Uneven batches too.
    cut = 7 if rank == 0 else 40
    for part in (mine[:cut], mine[cut:]):
        metric.update(
            torch.from_numpy(embeddings[part]),
            torch.from_numpy(labels[part]),
            torch.from_numpy(part),
            torch.from_numpy(is_query[part]),
        )
    out[rank] = {name: float(value) for name, value in metric.compute().items()}
    dist.destroy_process_group()


def test_two_process_gloo_matches_one_process(ranx_ready) -> None:
    embeddings, labels = _fixture(7, n=151)
    is_query = np.random.default_rng(7).random(151) < 0.5
    single = _compute(RetrievalMetrics(ks=KS), embeddings, labels, is_query)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = mp.Manager().dict()
    # fork: the ranks inherit the imported libraries and ranx's compiled kernels, which would
    # cost each spawned interpreter ~10 s of imports on a 2-core machine.
    mp.start_processes(
        _rank_main,
        args=(2, port, embeddings, labels, is_query, out),
        nprocs=2,
        start_method="fork",
    )
    for rank in range(2):
        _assert_equal(out[rank], single)
