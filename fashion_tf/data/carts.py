"""Rating-weighted carts from ``interactions.parquet`` and their leave-last-out split.

The personalizer (Mohammadi, Bodaghi & Kalhor, *Single-Item Fashion Recommender*,
section 3, eq. 3 and section 4.4) recommends from what a user bought and how they
rated it. The held-out positive of each user is their *last* purchase by timestamp;
everything the user bought before it is the cart. Training never sees a test
purchase: its examples are built from the earlier purchases only, each of them in
turn the positive with the others as the cart (a cart is a bag, order plays no role
in eq. 3). A small share of users is kept apart for validation.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

Cart = list[tuple[str, float]]


@dataclasses.dataclass
class CartExamples:
    """Carts with one positive item each: ``carts[i]`` -> ``positives[i]`` (of ``users[i]``)."""

    users: list[str]
    carts: list[Cart]
    positives: list[str]

    def __len__(self) -> int:
        return len(self.positives)


@dataclasses.dataclass
class CartSplit:
    """Leave-last-out: ``train``/``val`` examples from earlier purchases, ``test`` = each
    user's earlier purchases as the cart and their last purchase as the positive."""

    train: CartExamples
    val: CartExamples
    test: CartExamples
    train_interactions: pd.DataFrame  # every purchase but each user's last (for popularity and MF)


def purchases_by_user(interactions: pd.DataFrame, known_items=None) -> dict[str, list[tuple[str, float]]]:
    """user -> [(item_id, rating), ...] in time order; items outside ``known_items``,
    ratings <= 0 and repeat purchases of the same item (first kept) are dropped."""
    missing = {"user_id", "item_id", "rating", "timestamp"} - set(interactions.columns)
    if missing:
        raise ValueError(f"interactions: columns {sorted(missing)} missing; expected user_id, item_id, rating, timestamp")
    table = interactions.astype({"user_id": str, "item_id": str})
    table = table[table["rating"].astype(float) > 0]
    if known_items is not None:
        table = table[table["item_id"].isin(set(map(str, known_items)))]
    table = table.sort_values(["user_id", "timestamp"], kind="stable").drop_duplicates(["user_id", "item_id"])
    return {user: list(zip(group["item_id"], group["rating"].astype(float)))
            for user, group in table.groupby("user_id", sort=True)}


def leave_last_out(interactions: pd.DataFrame, known_items=None, val_fraction: float = 0.1,
                   min_purchases: int = 3, seed: int = 0) -> CartSplit:
    """Split purchases for the personalizer (see the module docstring).

    Users with fewer than ``min_purchases`` usable purchases are skipped: the test needs
    a cart and a positive, training at least two earlier purchases.
    """
    users = {u: p for u, p in purchases_by_user(interactions, known_items).items() if len(p) >= min_purchases}
    if not users:
        raise ValueError(f"interactions: no user with at least {min_purchases} purchases of known items")
    names = sorted(users)
    rng = np.random.default_rng(seed)
    val_users = set(rng.choice(names, size=round(val_fraction * len(names)), replace=False).tolist())
    train, val, test = CartExamples([], [], []), CartExamples([], [], []), CartExamples([], [], [])
    kept_rows = []
    for user in names:
        purchases = users[user]
        earlier, (last_item, _) = purchases[:-1], purchases[-1]
        test.users.append(user)
        test.carts.append(list(earlier))
        test.positives.append(last_item)
        kept_rows.extend((user, item, rating) for item, rating in earlier)
        target = val if user in val_users else train
        for position, (item, _) in enumerate(earlier):
            target.users.append(user)
            target.carts.append(earlier[:position] + earlier[position + 1:])
            target.positives.append(item)
    train_interactions = pd.DataFrame(kept_rows, columns=["user_id", "item_id", "rating"])
    return CartSplit(train, val, test, train_interactions)
