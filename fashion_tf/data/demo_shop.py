"""The demo shop: a deterministic, seeded fashion catalog drawn with OpenCV (docs/design.md, "Data").

It is the embedded default data set, so that every command runs with no download:

* ``images/<item_id>.jpg``: product photos of garments (tops, dresses, skirts,
  trousers, shorts, shoes, bags, hats and their subtypes) in named colours, with
  textures (plain, striped, dotted, plaid, print) and details (pockets, buttons,
  collar, zipper), on plain light backgrounds (see ``demo_shop_draw``);
* ``true_masks/<item_id>.png``: the silhouettes as drawn (to grade ``masks.py``);
* ``items.parquet``: Amazon-style ``title`` ("Women's Navy Striped Maxi Dress with
  Pockets") and ``category`` ("Clothing, Shoes & Jewelry > Women > Clothing >
  Dresses > Maxi"), ``labels`` from the real label extraction (``labels.py``, with
  thresholds scaled to the catalog size), a seeded 70/15/15 ``split``, ``outfit_id``
  (a top and bottom or a dress, shoes and a bag or hat, coordinated by the rules of
  ``outfit_rules``: palette, shoes following the bottom, a shared style family),
  ``outfit_category`` (tops, bottoms, dresses, shoes, bags, hats) and ``mask``
  (computed by ``masks.ensure_masks``);
* ``interactions.parquet``: 2000 users with a hidden taste (two garment groups and a
  colour) who buy 5-7 items each, leaning on their taste and on the items'
  popularity, and rate them higher when an item matches their taste;
* ``queries.parquet`` + ``queries/<query_id>.jpg``: street-style photos of the
  test-split items, cut out with their true mask, scaled and rotated a little and
  pasted onto crops of the *query* photo pool, never a training background.

The same seed gives the same bytes. ``ensure_demo_shop`` generates once into the
cache (``$FASHION_TF_CACHE`` or ``~/.cache/fashion_tf``) and reuses it afterwards.

CLI: ``python -m fashion_tf.data.demo_shop --out DIR --items 800 --users 2000 --seed 0
[--image-size 128]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fashion_tf.data import outfit_rules, schema
from fashion_tf.data.demo_shop_draw import COLOURS, render_garment
from fashion_tf.data.photos import background_photos, default_cache_dir, random_crop

GENERATOR_VERSION = 5  # 3: phrase labels ("polka-dot", "tank-top"); 4: 2000 users, popularity-skewed purchases; 5: learnable outfit rules (outfit_rules.py)
ATTRIBUTE_COLUMNS = ("attr_category", "attr_subtype", "attr_colour", "attr_texture")
COMPLETE_FILE = "COMPLETE"
# Big enough that V5 learns categories and colours from scratch in a CPU demo
# (560 training images), small enough to draw in seconds.
DEFAULT_ITEMS = 800
DEFAULT_USERS = 2000
JPEG_QUALITY = 92
ROOT_CATEGORY = "Clothing, Shoes & Jewelry"

# subtype -> (group, title noun, category tail, genders, allowed details)
GARMENTS = {
    "t-shirt": ("tops", "T-Shirt", "Clothing > Tops & Tees > T-Shirts", ("Women", "Men"), ("pockets",)),
    "blouse": ("tops", "Blouse", "Clothing > Tops & Tees > Blouses", ("Women",), ("buttons", "collar")),
    "tank top": ("tops", "Tank Top", "Clothing > Tops & Tees > Tank Tops", ("Women", "Men"), ("pockets",)),
    "jacket": ("tops", "Jacket", "Clothing > Coats & Jackets", ("Women", "Men"),
               ("pockets", "buttons", "collar", "zipper")),
    "maxi dress": ("dresses", "Maxi Dress", "Clothing > Dresses > Maxi", ("Women",),
                   ("pockets", "buttons", "collar", "zipper")),
    "mini dress": ("dresses", "Mini Dress", "Clothing > Dresses > Mini", ("Women",),
                   ("pockets", "buttons", "collar")),
    "a-line skirt": ("skirts", "A-Line Skirt", "Clothing > Skirts > A-Line", ("Women",),
                     ("pockets", "buttons", "zipper")),
    "pencil skirt": ("skirts", "Pencil Skirt", "Clothing > Skirts > Pencil", ("Women",), ("zipper",)),
    "jeans": ("trousers", "Jeans", "Clothing > Jeans", ("Women", "Men"), ("pockets", "buttons", "zipper")),
    "chinos": ("trousers", "Chino Pants", "Clothing > Pants > Chinos", ("Women", "Men"), ("pockets", "buttons")),
    "shorts": ("shorts", "Shorts", "Clothing > Shorts", ("Women", "Men"), ("pockets", "buttons", "zipper")),
    "sneakers": ("shoes", "Sneakers", "Shoes > Fashion Sneakers", ("Women", "Men"), ()),
    "ankle boots": ("shoes", "Ankle Boots", "Shoes > Boots > Ankle & Bootie", ("Women", "Men"), ("zipper",)),
    "tote bag": ("bags", "Tote Bag", "Handbags & Wallets > Totes", ("Women",), ("pockets", "zipper")),
    "backpack": ("bags", "Backpack", "Accessories > Bags > Backpacks", ("Women", "Men"), ("pockets", "zipper")),
    "baseball cap": ("hats", "Baseball Cap", "Accessories > Hats & Caps > Baseball Caps", ("Women", "Men"), ()),
    "beanie": ("hats", "Beanie", "Accessories > Hats & Caps > Skullies & Beanies", ("Women", "Men"), ()),
}
GROUPS = ("tops", "dresses", "skirts", "trousers", "shorts", "shoes", "bags", "hats")
TEXTURE_WORDS = {"plain": "Solid", "striped": "Striped", "dotted": "Polka Dot",
                 "plaid": "Plaid", "print": "Floral Print"}
DETAIL_WORDS = {"pockets": "Pockets", "buttons": "Buttons", "collar": "Collar", "zipper": "Zipper"}


def _subtypes(groups, gender):
    return [s for s, g in GARMENTS.items() if g[0] in groups and gender in g[3]]


def _plan_outfits(n_items: int, rng: np.random.Generator) -> list[dict]:
    """Item specs, grouped in outfits that follow the rules of ``outfit_rules`` (palette,
    shoes following the bottom, a shared style family), until n_items exist."""
    specs: list[dict] = []
    outfit = 0
    while len(specs) < n_items:
        plan = outfit_rules.draw_outfit(rng)
        gender = plan["gender"]
        for role, colour in plan["roles"]:
            subtype = str(rng.choice(_subtypes(outfit_rules.ROLE_GROUPS[role], gender)))
            allowed = GARMENTS[subtype][4]
            details = sorted(d for d in allowed if rng.random() < 0.45)
            texture = outfit_rules.draw_texture(plan["family"], rng)
            second = str(rng.choice([c for c in COLOURS if c != colour]))
            specs.append({"outfit_id": f"outfit{outfit:05d}", "gender": gender, "subtype": subtype,
                          "colour": colour, "texture": texture, "details": details,
                          "second_colour": second})
        outfit += 1
    return specs[:n_items]


def title_of(spec: dict) -> str:
    """Amazon-style title, e.g. "Women's Navy Striped Maxi Dress with Pockets"."""
    noun = GARMENTS[spec["subtype"]][1]
    words = [f"{spec['gender']}'s", spec["colour"].capitalize(), TEXTURE_WORDS[spec["texture"]], noun]
    title = " ".join(words)
    details = [DETAIL_WORDS[d] for d in spec["details"]]
    if details:
        title += " with " + " and ".join(details)
    return title


def category_of(spec: dict) -> str:
    return f"{ROOT_CATEGORY} > {spec['gender']} > {GARMENTS[spec['subtype']][2]}"


def _assign_splits(n: int, rng: np.random.Generator) -> list[str]:
    """Exactly ~70/15/15 (at least one val and one test item once n >= 3)."""
    n_val = max(1, round(0.15 * n)) if n >= 3 else 0
    n_test = max(1, round(0.15 * n)) if n >= 3 else 0
    order = rng.permutation(n)
    split = np.array(["train"] * n, dtype=object)
    split[order[:n_val]] = "val"
    split[order[n_val:n_val + n_test]] = "test"
    return split.tolist()


def _write_image(path: Path, rgb: np.ndarray) -> None:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(data.tobytes())


def _write_png(path: Path, array: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(data.tobytes())


def _users(items: pd.DataFrame, specs: list[dict], n_users: int,
           rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """Users with a hidden taste (two garment groups + a colour) rating 5-7 items each.

    A user buys item i with probability proportional to popularity_i * exp(2 [group
    liked] + 3 [colour liked]): items sell unequally (a log-normal popularity, as in
    real shops, so popularity is a baseline worth beating), and a user's purchases
    lean on their taste without being confined to it. Returns (ratings, tastes) with
    tastes = {user_id: (groups, colour)}; only the ratings are written: the taste stays
    hidden, for recommenders to discover."""
    groups = np.array([GARMENTS[s["subtype"]][0] for s in specs])
    colours = np.array([s["colour"] for s in specs])
    ids = items["item_id"].to_numpy()
    popularity = rng.lognormal(0.0, 0.5, size=len(ids))
    rows, tastes = [], {}
    for u in range(n_users):
        liked_groups = set(rng.choice(GROUPS, size=2, replace=False).tolist())
        liked_colour = str(rng.choice(list(COLOURS)))
        tastes[f"user{u:04d}"] = (liked_groups, liked_colour)
        group_match = np.isin(groups, list(liked_groups))
        colour_match = colours == liked_colour
        weights = popularity * np.exp(2.0 * group_match + 3.0 * colour_match)
        n = min(int(rng.integers(5, 8)), len(ids))
        chosen = rng.choice(len(ids), size=n, replace=False, p=weights / weights.sum())
        times = np.sort(rng.integers(0, 30_000_000, size=n)) + 1_600_000_000
        for pick, ts in zip(chosen, times):
            score = 1.5 + 2.0 * group_match[pick] + 1.5 * colour_match[pick] + rng.normal(0, 0.6)
            rows.append({"user_id": f"user{u:04d}", "item_id": str(ids[pick]),
                         "rating": int(np.clip(np.rint(score), 1, 5)), "timestamp": int(ts)})
    return pd.DataFrame(rows, columns=list(schema.INTERACTION_COLUMNS)), tastes


def _street_photo(image: np.ndarray, mask: np.ndarray, photos: list[np.ndarray],
                  rng: np.random.Generator) -> np.ndarray:
    """Cut the item out with its true mask; paste it, scaled and rotated a little,
    onto a random crop of a query-pool photograph."""
    size = image.shape[0]
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    item, alpha = image[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    scale = rng.uniform(0.45, 0.8) * size / max(item.shape[:2])
    new_w, new_h = max(2, int(item.shape[1] * scale)), max(2, int(item.shape[0] * scale))
    item = cv2.resize(item, (new_w, new_h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (new_w, new_h), interpolation=cv2.INTER_AREA)
    background = random_crop(photos[int(rng.integers(len(photos)))], size, size, rng)

    # Rotation about the item's centre, then a random position.
    cx = rng.uniform(new_w / 2, max(new_w / 2, size - new_w / 2))
    cy = rng.uniform(new_h / 2, max(new_h / 2, size - new_h / 2))
    matrix = cv2.getRotationMatrix2D((new_w / 2, new_h / 2), float(rng.uniform(-12, 12)), 1.0)
    matrix[:, 2] += (cx - new_w / 2, cy - new_h / 2)
    item = cv2.warpAffine(item, matrix, (size, size), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(alpha, matrix, (size, size), flags=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0).astype(np.float32)[..., None] / 255.0
    light = rng.uniform(0.85, 1.1)  # street lighting differs from the studio
    out = alpha * np.clip(item * light, 0, 255) + (1 - alpha) * background
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def label_thresholds(n_items: int) -> tuple[int, int]:
    """(min_count, final_count) for a catalog of this size (see labels.scaled_thresholds)."""
    from fashion_tf.data.labels import scaled_thresholds

    return scaled_thresholds(n_items)


def _clear(out: Path) -> None:
    """Remove what a previous generation wrote (only our own entries)."""
    for name in (COMPLETE_FILE, schema.ITEMS_FILE, schema.INTERACTIONS_FILE, schema.QUERIES_FILE,
                 schema.LABELS_FILE):
        (out / name).unlink(missing_ok=True)
    for name in (schema.IMAGES_DIR, schema.MASKS_DIR, schema.TRUE_MASKS_DIR, schema.QUERY_IMAGES_DIR):
        if (out / name).is_dir():
            shutil.rmtree(out / name)


def _parameters(items, users, seed, image_size) -> dict:
    return {"generator_version": GENERATOR_VERSION, "items": int(items), "users": int(users),
            "seed": int(seed), "image_size": int(image_size)}


def _stage(timer, name: str):
    """``timer.stage(name)`` of a ``fashion_tf.stage_timer.StageTimer``, or nothing."""
    return timer.stage(name) if timer is not None else contextlib.nullcontext()


def generate_demo_shop(out, items: int = DEFAULT_ITEMS, users: int = DEFAULT_USERS, seed: int = 0,
                       image_size: int = 128, progress: bool = False, timer=None) -> Path:
    """Generate the demo shop into ``out`` (replacing a previous one); returns the path.

    ``timer``: a ``StageTimer`` that gets a "generate shop" and a "masks" stage."""
    from fashion_tf.data.masks import ensure_masks

    if items < 1 or users < 0 or image_size < 32:
        raise ValueError(f"demo shop needs items >= 1, users >= 0 and image_size >= 32; "
                         f"got items={items}, users={users}, image_size={image_size}")
    with _stage(timer, "generate shop"):
        out = _draw_shop(Path(out), items, users, seed, image_size, progress)
    with _stage(timer, "masks"):
        ensure_masks(out)
    (out / COMPLETE_FILE).write_text(json.dumps(_parameters(items, users, seed, image_size),
                                                sort_keys=True) + "\n")
    return out


def _draw_shop(out: Path, items: int, users: int, seed: int, image_size: int, progress: bool) -> Path:
    """Everything but the masks: images, true masks, tables, labels, street photos."""
    from fashion_tf.data.catalog import save_catalog
    from fashion_tf.data.labels import label_catalog

    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    for name in (schema.IMAGES_DIR, schema.TRUE_MASKS_DIR, schema.QUERY_IMAGES_DIR):
        (out / name).mkdir()

    # Independent streams: changing the number of users does not change the items.
    plan_rng, split_rng, user_rng, query_rng = (np.random.default_rng([seed, k]) for k in range(4))
    specs = _plan_outfits(items, plan_rng)
    rows, drawn = [], {}
    start = time.monotonic()
    for index, spec in enumerate(specs):
        item_id = f"item{index:05d}"
        image, mask = render_garment(spec["subtype"], spec["colour"], spec["texture"],
                                     spec["details"], image_size,
                                     np.random.default_rng([seed, 100, index]),
                                     second_colour=spec["second_colour"])
        _write_image(out / schema.IMAGES_DIR / f"{item_id}.jpg", image)
        _write_png(out / schema.TRUE_MASKS_DIR / f"{item_id}.png", mask)
        drawn[item_id] = (image, mask)
        rows.append({"item_id": item_id, "image": f"{schema.IMAGES_DIR}/{item_id}.jpg",
                     "category": category_of(spec), "title": title_of(spec), "labels": [],
                     "split": None, "domain": "shop", "outfit_id": spec["outfit_id"],
                     "outfit_category": outfit_rules.ROLE_OF_GROUP[GARMENTS[spec["subtype"]][0]],
                     # ground truth the generator knows, for retrieval evaluation
                     "attr_category": GARMENTS[spec["subtype"]][0], "attr_subtype": spec["subtype"],
                     "attr_colour": spec["colour"], "attr_texture": spec["texture"]})
        if progress and (index + 1) % 100 == 0:
            print(f"\rdrawing {index + 1}/{items} ({time.monotonic() - start:.1f}s)",
                  end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    # No "mask" column yet: ensure_masks adds it once the masks exist.
    table = pd.DataFrame(rows, columns=[c for c in schema.ITEM_COLUMNS if c != "mask"] + list(ATTRIBUTE_COLUMNS))
    table["split"] = _assign_splits(items, split_rng)

    # A shop without users (users=0) has no interactions table at all, not an empty one.
    interactions = _users(table, specs, users, user_rng)[0] if users > 0 else None
    photos = background_photos("query")
    queries = []
    for item_id in table.loc[table["split"] == "test", "item_id"]:
        query_id = f"query{len(queries):05d}"
        photo = _street_photo(*drawn[item_id], photos, query_rng)
        _write_image(out / schema.QUERY_IMAGES_DIR / f"{query_id}.jpg", photo)
        queries.append({"query_id": query_id, "image": f"{schema.QUERY_IMAGES_DIR}/{query_id}.jpg",
                        "item_id": item_id})
    queries = pd.DataFrame(queries, columns=list(schema.QUERY_COLUMNS))

    save_catalog(table, out, interactions=interactions, queries=queries)
    min_count, final_count = label_thresholds(items)
    label_catalog(out, min_count=min_count, final_count=final_count)
    return out


def is_complete(out, **parameters) -> bool:
    """True when ``out`` holds a finished demo shop generated with these parameters."""
    marker = Path(out) / COMPLETE_FILE
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()) == _parameters(**parameters)
    except (ValueError, TypeError):
        return False


def default_shop_dir(items: int = DEFAULT_ITEMS, users: int = DEFAULT_USERS, seed: int = 0, image_size: int = 128) -> Path:
    """The cache folder of one parameter set: <cache>/demo_shop/items800-users2000-seed0-px128."""
    return default_cache_dir() / "demo_shop" / f"items{items}-users{users}-seed{seed}-px{image_size}"


def ensure_demo_shop(out=None, items: int = DEFAULT_ITEMS, users: int = DEFAULT_USERS, seed: int = 0,
                     image_size: int = 128, progress: bool = False, timer=None) -> Path:
    """The demo shop at ``out`` (default: a folder per parameter set in the cache),
    generated only when it is missing, incomplete or made with other parameters."""
    params = {"items": items, "users": users, "seed": seed, "image_size": image_size}
    if out is None:
        out = default_shop_dir(**params)
    if is_complete(out, **params):
        return Path(out)
    return generate_demo_shop(out, progress=progress, timer=timer, **params)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.data.demo_shop",
                                     description="Generate the deterministic demo fashion shop.")
    parser.add_argument("--out", default=None, help="output directory (default: the cache)")
    parser.add_argument("--items", type=int, default=DEFAULT_ITEMS)
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--force", action="store_true", help="regenerate even if complete")
    args = parser.parse_args(argv)
    start = time.monotonic()
    params = {"items": args.items, "users": args.users, "seed": args.seed, "image_size": args.image_size}
    if args.force:
        out = generate_demo_shop(args.out or default_shop_dir(**params), progress=True, **params)
    else:
        out = ensure_demo_shop(args.out, progress=True, **params)
    from fashion_tf.data.catalog import load_catalog

    catalog = load_catalog(out)
    n_queries = 0 if catalog.queries is None else len(catalog.queries)
    n_ratings = 0 if catalog.interactions is None else len(catalog.interactions)
    print(f"demo shop: {len(catalog.items)} items, {len(catalog.vocabulary or [])} labels, "
          f"{n_ratings} ratings, {n_queries} queries in {time.monotonic() - start:.1f}s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
