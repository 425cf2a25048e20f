"""Triplets from outfits, as a tf.data pipeline (README, "Complete the look").

Almanassra et al., "Image style embedding based Fashion Recommendation System",
section 2.2.2 (after He, Packer & McAuley): an **anchor** is an item of an outfit, the
**positive** an item of *another category* of the same outfit, the **negative** an item
of the *positive's category* from another outfit. The negative thus differs from the
positive only in not belonging with the anchor, so the embedding has to learn style,
not category.

Outfit membership comes from ``outfits.parquet`` when the catalog has one (Polyvore:
an item may be in several outfits) and from ``items.parquet``'s ``outfit_id``
otherwise. Categories are the ``outfit_category`` column when present, else the first
level of ``category`` (Polyvore's semantic category). Evaluation must hold out whole
outfits: when a catalog's item splits cut through outfits (the demo shop splits items
70/15/15 for the feature extractors), outfits are split 70/15/15 by a hash of their id.

Triplets are drawn afresh every epoch (numpy, seeded) and fed through tf.data: three
images per triplet are read with the evaluation decoder, batched as one
``[3B, S, S, 3]`` tensor (anchors, then positives, then negatives) and, in training,
optionally background-augmented like the extractors' images (paper 3.1 of the
single-item recommender) with the same fused kernel (``train_augment.augment_batch``).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from fashion_tf.data import schema

SPLIT_SHARES = (("train", 0.70), ("val", 0.15), ("test", 0.15))


def hashed_split(outfit_id: str) -> str:
    """70/15/15 split of an outfit by a hash of its id (stable across runs and machines)."""
    unit = int(hashlib.sha256(str(outfit_id).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for name, share in SPLIT_SHARES:
        edge += share
        if unit < edge:
            return name
    return SPLIT_SHARES[-1][0]


def outfit_categories(items: pd.DataFrame) -> pd.Series:
    """The category an outfit model sees per item (see module docstring)."""
    if "outfit_category" in items.columns and items["outfit_category"].notna().all():
        return items["outfit_category"].astype(str)
    return items["category"].astype(str).str.split(">").str[0].str.strip()


@dataclass
class OutfitTable:
    """Items that belong to outfits: one row per (outfit, item) membership.

    Attributes:
        items: the catalog rows of those items (index 0..N-1), with ``category_index``.
        members: columns ``outfit``, ``item`` (row of ``items``), ``split``.
        categories: sorted category names (``category_index`` points into it).
        root: the catalog directory.
    """

    items: pd.DataFrame
    members: pd.DataFrame
    categories: list[str]
    root: Path

    def paths(self) -> np.ndarray:
        return np.array([str(self.root / p) for p in self.items["image"]])

    def compatible_categories(self) -> np.ndarray:
        """bool [C, C]: category j appears in a training outfit with category i (i != j).

        "Complete the look" recommends only these (a top gets bottoms, shoes, a bag or
        hat, but no dress)."""
        train = self.members[self.members["split"] == "train"]
        cats = self.items["category_index"].to_numpy()[train["item"].to_numpy()]
        table = np.zeros((len(self.categories),) * 2, bool)
        for _, group in pd.Series(cats).groupby(train["outfit"].to_numpy()):
            present = np.unique(group.to_numpy())
            table[np.ix_(present, present)] = True
        np.fill_diagonal(table, False)
        return table


def outfit_table(catalog) -> OutfitTable:
    """The outfits of a catalog (a ``Catalog``); ValueError when it has none."""
    root = Path(catalog.root)
    items = catalog.items
    outfits_file = root / schema.OUTFITS_FILE
    if outfits_file.is_file():
        members = pd.read_parquet(outfits_file)[["outfit_id", "item_id", "split"]]
        members = members[members["item_id"].isin(set(items["item_id"]))]
    elif "outfit_id" in items.columns:
        members = items.loc[items["outfit_id"].notna() & (items["outfit_id"].astype(str) != ""),
                            ["outfit_id", "item_id", "split"]]
    else:
        raise ValueError(f"{root / schema.ITEMS_FILE}: no outfit_id column and no {schema.OUTFITS_FILE}; "
                         "the complete-the-look model trains on outfits")
    members = members.astype({"outfit_id": str, "item_id": str})
    if members.empty:
        raise ValueError(f"{root}: no item belongs to an outfit")
    # Hold out whole outfits: keep the catalog's split only if no outfit spans two.
    if (members.groupby("outfit_id")["split"].nunique() > 1).any():
        members = members.assign(split=members["outfit_id"].map(hashed_split))
    used = items[items["item_id"].isin(set(members["item_id"]))].reset_index(drop=True)
    categories = outfit_categories(used)
    names = sorted(categories.unique())
    used = used.assign(outfit_category=categories.to_numpy(),
                       category_index=categories.map({n: i for i, n in enumerate(names)}).to_numpy())
    row_of = pd.Series(np.arange(len(used)), index=used["item_id"].to_numpy())
    table = pd.DataFrame({"outfit": members["outfit_id"].to_numpy(),
                          "item": row_of.loc[members["item_id"]].to_numpy(),
                          "split": members["split"].to_numpy()})
    return OutfitTable(items=used, members=table.reset_index(drop=True), categories=names, root=root)


def sample_triplets(table: OutfitTable, split: str, rng: np.random.Generator,
                    per_anchor: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(int64 [T, 3] item rows (anchor, positive, negative), [T] the anchor's outfit),
    drawn within ``split``.

    Every membership with another-category item in its outfit is an anchor
    ``per_anchor`` times; the positive is uniform over the other-category items of the
    outfit; the negative is uniform over the split's items of the positive's category
    that are not in the anchor's outfit (triplets without such an item are dropped).
    """
    members = table.members[table.members["split"] == split]
    cats = table.items["category_index"].to_numpy()
    by_outfit = {o: g["item"].to_numpy() for o, g in members.groupby("outfit", sort=True)}
    pool = {c: np.unique(g["item"].to_numpy()) for c, g in
            members.assign(c=cats[members["item"].to_numpy()]).groupby("c")}
    out, outfits = [], []
    for outfit, rows in by_outfit.items():
        outfit_items = set(rows.tolist())
        for anchor in rows:
            others = rows[cats[rows] != cats[anchor]]
            if len(others) == 0:
                continue
            for _ in range(per_anchor):
                positive = int(others[rng.integers(len(others))])
                candidates = pool[cats[positive]]
                # rejection keeps this O(1) when most candidates qualify (they do)
                negative = None
                for _attempt in range(20):
                    pick = int(candidates[rng.integers(len(candidates))])
                    if pick not in outfit_items:
                        negative = pick
                        break
                if negative is None:
                    rest = [c for c in candidates if c not in outfit_items]
                    if not rest:
                        continue
                    negative = int(rest[rng.integers(len(rest))])
                out.append((int(anchor), positive, negative))
                outfits.append(outfit)
    return np.asarray(out, np.int64).reshape(-1, 3), np.asarray(outfits, dtype=object)


def triplet_dataset(table: OutfitTable, split: str, image_size: int, batch_size: int, *,
                    training: bool = False, background_p: float = 0.0, seed: int = 0,
                    per_anchor: int = 1, background_files=None) -> tf.data.Dataset:
    """Batches of ``(images [3B, S, S, 3] float32 0-255, targets)``.

    ``targets`` = {"style_embedding": int64 [3B, 2] (outfit id, category) per image,
    "category_probs": int64 [3B] category}: the triplet loss reads outfit and category
    for semi-hard mining, the category head learns the category. Rows 0..B-1 are the
    anchors, B..2B-1 the positives, 2B..3B-1 the negatives. Training redraws the
    triplets every epoch (seeded); evaluation always yields the same ones.
    """
    from fashion_tf.data.augment_settings import AugmentationSettings
    from fashion_tf.data.augmented_batches import augment_batches
    from fashion_tf.data.pipeline import _mask_paths, _read_image_and_mask

    # Background paste only: the trainer adds no standard augmentation (colour jitter
    # would change the outfit colours).
    augment = AugmentationSettings(augmentation="none", background_p=background_p, background_files=background_files)

    paths = table.paths()
    cats = table.items["category_index"].to_numpy().astype(np.int64)
    # the anchor's outfit: its membership row; positives share it; a negative's outfit
    # is any of its own (only "not the anchor's" matters to the loss)
    outfit_codes = {name: i for i, name in enumerate(sorted(table.members["outfit"].unique()))}
    first_outfit = table.members.drop_duplicates("item").set_index("item")["outfit"]
    use_background = augment.pastes(training)
    masks = np.array(_mask_paths(_CatalogView(table), table.items)) if use_background else np.array([""] * len(paths))
    negative_outfit = first_outfit.map(outfit_codes).reindex(range(len(paths))).to_numpy(np.int64)
    rng = np.random.default_rng([seed, 7])
    fixed = None if training else sample_triplets(table, split, np.random.default_rng([seed, 11]), per_anchor)
    probe = fixed if fixed is not None else sample_triplets(table, split, np.random.default_rng(0))
    if len(probe[0]) == 0:
        raise ValueError(f"{table.root}: no triplets in split {split!r} (outfits need items of two categories)")

    def epoch():
        rows, outfits = fixed if fixed is not None else sample_triplets(table, split, rng, per_anchor)
        order = rng.permutation(len(rows)) if training else np.arange(len(rows))
        anchor_outfit = np.array([outfit_codes[o] for o in outfits], np.int64)
        for t in order:
            negative = rows[t, 2]
            yield rows[t], np.array([anchor_outfit[t], anchor_outfit[t], negative_outfit[negative]], np.int64)

    ds = tf.data.Dataset.from_generator(epoch, output_signature=(
        tf.TensorSpec([3], tf.int64), tf.TensorSpec([3], tf.int64)))
    paths_t, masks_t, cats_t = tf.constant(paths), tf.constant(masks), tf.constant(cats)

    def load(rows, outfits):
        images, image_masks = [], []
        for r in range(3):
            image, mask = _read_image_and_mask(tf.gather(paths_t, rows[r]), tf.gather(masks_t, rows[r]),
                                               image_size, use_background, as_uint8=use_background)
            images.append(image)
            image_masks.append(mask)
        return tf.stack(images), tf.stack(image_masks), tf.gather(cats_t, rows), outfits

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size)

    def flatten(images, image_masks, categories, outfits):
        # [B, 3, ...] -> [3B, ...] ordered anchors, positives, negatives
        def roles(x):
            return tf.concat([x[:, 0], x[:, 1], x[:, 2]], axis=0)
        return roles(images), roles(image_masks), roles(categories), roles(outfits)

    ds = augment_batches(ds.map(flatten), image_size, augment, training=training, seed=seed)

    def targets(images, categories, outfits):
        return tf.cast(images, tf.float32), {
            "style_embedding": tf.stack([outfits, categories], axis=1), "category_probs": categories}

    return ds.map(targets).prefetch(tf.data.AUTOTUNE)


class _CatalogView:
    """What ``pipeline._mask_paths`` needs of a catalog: its root."""

    def __init__(self, table: OutfitTable):
        self.root = table.root
