"""The paper's central claim, measured over seeds: does background augmentation help street-to-shop?

Paper section 3.1 / 4.5 (Fig. 13): a model trained only on shop images with background
augmentation handles street photos far better. This trains the same zoo model with
background augmentation (p=0.5 by default) and without (p=0) for each of several seeds
on the same catalog, evaluates every run, and reports mean and standard deviation over
the seeds of street-to-shop recall@1/10/20, street category and colour P@10, in-shop
category P@10 and test IoU. A difference is called out only when it is larger than
its spread: the two settings' mean +- std intervals do not overlap.

Writes OUT/ablation.json (every run, the per-metric mean/std and the differences) and
OUT/ablation.png (recall@K, mean +- std band, and the metrics with error bars). Runs
already trained in OUT are reused, so an interrupted ablation continues.

    python tools/background_ablation.py --model tiny --seeds 5 --epochs 20 --image-size 64 --out runs/ablation_tiny
    python tools/background_ablation.py --compare runs/ablation_tiny/ablation.json runs/ablation_tiny_contour/ablation.json --out before_after.json

Before/after a change of the masks: ``--masks-from DIR`` trains the augmented setting on
a copy of the catalog (OUT/catalog: the tables rewritten, images linked) whose masks are
``DIR/<item_id>.png``, e.g. the contour masks of an earlier version written by
``tools/masks_from_commit.py``; a mask without a verdict is used, so every one of
them is pasted unless DIR holds a ``confidence.json``. The p=0 runs never paste, so
they do not depend on the masks: ``--baseline-runs OTHER_OUT`` reads them from another
output of this tool (same model, epochs, image size and seeds) instead of training
them again. ``--compare A/ablation.json B/ablation.json --out FILE`` then sets the two
outputs' augmented runs against each other (nothing is trained again).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

import fashion_tf  # noqa: F401
from fashion_tf import evaluate, train
from fashion_tf.config import config_for
from fashion_tf.runs import load_run

METRICS = {
    "street recall@1": ("street_to_shop", "recall@1"),
    "street recall@10": ("street_to_shop", "recall@10"),
    "street recall@20": ("street_to_shop", "recall@20"),
    "street category P@10": ("street_to_shop", "category_precision@10"),
    "street colour P@10": ("street_to_shop", "colour_precision@10"),
    "in-shop category P@10": ("in_shop", "category_precision@10"),
    "test IoU": ("multilabel", "iou"),
}


def summarise(runs: dict[str, list[dict]]) -> dict:
    """Per metric and setting: mean, std (ddof=1) and the per-seed values; and per
    metric the difference of the first setting's mean minus the second's, with
    ``separated`` true when the mean +- std intervals do not overlap."""
    settings = list(runs)
    table: dict = {}
    for name, (group, key) in METRICS.items():
        row = {}
        for setting in settings:
            values = [float(r[group][key]) for r in runs[setting]]
            row[setting] = {"mean": float(np.mean(values)),
                            "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                            "values": values}
        a, b = row[settings[0]], row[settings[1]]
        difference = a["mean"] - b["mean"]
        row["difference"] = {"mean": difference, "spread": a["std"] + b["std"],
                             "separated": abs(difference) > a["std"] + b["std"]}
        table[name] = row
    return table


def format_summary(table: dict, settings: list[str]) -> str:
    lines = ["metric".ljust(24) + "".join(s.rjust(18) for s in settings) + "difference".rjust(14)]
    for name, row in table.items():
        cells = "".join(f"{row[s]['mean']:.3f} +- {row[s]['std']:.3f}".rjust(18) for s in settings)
        diff = row["difference"]
        mark = "" if diff["separated"] else " (within spread)"
        lines.append(name.ljust(24) + cells + f"{diff['mean']:+.3f}".rjust(14) + mark)
    return "\n".join(lines)


def plot(runs: dict[str, list[dict]], table: dict, out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for setting, results in runs.items():
        curves = [r["street_to_shop"]["recall_curve"] for r in results]
        ks = sorted(int(k) for k in curves[0])
        values = np.array([[c[str(k)] if str(k) in c else c[k] for k in ks] for c in curves])
        mean, std = values.mean(axis=0), values.std(axis=0, ddof=1) if len(values) > 1 else 0 * values[0]
        left.plot(ks, mean, marker="o", label=f"{setting} (n={len(results)})")
        left.fill_between(ks, mean - std, mean + std, alpha=0.2)
    left.set_xlabel("K")
    left.set_ylabel("street-to-shop recall@K")
    left.set_ylim(0, None)
    left.legend()
    left.set_title(title)
    names = list(table)
    x = np.arange(len(names))
    width = 0.38
    for i, setting in enumerate(runs):
        right.bar(x + (i - 0.5) * width, [table[n][setting]["mean"] for n in names], width,
                  yerr=[table[n][setting]["std"] for n in names], capsize=3, label=setting)
    right.set_xticks(x)
    right.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    right.set_ylim(0, 1)
    right.legend()
    right.set_title("mean +- std over seeds")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def catalog_with_masks(catalog_dir: str | Path | None, masks_dir: Path, out: Path) -> Path:
    """A copy of the catalog at ``out`` whose masks are ``masks_dir/<item_id>.png``.

    Tables are rewritten (``save_catalog``), image folders linked; every item needs a
    mask in ``masks_dir`` (a missing one would be computed by today's code and mix two
    versions). ``masks_dir/confidence.json``, if any, comes along.
    """
    from fashion_tf.data import schema
    from fashion_tf.data.catalog import load_catalog, save_catalog
    from fashion_tf.training_data import resolve_catalog

    source = resolve_catalog(None if catalog_dir is None else str(catalog_dir))
    missing = [i for i in source.items["item_id"] if not (masks_dir / f"{i}.png").is_file()]
    if missing:
        raise ValueError(f"--masks-from {masks_dir}: no mask for {len(missing)} of {len(source.items)} items, "
                         f"e.g. {missing[0]}.png; expected <item_id>.png for every item")
    out.mkdir(parents=True, exist_ok=True)
    for folder in (schema.IMAGES_DIR, schema.QUERY_IMAGES_DIR, schema.TRUE_MASKS_DIR):
        link = out / folder
        if (Path(source.root) / folder).is_dir() and not link.exists():
            link.symlink_to((Path(source.root) / folder).resolve(), target_is_directory=True)
    masks = out / schema.MASKS_DIR
    if masks.exists():
        shutil.rmtree(masks)
    shutil.copytree(masks_dir, masks)
    items = source.items.copy()
    items["mask"] = [f"{schema.MASKS_DIR}/{i}.png" for i in items["item_id"]]
    source.items = items
    save_catalog(source, out)
    return load_catalog(out).root


def _baseline_run(baseline: Path, name: str, args, seed: int) -> Path:
    """A p=0 run of another ablation output, checked to be trained like this one's."""
    run_dir = baseline / name
    config = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").is_file() else None
    if config is None or not (run_dir / "model.keras").is_file():
        raise FileNotFoundError(f"--baseline-runs {baseline}: no finished run {name} (model.keras, config.json)")
    expected = {"model": args.model, "epochs": args.epochs, "image_size": args.image_size,
                "background_p": 0.0, "seed": seed}
    wrong = {k: (config.get(k), v) for k, v in expected.items() if config.get(k) != v}
    if wrong:
        raise ValueError(f"--baseline-runs {run_dir}: trained otherwise ({', '.join(f'{k} {a!r}, expected {b!r}' for k, (a, b) in wrong.items())})")
    return run_dir


def compare_outputs(first: Path, second: Path, out: Path) -> dict:
    """The augmented runs of two outputs of this tool (``ablation.json``), e.g. with
    today's masks and with ``--masks-from`` older ones, summarised against each other
    (same rule: a difference counts only when the intervals do not overlap); written to
    ``out`` as JSON. Nothing is trained or evaluated again."""
    results = [json.loads(Path(path).read_text()) for path in (first, second)]
    runs = {}
    for path, result in zip((first, second), results):
        setting = next(name for name in result["runs"] if name != "p=0")
        runs[f"{setting} [{Path(path).parent.name}]"] = result["runs"][setting]
    table = summarise(runs)
    record = {"compared": [str(first), str(second)], "commands": [r["command"] for r in results],
              "summary": table}
    out.write_text(json.dumps(record, indent=2))
    print(format_summary(table, list(runs)))
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--data", default=None, help="catalog with queries.parquet (default: demo shop)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--p", type=float, default=0.5, help="background probability of the augmented runs")
    parser.add_argument("--weights", default="auto", help="auto | imagenet | none | PATH (see fashion_tf.train)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per setting (at least 2 for a spread)")
    parser.add_argument("--out", default=None, help="default: runs/ablation_MODEL")
    parser.add_argument("--masks-from", type=Path, default=None, metavar="DIR",
                        help="train the augmented setting with the masks DIR/<item_id>.png (e.g. written by "
                             "tools/masks_from_commit.py) on a copy of the catalog in OUT/catalog")
    parser.add_argument("--baseline-runs", type=Path, default=None, metavar="OUT",
                        help="read the p=0 runs from this earlier output of the tool instead of training them")
    parser.add_argument("--compare", type=Path, nargs=2, default=None, metavar="ABLATION_JSON",
                        help="only compare the augmented runs of two earlier outputs (their ablation.json) "
                             "and write the summary to --out (a JSON file)")
    args = parser.parse_args(argv)
    if args.compare:
        if not args.out:
            parser.error("--compare needs --out FILE.json")
        compare_outputs(*args.compare, Path(args.out))
        return 0
    if args.seeds < 2:
        parser.error("--seeds must be at least 2: a spread needs several runs")
    out = Path(args.out or f"runs/ablation_{args.model}")
    augmented = f"p={args.p:g}" + (f" ({args.masks_from.name} masks)" if args.masks_from else "")
    settings = {augmented: args.p, "p=0": 0.0}
    data = {name: args.data for name in settings}
    if args.masks_from:
        data[augmented] = str(catalog_with_masks(args.data, args.masks_from, out / "catalog"))
    runs: dict[str, list[dict]] = {name: [] for name in settings}
    for name, p in settings.items():  # the settings in turn: the baseline runs are read last
        for seed in range(args.seeds):
            run_dir = out / f"{args.model}_p{p:g}_seed{seed}"
            if p == 0 and args.baseline_runs:
                run_dir = _baseline_run(args.baseline_runs, run_dir.name, args, seed)
            elif not (run_dir / "model.keras").exists():
                # plateau cuts, as the recorded five-seed figures were trained
                train.train(config_for(args.model, data=data[name], epochs=args.epochs, image_size=args.image_size,
                                       background_p=p, weights=args.weights, seed=seed, out=str(run_dir),
                                       lr_schedule="plateau"))
            runs[name].append(evaluate.evaluate_run(load_run(run_dir)))
            print(f"seed {seed} {name}: street recall@10 {runs[name][-1]['street_to_shop']['recall@10']:.3f}",
                  flush=True)
    table = summarise(runs)
    text = format_summary(table, list(settings))
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    command = "python tools/background_ablation.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "ablation.json").write_text(json.dumps(
        {"command": command, "model": args.model, "epochs": args.epochs, "image_size": args.image_size,
         "seeds": list(range(args.seeds)), "masks_from": str(args.masks_from) if args.masks_from else None,
         "baseline_runs": str(args.baseline_runs) if args.baseline_runs else None,
         "summary": table, "runs": runs}, indent=2))
    plot(runs, table, out / "ablation.png", f"{args.model}, {args.image_size} px, {args.epochs} epochs")
    print(f"written {out / 'ablation.json'} and {out / 'ablation.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
