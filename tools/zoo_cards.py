"""Writes zoo/<name>.yaml for every registered zoo model (docs/design.md, "The zoo").

The registry (fashion_tf/zoo.py) holds the architecture, recipe and paper numbers; this
tool renders them, keeping each existing card's ``measured:`` section.

    python tools/zoo_cards.py [--out zoo] [--check]
    python tools/zoo_cards.py --record runs/demo_v5 --as demo_cpu   # measured numbers of a run
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import fashion_tf  # noqa: F401  (sets up tf.keras before TensorFlow is used)
from fashion_tf import zoo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=zoo.CARDS_DIR, help="cards folder (default: zoo/)")
    parser.add_argument("--check", action="store_true", help="only report cards that are stale; exit 1 if any")
    parser.add_argument("--record", type=Path, default=None, help="a run directory whose numbers to record")
    parser.add_argument("--as", dest="label", default=None, help="name of the measurement (default: run dir name)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.record:
        return record(args.record, args.label, args.out)
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


def _generator(data: Path) -> dict:
    """``{"generator_version": N}`` of a demo shop (its COMPLETE marker), else nothing."""
    from fashion_tf.data.demo_shop import COMPLETE_FILE

    try:
        return {"generator_version": json.loads((data / COMPLETE_FILE).read_text())["generator_version"]}
    except (OSError, ValueError, KeyError):
        return {}


def _history_rows(run_dir: Path) -> list[str]:
    """The epochs history.csv recorded (early stopping may end a run before ``epochs``)."""
    path = run_dir / "history.csv"
    return path.read_text().splitlines()[1:] if path.exists() else []


def record(run_dir: Path, label: str | None, cards_dir: Path) -> int:
    """Put a run's test metrics, throughput and (if evaluated) retrieval numbers into
    its zoo card's ``measured:`` section under ``label`` (default: the run directory's
    name). A run whose backbone started from random weights gets "_scratch" added to the
    label unless the label already says "scratch"."""
    from fashion_tf.runs import load_run

    run = load_run(run_dir)
    metrics, config = run.metrics, run.config
    used = config.get("weights_used")
    if used is None:
        raise ValueError(f"{run_dir}/config.json has no weights_used: retrain it with this version "
                         "so the card can say what the model started from")
    label = label or run_dir.name
    if used == "none" and "scratch" not in label:
        label += "_scratch"
    entry = {
        "data": Path(config["data"]).name,
        **_generator(Path(config["data"])),
        "image_size": config["image_size"],
        "epochs": config["epochs"],
        "epochs_run": len(_history_rows(run_dir)),
        "lr_schedule": config.get("lr_schedule", "plateau"),
        "weights_requested": config["weights"],
        "weights_used": used,
        "test": {k: round(v, 4) for k, v in metrics["test"].items() if k in ("iou", "precision", "recall", "f1")},
        "trivial_baseline_iou": round(metrics["trivial_baseline"]["iou"], 4),
        "train_images_per_second": round(metrics.get("train_images_per_second") or 0, 1),
    }
    evaluation = run_dir / "evaluation.json"
    if evaluation.exists():
        result = json.loads(evaluation.read_text())
        entry["in_shop_precision@10"] = {k.split("_precision")[0]: round(v, 4) for k, v in result["in_shop"].items()
                                         if k.endswith("_precision@10")}
        if result.get("street_to_shop"):
            entry["street_recall"] = {k: round(v, 4) for k, v in result["street_to_shop"].items()
                                      if k.startswith("recall@")}
    timings = run_dir / "timings.json"  # written by python -m fashion_tf.demo
    if timings.exists():
        timed = json.loads(timings.read_text())
        entry["demo_cpu_seconds"] = {**{k: v["cpu_s"] for k, v in timed["stages"].items()},
                                     "total": timed["total"]["cpu_s"]}
    name = config["model"]
    measured = (zoo.read_card(name, cards_dir).get("measured") or {}) if (cards_dir / f"{name}.yaml").exists() else {}
    measured[label] = entry
    (cards_dir / f"{name}.yaml").write_text(zoo.card_text(name, measured))
    print(f"recorded {label} for {name} in {cards_dir / (name + '.yaml')}: test IoU {entry['test']['iou']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
