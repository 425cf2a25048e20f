"""Import a public fashion dataset or an image folder as a catalog directory.

    python tools/import_catalog.py --format amazon --src data/amazon --images data/amazon/images --out cat/
    python tools/import_catalog.py --format fashion-product-images --src data/fashion-dataset --out cat/ --labels-from attributes
    python tools/import_catalog.py --format hm --src data/hm --out cat/ --since 2020-06-01
    python tools/import_catalog.py --format deepfashion --src data/inshop --out cat/ --clean --labels
    python tools/import_catalog.py --format polyvore --src data/polyvore_outfits --out cat/
    python tools/import_catalog.py --format folder --src my_photos/ --out cat/

Optional steps, in the paper's order (section 4.2): --clean (drop unreadable, tiny,
empty, near-duplicate images), then --labels (label extraction; --labels-from picks
titles, structured attributes or both). Prints what was imported and skipped as a
table; the same report is in <out>/import_report.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fashion_tf.data.importers import (
    ATTRIBUTE_COLUMNS,
    FORMATS,
    IMAGE_MODES,
    LABEL_SOURCES,
    import_catalog,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--src", required=True,
                        help="amazon: folder with meta_<Category>.json[l][.gz] + reviews, or "
                             "the metadata file; fashion-product-images: the unzipped "
                             "download or styles.csv; hm: folder with articles.csv, "
                             "transactions_train.csv, images/; deepfashion: dataset root "
                             "or list_eval_partition.txt; polyvore: folder with "
                             "polyvore_item_metadata.json; folder: images")
    parser.add_argument("--out", required=True, help="catalog directory to write")
    parser.add_argument("--images", default=None, help="folder of the source images")
    parser.add_argument("--reviews", default=None,
                        help="amazon: the reviews JSON-lines file or ratings-only CSV")
    parser.add_argument("--transactions", default=None,
                        help="hm: transactions_train.csv (default: next to articles.csv)")
    parser.add_argument("--no-transactions", action="store_true",
                        help="hm: import the articles only")
    parser.add_argument("--since", default=None,
                        help="hm: keep purchases on or after this date (YYYY-MM-DD)")
    parser.add_argument("--chunk-rows", type=int, default=200_000,
                        help="hm: transaction rows read at a time")
    parser.add_argument("--version", default="nondisjoint", help="polyvore: nondisjoint|disjoint")
    parser.add_argument("--image-mode", default=None, choices=IMAGE_MODES,
                        help="how images enter the catalog (default: hard link, else copy)")
    parser.add_argument("--clean", action="store_true", help="run cleaning after importing")
    parser.add_argument("--min-side", type=int, default=64, help="cleaning: smallest side in px")
    parser.add_argument("--labels", action="store_true", help="run label extraction")
    parser.add_argument("--labels-from", default=None, choices=LABEL_SOURCES,
                        help="label source (implies --labels): titles (category + title), "
                             "attributes (the data set's structured attributes) or both; "
                             "default both where the data set has attributes, else titles")
    parser.add_argument("--min-count", type=int, default=50)
    parser.add_argument("--final-count", type=int, default=100)
    parser.add_argument("--synonyms", default=None, help="labels: synonym table (JSON/YAML)")
    parser.add_argument("--report", default=None,
                        help="also write the import report (JSON) to this file")
    return parser.parse_args(argv)


def importer_options(args: argparse.Namespace) -> dict:
    """The keyword options of ``import_catalog`` that apply to ``args.format``."""
    options: dict = {}
    if args.image_mode:
        options["image_mode"] = args.image_mode
    if args.format == "amazon" and args.reviews:
        options["reviews"] = args.reviews
    if args.format == "hm":
        options.update(since=args.since, chunk_rows=args.chunk_rows,
                       transactions=False if args.no_transactions else args.transactions)
    elif args.since or args.transactions or args.no_transactions:
        raise ValueError("--since/--transactions/--no-transactions apply to --format hm only")
    if args.format == "polyvore":
        options["version"] = args.version
    return options


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> None:
    """Import, then clean and label when asked, printing the report."""
    report = import_catalog(args.format, args.src, args.out, images=args.images,
                            **importer_options(args))
    print(report.table())
    print(report.summary())
    if args.report:
        Path(args.report).write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False)
                                     + "\n", encoding="utf-8")
    if args.clean:
        from fashion_tf.data.cleaning import clean_catalog

        clean_catalog(args.out, min_side=args.min_side)
    if args.labels or args.labels_from:
        from fashion_tf.data.importers.attribute_labels import label_catalog_from
        from fashion_tf.data.labels import summary

        columns = ATTRIBUTE_COLUMNS.get(args.format, ())
        source = args.labels_from or ("both" if columns else "titles")
        if report.catalog is not None:  # the attributes this file actually has
            columns = tuple(c for c in columns if c in report.catalog.items.columns)
        catalog = label_catalog_from(args.out, source, columns, args.min_count,
                                     args.final_count, args.synonyms)
        print(f"labels from {source}: " + summary(catalog.vocabulary or [],
                                                  catalog.label_counts or {}))
    print(f"catalog ready: {Path(args.out)}")


if __name__ == "__main__":
    sys.exit(main())
