"""Queries of the objective-guided human score and every system's top-10 for them.

Paper section 4.5: fifty query images of mixed complexity with a Shop/Street ratio of
2/3 go through every system, and each system's top-10 is kept for the sheets. Here the
shop queries are test-split catalog items (unseen in training; the item itself is left
out of its own results) and the street queries are the catalog's street photos of
held-out items (``queries.parquet``), drawn with a seed so that a rerun shows the same
sheets. Every run must use the same catalog: the systems are compared on the same
items.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from fashion_tf.data.catalog import Catalog
from fashion_tf.embed import embed_image_files, run_catalog
from fashion_tf.retrieval import BruteForceIndex
from fashion_tf.run_index import catalog_embeddings
from fashion_tf.runs import Run

STREET_SHARE = 0.6  # paper: Shop/Street ratio 2/3
TOP_K = 10


@dataclasses.dataclass(frozen=True)
class OhsQuery:
    """One sheet's query: its public id (q01...), domain, image and the item it shows."""

    query: str
    domain: str  # "shop" or "street"
    image: str  # absolute path
    item_id: str


def system_names(runs: list[Run]) -> list[str]:
    """Readable, unique names: "v5 (demo_v5)", made unique with a number if needed."""
    names = []
    for run in runs:
        name = f"{run.name} ({Path(run.path).name})"
        if name in names:
            name = f"{name} #{sum(n.startswith(name) for n in names) + 1}"
        names.append(name)
    return names


def shared_catalog(runs: list[Run], catalog_dir=None) -> Catalog:
    """The one catalog every run is scored on (``catalog_dir`` or the runs' own)."""
    if catalog_dir is None:
        roots = {str(Path(r.catalog_dir).resolve()) if r.catalog_dir else None for r in runs}
        if len(roots) > 1:
            raise ValueError("the runs were trained on different catalogs "
                             f"({', '.join(sorted(str(r) for r in roots))}); pass --catalog DIR to score all on one")
    return run_catalog(runs[0], catalog_dir)


def choose_queries(catalog: Catalog, count: int | None = None, street_share: float = STREET_SHARE,
                   seed: int = 0) -> list[OhsQuery]:
    """``count`` seeded queries, ``street_share`` of them street photos (as many as the
    catalog has), the rest test-split shop images; ``count=None`` takes them all.
    The order is shuffled so that easy and hard queries mix on the sheets."""
    test = catalog.items[catalog.items["split"] == "test"]
    shop = [("shop", str(catalog.path(image)), str(item)) for image, item in zip(test["image"], test["item_id"])]
    streets = catalog.queries if catalog.queries is not None else None
    street = [] if streets is None else [
        ("street", str(catalog.path(image)), str(item)) for image, item in zip(streets["image"], streets["item_id"])]
    if not shop and not street:
        raise ValueError(f"{catalog.root}: no test-split items and no street queries to use as OHS queries")
    rng = np.random.default_rng(seed)
    if count is None:
        chosen = shop + street
    else:
        if count < 1:
            raise ValueError(f"--queries must be at least 1, got {count}")
        n_street = min(len(street), round(count * street_share))
        n_shop = min(len(shop), count - n_street)
        n_street = min(len(street), count - n_shop)  # fill up with street photos if the shop is short
        chosen = [shop[i] for i in sorted(rng.choice(len(shop), n_shop, replace=False))] + \
                 [street[i] for i in sorted(rng.choice(len(street), n_street, replace=False))]
    order = rng.permutation(len(chosen))
    width = max(2, len(str(len(chosen))))
    return [OhsQuery(f"q{n + 1:0{width}d}", *chosen[i]) for n, i in enumerate(order)]


def top_k_results(run: Run, catalog: Catalog, queries: list[OhsQuery], k: int = TOP_K) -> np.ndarray:
    """Item ids [Q, k] that ``run`` recommends for each query (exact cosine search).

    A shop query is its catalog embedding with the item itself removed from the
    results; a street photo is embedded from its file.
    """
    ids, vectors = catalog_embeddings(run, catalog)
    index = BruteForceIndex()
    index.add(ids, vectors)
    position = {item_id: i for i, item_id in enumerate(ids)}
    street_vectors = embed_image_files(run, [q.image for q in queries if q.domain == "street"])
    rows, exclude = [], []
    for query in queries:
        if query.domain == "shop":
            if query.item_id not in position:
                raise ValueError(f"{query.image}: shop query {query.query} (item {query.item_id}) has no embedding: "
                                 "its image could not be read")
            rows.append(vectors[position[query.item_id]])
            exclude.append(query.item_id)
        elif query.image in street_vectors:
            rows.append(street_vectors[query.image])
            exclude.append(None)
        else:
            raise ValueError(f"{query.image}: street query {query.query} could not be read")
    found, _ = index.search(np.stack(rows), min(k + 1, len(ids)))
    return np.array([[r for r in row if r != skip][:k] for row, skip in zip(found, exclude)], dtype=object)
