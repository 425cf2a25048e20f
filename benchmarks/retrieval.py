"""Retrieval benchmark: ScaNN index vs exact search vs HNSW peers, at equal recall@10.

    python benchmarks/retrieval.py --tag run1   # n = 1,000,000 x 256 -> results/retrieval_run1.json
    python benchmarks/retrieval.py --n 200000   # quicker check

Generated data, exact ground truth, the HNSW indexes and the sharded index are cached on
disk (``retrieval_cache.py``; ``--cache-dir``, ``--refresh-cache``, ``--no-cache``), so a
second run spends its time on building ScaNN and on the interleaved rounds.

For each data set (``clustered``: unit vectors from a mixture of a few thousand Gaussian
clusters of uneven size grouped under categories, like catalog embeddings, see
``make_vectors``; ``random`` and ``clustered_flat`` on request), all in this one run:

1. ground truth: exact top-10 of the held-out queries (``exact_top_k``);
2. our ``ScannIndex`` built with the library defaults (``build_index``: parameters chosen
   from the catalog size and tuned at build time to the first recall target), then its
   search settings for each recall target (``ScannIndex.tuned_search``); a setting whose
   recall on the held-out queries falls short is widened until it reaches the target;
3. faiss ``IndexHNSWFlat`` and ``hnswlib`` (M=32, efConstruction=100): efSearch is raised
   until recall@10 on the held-out queries reaches each target;
4. all of them, and exact search (``numpy_blocks`` on a subset of the same queries), timed
   in interleaved rounds (``benchmarks/measure.py``): per-round queries/s and per-round
   ratios, medians and spread;
5. (clustered only) the same data in ``--shards`` ScaNN shards (``build_index(...,
   shards=8)``, library defaults per shard, top-k merged) against the one index, in the
   same rounds: ``sharded_recall_at_10`` on the held-out queries and ``sharded_qps_ratio``
   (median of per-round sharded / one-index queries/s);
6. (clustered only) ``batch_retrieve`` (Parquet in, Parquet parts out) against the raw
   ScaNN searcher on the same queries with the same settings, interleaved the same way:
   a short job (the ``--batch-queries`` once: its fixed start and end show) and a job of
   ``--batch-repeat`` times as many rows (the same queries repeated; a batch job's size).

Targets (clustered, recall@10 >= 0.95): ScaNN >= 1.5x faiss HNSW, >= 100x exact;
sharded recall@10 >= 0.95; batch_retrieve at most 10% slower than raw ScaNN on the
longer job. All flags are
in the JSON's ``targets_met``. Queries/s are for batched queries using
all cores. Results: benchmarks/results/retrieval.json. Peers need the [bench] extra
(``pip install faiss-cpu hnswlib``); missing peers are skipped and recorded as such.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from measure import Comparison, Report, fmt, log, timed
from retrieval_cache import DEFAULT_ROOT, BenchCache, cache_key

import fashion_tf  # noqa: F401  (quiet TensorFlow logs before scann loads it)
from fashion_tf.retrieval import build_index, exact_top_k, recall_at_k, write_embeddings
from fashion_tf.retrieval.batch import EmbeddingQueries, batch_retrieve
from fashion_tf.retrieval.scann_tuning import shortlist_size

RESULTS = Path(__file__).resolve().parent / "results" / "retrieval.json"
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 100
EF_GRID = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)


def make_vectors(kind: str, n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """float32 unit vectors [n, dim], generated in chunks to bound memory.

    ``clustered`` mimics a catalog's embeddings: ``clusters`` Gaussian clusters (item
    styles) of uneven, log-normal sizes, grouped under sqrt(clusters)/2 categories: a
    style centre is its category direction plus a random offset of norm 0.8, and a point is
    its style centre plus Gaussian noise of norm 0.6-1.0 (cosine to its centre about
    0.7-0.85), normalised. ``clustered_flat`` is the same without categories and with noise
    of norm 0.6-1.2 (cosine to the centre 0.64-0.86, few clusters per leaf when n is
    small): hard for partitioning. ``random`` is uniform on the sphere: no structure at all.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)

    def unit(v):
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    if kind not in ("clustered", "clustered_flat", "random"):
        raise ValueError(f"unknown data set {kind!r}; expected clustered, clustered_flat or random")
    if kind == "clustered_flat":  # no categories, wider noise: a harder, less realistic mixture
        centres = unit(rng.normal(size=(clusters, dim))).astype(np.float32)
        weights = rng.lognormal(sigma=1.0, size=clusters)
        weights /= weights.sum()
        spread = rng.uniform(0.6, 1.2, size=clusters).astype(np.float32)
    if kind == "clustered":
        categories = unit(rng.normal(size=(max(2, int(np.sqrt(clusters) / 2)), dim)))
        parents = rng.integers(0, len(categories), clusters)
        centres = unit(categories[parents] + 0.8 * unit(rng.normal(size=(clusters, dim)))).astype(np.float32)
        weights = rng.lognormal(sigma=1.0, size=clusters)  # uneven style sizes
        weights /= weights.sum()
        spread = rng.uniform(0.6, 1.0, size=clusters).astype(np.float32)
    for start in range(0, n, 100_000):
        size = min(100_000, n - start)
        noise = rng.standard_normal((size, dim), dtype=np.float32)
        if kind != "random":
            labels = rng.choice(clusters, size=size, p=weights)
            noise *= (spread[labels] / np.sqrt(dim))[:, None]
            noise += centres[labels]
        out[start:start + size] = unit(noise)
    return out


# ------------------------------------------------------------------ ScaNN

def scann_settings(index, queries, exact, target):
    """The library's tuned search setting for ``target``, checked on the held-out queries
    and widened (more leaves, then a larger reorder budget) while their recall falls short."""
    tuned = index.tuned_search(target)
    leaves, reorder = tuned["num_leaves_to_search"], tuned["reorder_candidates"]
    widened = 0
    while True:
        found, _ = index.search_indices(queries, 10, num_leaves_to_search=leaves, reorder_candidates=reorder)
        recall = recall_at_k(found, exact)
        if recall >= target or (leaves >= index.params["num_leaves"] and reorder >= 2000):
            break
        widened += 1
        if leaves < index.params["num_leaves"]:
            leaves = min(index.params["num_leaves"], max(leaves + 1, round(leaves * 1.15)))
        else:
            reorder *= 2
    return {"num_leaves_to_search": leaves, "reorder_candidates": reorder, "recall_at_10": recall,
            "build_sample_recall_at_10": tuned["recall_at_10"], "tuned_at_build": tuned,
            "widened_on_held_out_queries": widened}


# ------------------------------------------------------------------- HNSW peers

def build_hnsw(kind, database, cache):
    """(index, build info) from ``cache`` (built and saved when absent), or (None, reason
    skipped) when the library is not installed."""
    n, dim = database.shape
    name = f"{kind}-M{HNSW_M}-efc{HNSW_EF_CONSTRUCTION}"
    try:
        if kind == "faiss_hnsw":
            import faiss

            def build():
                index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
                index.add(database)
                return index

            return cache.artifact(name, build, lambda index, path: faiss.write_index(index, str(path)),
                                  lambda path: faiss.read_index(str(path)))
        if kind == "hnswlib":
            import hnswlib

            def build():
                index = hnswlib.Index(space="ip", dim=dim)
                index.init_index(max_elements=n, ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M)
                index.add_items(database, num_threads=os.cpu_count())
                return index

            def load(path):
                index = hnswlib.Index(space="ip", dim=dim)
                index.load_index(str(path), max_elements=n)
                return index

            return cache.artifact(name, build, lambda index, path: index.save_index(str(path)), load)
    except ImportError as error:
        return None, f"{error.name} not installed (pip install faiss-cpu hnswlib)"
    raise ValueError(f"unknown peer {kind!r}; expected faiss_hnsw or hnswlib")


def hnsw_search(kind, index, ef):
    def search(queries):
        if kind == "faiss_hnsw":
            index.hnsw.efSearch = ef
            return index.search(queries, 10)[1]
        index.set_ef(ef)
        return index.knn_query(queries, k=10, num_threads=os.cpu_count())[0]

    return search


def hnsw_settings(kind, index, queries, exact, target):
    """Smallest efSearch of the grid whose recall@10 on the held-out queries reaches target."""
    sweep = []
    for ef in EF_GRID:
        recall = recall_at_k(hnsw_search(kind, index, ef)(queries), exact)
        sweep.append({"ef_search": ef, "recall_at_10": recall})
        if recall >= target:
            return {"ef_search": ef, "recall_at_10": recall, "sweep": sweep}
    return {"ef_search": None, "recall_at_10": recall, "sweep": sweep}


# --------------------------------------------------------------- one data set

def load_data(dataset, args, cache):
    """(database, held-out queries, batch-overhead queries, exact top-10 of the held-out
    queries), from the cache when an earlier run with the same settings made them."""
    batch_queries = args.batch_queries if dataset == "clustered" else 0
    total = args.n + args.queries + batch_queries
    start = time.perf_counter()
    # One draw, so that database and queries share the same clusters.
    both, cached = cache.array("vectors", lambda: make_vectors(dataset, total, args.dim, args.clusters,
                                                                 seed=args.seed))
    log(f"{dataset}: {args.n:,} x {args.dim} + {args.queries + batch_queries:,} queries "
        f"{'read from the cache' if cached else 'generated'} in {time.perf_counter() - start:.1f}s")
    database, queries = both[:args.n], both[args.n:args.n + args.queries]
    start = time.perf_counter()
    exact, cached = cache.array("exact_top10", lambda: exact_top_k(database, queries, 10)[0])
    log(f"{dataset}: ground truth for {len(queries)} queries "
        f"{'read from the cache' if cached else 'computed'} in {time.perf_counter() - start:.1f}s")
    return database, queries, both[args.n + args.queries:], exact


def build_sharded(database, ids, args, cache):
    """The same items in ``args.shards`` ScaNN shards with the library defaults (cached; the
    cache name carries the defaults, so a change of defaults builds a new one)."""
    import hashlib
    import json

    from fashion_tf.retrieval import load_index
    from fashion_tf.retrieval.scann_tuning import build_defaults

    defaults = json.dumps(build_defaults(len(database) // args.shards), sort_keys=True)
    return cache.artifact(
        f"scann-sharded-{args.shards}-target{min(args.target_list)}-"
        f"{hashlib.sha1(defaults.encode()).hexdigest()[:8]}",
        lambda: build_index(ids, database, backend="scann", shards=args.shards,
                            target_recall=min(args.target_list)),
        lambda index, path: index.save(path), load_index)


def bench_dataset(report, dataset, args, peers, targets):
    k = 10
    cache = BenchCache(None if args.no_cache else args.cache_dir,
                       cache_key(dataset, args.n, args.dim, args.clusters,
                                 args.queries + (args.batch_queries if dataset == "clustered" else 0), args.seed),
                       refresh=args.refresh_cache)
    database, queries, batch_queries, exact = load_data(dataset, args, cache)
    exact_queries = queries[:args.exact_queries]

    ids = np.arange(args.n).astype(str).astype(object)
    start = time.perf_counter()
    index = build_index(ids, database, backend="scann", target_recall=min(targets))
    scann_build = time.perf_counter() - start
    log(f"{dataset}: scann built in {scann_build:.1f}s (library defaults): {index.params}")
    context = {"scann": {"build_s": scann_build, "params": dict(index.params),
                         "build_sample_recall_at_10": index.recall_at_10, "settings": {}},
               "exact": {"queries": len(exact_queries)}}
    comparison = Comparison(dataset, unit="queries/s")
    comparison.add("exact", timed(lambda: exact_top_k(database, exact_queries, k), work=len(exact_queries)))
    for target in targets:
        setting = scann_settings(index, queries, exact, target)
        context["scann"]["settings"][str(target)] = setting
        log(f"{dataset}: scann at recall >= {target}: {setting}")

        def scann_search(setting=setting):
            index.search_indices(queries, k, num_leaves_to_search=setting["num_leaves_to_search"],
                                 reorder_candidates=setting["reorder_candidates"])

        comparison.add(f"scann@{target}", timed(scann_search, work=len(queries), min_seconds=args.min_seconds))
        comparison.ratio(f"scann_vs_exact@{target}", f"scann@{target}", "exact")
    for peer in peers:
        log(f"{dataset}: {peer} (M={HNSW_M}, efConstruction={HNSW_EF_CONSTRUCTION})")
        peer_index, info = build_hnsw(peer, database, cache)
        if peer_index is None:
            context[peer] = {"skipped": info}
            continue
        context[peer] = {**info, "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION, "settings": {}}
        log(f"{dataset}: {peer} {'read from the cache' if info['from_cache'] else 'built'}: {info}")
        for target in targets:
            setting = hnsw_settings(peer, peer_index, queries, exact, target)
            context[peer]["settings"][str(target)] = setting
            log(f"{dataset}: {peer} at recall >= {target}: ef {setting['ef_search']} recall {setting['recall_at_10']:.4f}")
            if setting["ef_search"] is None:
                continue
            search = hnsw_search(peer, peer_index, setting["ef_search"])
            comparison.add(f"{peer}@{target}", timed(lambda search=search: search(queries), work=len(queries),
                                                     min_seconds=args.min_seconds))
            comparison.ratio(f"scann_vs_{peer}@{target}", f"scann@{target}", f"{peer}@{target}")
    main_target = min(targets)
    sharded = None
    if dataset == "clustered" and args.shards > 1:
        log(f"{dataset}: {args.shards} ScaNN shards (library defaults per shard)")
        sharded, info = build_sharded(database, ids, args, cache)
        found, _ = sharded.search_indices(queries, k)
        context["sharded"] = {**info, "shards": args.shards, "recall_at_10": recall_at_k(found, exact),
                              "shard_params": [{key: shard.params.get(key) for key in
                                                ("resolved_mode", "num_leaves", "num_leaves_to_search", "reorder_candidates")}
                                               for shard in sharded.shards]}
        log(f"{dataset}: sharded: {context['sharded']}")
        comparison.add(f"sharded@{main_target}", timed(lambda: sharded.search_indices(queries, k),
                                                       work=len(queries), min_seconds=args.min_seconds))
        comparison.ratio("sharded_vs_one_index", f"sharded@{main_target}", f"scann@{main_target}")
    if dataset == "clustered":
        comparison.target(f"scann_vs_exact@{main_target}", ">=", 100)
        if f"scann_vs_faiss_hnsw@{main_target}" in comparison._ratios:
            comparison.target(f"scann_vs_faiss_hnsw@{main_target}", ">=", 1.5,
                              note="faiss HNSW M=32, efConstruction=100, efSearch raised to the same recall")
    result = comparison.run(rounds=args.rounds)
    entry = report.add(dataset, result, **context)
    for ratio, values in entry["ratios"].items():
        log(f"{dataset}: {ratio} {fmt(values)}")
    if sharded is not None:
        report.data["sharded_recall_at_10"] = context["sharded"]["recall_at_10"]
        report.data["sharded_qps_ratio"] = entry["ratios"]["sharded_vs_one_index"]["median"]
        report.flag(f"{dataset}.sharded_recall_at_10>={main_target}", context["sharded"]["recall_at_10"] >= main_target)
        del sharded
    if dataset == "clustered":
        setting = context["scann"]["settings"][str(main_target)]
        # A short job (the batch queries once) shows the fixed start and end costs; the
        # target is for a job of batch size (the same queries ``--batch-repeat`` times).
        for name, repeat in (("batch_retrieve_overhead_short_job", 1),
                             ("batch_retrieve_overhead", args.batch_repeat)):
            job = np.tile(batch_queries, (repeat, 1))
            overhead = bench_batch_overhead(index, setting, job, k, args, target=repeat == args.batch_repeat)
            report.add(name, overhead, queries=len(job), distinct_queries=len(batch_queries),
                       note="ratio = raw ScaNN queries/s over batch_retrieve queries/s, i.e. 1 + overhead. "
                            "Both search the same unit-length float32 queries with the same searcher, k, "
                            "leaves and reorder shortlist, each call with the library's ScaNN batch size. "
                            "batch_retrieve's time is its whole job: reading the Parquet queries, the "
                            "unit-length check, the search in parts of 10,000, mapping rows to item ids and "
                            "writing the Parquet parts (and removing the previous call's parts, a few "
                            "files); raw ScaNN's is one in-memory search call on all the queries, no "
                            "reading or writing.")
            log(f"{name} ({len(job):,} queries): {fmt(overhead['ratios']['raw_vs_batch_retrieve'])}")


def bench_batch_overhead(index, setting, queries, k, args, target=True):
    """batch_retrieve (Parquet in/out, id mapping) vs the raw ScaNN searcher on one array,
    same searcher and settings; checks that both return the same items."""
    import pyarrow.parquet as pq

    index.params.update(num_leaves_to_search=setting["num_leaves_to_search"],
                        reorder_candidates=setting["reorder_candidates"])
    searcher = index.searcher
    leaves = setting["num_leaves_to_search"]
    pre = shortlist_size(setting["reorder_candidates"], k)  # as ScannIndex._search
    batch_size = index.search_batch_size(len(queries))  # one call on all queries
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        write_embeddings(work / "queries.parquet", [f"q{i}" for i in range(len(queries))], queries, None)

        def raw():
            return searcher.search_batched_parallel(queries, final_num_neighbors=k, pre_reorder_num_neighbors=pre,
                                                    leaves_to_search=leaves, batch_size=batch_size)

        def tool():
            shutil.rmtree(work / "out", ignore_errors=True)
            batch_retrieve(index, EmbeddingQueries(work / "queries.parquet", 10_000), work / "out", k,
                           progress=False)

        comparison = Comparison("batch_retrieve_overhead", unit="queries/s")
        comparison.add("raw_scann", timed(raw, work=len(queries)))
        comparison.add("batch_retrieve", timed(tool, work=len(queries)))
        comparison.ratio("raw_vs_batch_retrieve", "raw_scann", "batch_retrieve")
        if target:
            comparison.target("raw_vs_batch_retrieve", "<=", 1.10, note="batch_retrieve overhead <= 10%")
        result = comparison.run(rounds=args.rounds)
        written = pq.read_table(work / "out", columns=["item_id"]).column("item_id").to_numpy(zero_copy_only=False)
        result["same_items_as_raw"] = float(np.mean(written == index.ids[raw()[0].reshape(-1)]))
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="database vectors")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--clusters", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--queries", type=int, default=2000, help="held-out queries for recall and queries/s")
    parser.add_argument("--exact-queries", type=int, default=200, help="of those, timed with exact search")
    parser.add_argument("--batch-queries", type=int, default=30_000, help="queries for the batch overhead")
    parser.add_argument("--batch-repeat", type=int, default=4,
                        help="the batch overhead's target is for a job of the batch queries this many times over")
    parser.add_argument("--targets", default="0.95,0.99", help="recall@10 levels; the first carries the targets")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (>= 5)")
    parser.add_argument("--min-seconds", type=float, default=1.0,
                        help="each approximate method repeats its queries for at least this long per round")
    parser.add_argument("--datasets", default="clustered", help="comma list of clustered, random, clustered_flat")
    parser.add_argument("--peers", default="faiss_hnsw,hnswlib", help="comma list, or 'none'")
    parser.add_argument("--shards", type=int, default=8, help="shards of the sharded index (clustered; 1 = skip)")
    parser.add_argument("--cache-dir", default=str(DEFAULT_ROOT),
                        help="where data, ground truth, HNSW and sharded indexes are cached "
                             "(env FASHION_TF_BENCH_CACHE; default %(default)s)")
    parser.add_argument("--refresh-cache", action="store_true", help="rebuild and overwrite cached entries")
    parser.add_argument("--no-cache", action="store_true", help="compute everything, write no cache")
    parser.add_argument("--tag", default="", help="run name: writes results/retrieval_TAG.json and "
                                                  "results/retrieval.json (e.g. run1, run2)")
    parser.add_argument("--out", default=None, help="JSON path (default: see --tag)")
    args = parser.parse_args(argv)
    targets = sorted(float(t) for t in args.targets.split(","))
    args.target_list = targets
    peers = [] if args.peers == "none" else args.peers.split(",")
    out = Path(args.out) if args.out else RESULTS.with_name(f"retrieval_{args.tag}.json" if args.tag else RESULTS.name)
    report = Report(out, "retrieval: ScaNN vs exact vs HNSW at equal recall@10, interleaved rounds",
                    tag=args.tag, n=args.n, dim=args.dim, k=10, queries=args.queries,
                    exact_queries=args.exact_queries, batch_queries=args.batch_queries, batch_repeat=args.batch_repeat,
                    clusters=args.clusters,
                    seed=args.seed, recall_targets=targets, rounds=args.rounds, min_seconds=args.min_seconds,
                    shards=args.shards, cache=None if args.no_cache else args.cache_dir,
                    command=" ".join(["benchmarks/retrieval.py", *(argv if argv is not None else sys.argv[1:])]),
                    data=" ".join(make_vectors.__doc__.split("``clustered``")[1].split()))
    for dataset in args.datasets.split(","):
        bench_dataset(report, dataset, args, peers, targets)
    report.write()
    if args.tag and not args.out:
        shutil.copyfile(out, RESULTS)
    print(f"retrieval benchmark n={args.n:,}: targets met {report.data['targets_met']} -> {out} "
          f"({report.data['machine']['wall_seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
