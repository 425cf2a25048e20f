"""Import a public fashion dataset or an image folder as a catalog directory.

    python tools/import_catalog.py --format amazon --src data/amazon --images data/amazon/images --out cat/
    python tools/import_catalog.py --format deepfashion --src data/inshop --out cat/ --clean --labels
    python tools/import_catalog.py --format polyvore --src data/polyvore_outfits --out cat/
    python tools/import_catalog.py --format folder --src my_photos/ --out cat/

Optional steps, in the paper's order (section 4.2): --clean (drop unreadable, tiny,
empty, near-duplicate images), then --labels (label extraction).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fashion_tf.data.importers import FORMATS, IMAGE_MODES, import_catalog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--src", required=True,
                        help="amazon: folder with meta_*.json[.gz] + reviews, or the metadata "
                             "file; deepfashion: dataset root or list_eval_partition.txt; "
                             "polyvore: folder with polyvore_item_metadata.json; folder: images")
    parser.add_argument("--out", required=True, help="catalog directory to write")
    parser.add_argument("--images", default=None, help="folder of the source images")
    parser.add_argument("--reviews", default=None, help="amazon: the reviews JSON-lines file")
    parser.add_argument("--version", default="nondisjoint", help="polyvore: nondisjoint|disjoint")
    parser.add_argument("--image-mode", default=None, choices=IMAGE_MODES,
                        help="how images enter the catalog (default: hard link, else copy)")
    parser.add_argument("--clean", action="store_true", help="run cleaning after importing")
    parser.add_argument("--min-side", type=int, default=64, help="cleaning: smallest side in px")
    parser.add_argument("--labels", action="store_true", help="run label extraction")
    parser.add_argument("--min-count", type=int, default=50)
    parser.add_argument("--final-count", type=int, default=100)
    parser.add_argument("--synonyms", default=None, help="labels: synonym table (JSON/YAML)")
    args = parser.parse_args(argv)

    options: dict = {}
    if args.image_mode:
        options["image_mode"] = args.image_mode
    if args.format == "amazon" and args.reviews:
        options["reviews"] = args.reviews
    if args.format == "polyvore":
        options["version"] = args.version
    report = import_catalog(args.format, args.src, args.out, images=args.images, **options)
    print(report.summary())
    if args.clean:
        from fashion_tf.data.cleaning import clean_catalog

        clean_catalog(args.out, min_side=args.min_side)
    if args.labels:
        from fashion_tf.data.labels import label_catalog, summary

        catalog = label_catalog(args.out, args.min_count, args.final_count, args.synonyms)
        print(summary(catalog.vocabulary or [], catalog.label_counts or {}))
    print(f"catalog ready: {Path(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
