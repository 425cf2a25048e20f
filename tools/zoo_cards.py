"""Writes zoo/<name>.yaml for every registered zoo model (DESIGN.md section 6).

The registry (fashion_tf/zoo.py) holds the architecture, recipe and paper numbers; this
tool renders them, keeping each existing card's ``measured:`` section.

    python tools/zoo_cards.py [--out zoo] [--check]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import fashion_tf  # noqa: F401  (sets up tf.keras before TensorFlow is used)
from fashion_tf import zoo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=zoo.CARDS_DIR, help="cards folder (default: zoo/)")
    parser.add_argument("--check", action="store_true", help="only report cards that are stale; exit 1 if any")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    stale = []
    for name in zoo.list_models():
        path = args.out / f"{name}.yaml"
        measured = zoo.read_card(name, args.out).get("measured") if path.is_file() else None
        text = zoo.card_text(name, measured)
        if path.is_file() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text)
    verb = "stale" if args.check else "written"
    print(f"zoo cards: {len(zoo.list_models())} models, {len(stale)} {verb} in {args.out}: {', '.join(stale) or '-'}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
