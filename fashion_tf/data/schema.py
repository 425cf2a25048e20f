"""The data contracts of docs/design.md, "Data", in one place.

A catalog directory holds ``items.parquet`` (one row per image), optionally
``interactions.parquet`` (user ratings), ``queries.parquet`` (street photos of
catalog items), ``labels.json`` (the label vocabulary with frequencies), and the
image files the tables point to, by paths relative to the directory.
"""

ITEMS_FILE = "items.parquet"
INTERACTIONS_FILE = "interactions.parquet"
QUERIES_FILE = "queries.parquet"
LABELS_FILE = "labels.json"
IMAGES_DIR = "images"
MASKS_DIR = "masks"  # cached foreground masks: masks/<item_id>.png, uint8 0/255
TRUE_MASKS_DIR = "true_masks"  # demo shop only: the silhouettes it drew
QUERY_IMAGES_DIR = "queries"

SPLITS = ("train", "val", "test")
DOMAINS = ("shop", "street")

# column -> (kind, required). kinds: "str", "list[str]", "int", "float".
ITEM_COLUMNS = {
    "item_id": ("str", True),
    "image": ("str", True),
    "category": ("str", True),
    "title": ("str", True),
    "labels": ("list[str]", True),
    "split": ("str", True),
    "domain": ("str", True),
    "outfit_id": ("str", False),
    # coarse category for outfit models ("tops", "bottoms", "shoes", ...); when absent
    # they use the first level of `category` (Polyvore's semantic category)
    "outfit_category": ("str", False),
    "mask": ("str", False),
}

INTERACTION_COLUMNS = {
    "user_id": ("str", True),
    "item_id": ("str", True),
    "rating": ("int", True),
    "timestamp": ("int", True),
}

# A street query shows one catalog item (item_id) in a photograph (image).
QUERY_COLUMNS = {
    "query_id": ("str", True),
    "image": ("str", True),
    "item_id": ("str", True),
}

# Outfit memberships (Polyvore import): an item may belong to several outfits, while
# items.parquet's outfit_id holds only the first.
OUTFITS_FILE = "outfits.parquet"
OUTFIT_COLUMNS = {
    "outfit_id": ("str", True),
    "item_id": ("str", True),
    "index": ("int", True),
    "split": ("str", True),
}
CLEANING_REPORT_FILE = "cleaning_report.csv"
