"""The paper's central claim, measured: does background augmentation help street-to-shop?

Paper section 4.5 / Fig. 13: a model trained only on shop images with background
augmentation handles street photos far better. This trains the same zoo model twice
on the same catalog, with background augmentation (p=0.5 by default) and without
(p=0), evaluates both on the street queries, and writes the side-by-side numbers to
OUT/ablation.json and the recall@k curves to OUT/street_recall.png.

    python tools/background_ablation.py --model v1 --epochs 10 --image-size 96 --out runs/ablation
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import fashion_tf  # noqa: F401
from fashion_tf import evaluate, train
from fashion_tf.config import config_for
from fashion_tf.evaluation.plots import plot_recall_at_k
from fashion_tf.runs import load_run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="v1")
    parser.add_argument("--data", default=None, help="catalog with queries.parquet (default: demo shop)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--p", type=float, default=0.5, help="background probability of the augmented run")
    parser.add_argument("--weights", default="auto", help="auto | imagenet | none | PATH (see fashion_tf.train)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/ablation")
    args = parser.parse_args(argv)
    out = Path(args.out)
    results = {}
    for p in (args.p, 0.0):
        run_dir = out / f"{args.model}_p{p:g}"
        if not (run_dir / "model.keras").exists():
            train.train(config_for(args.model, data=args.data, epochs=args.epochs, image_size=args.image_size,
                                   background_p=p, weights=args.weights, seed=args.seed, out=str(run_dir)))
        results[f"p={p:g}"] = evaluate.evaluate_run(load_run(run_dir))
    print(evaluate.format_table(list(results.values())))
    with_bg, without = results[f"p={args.p:g}"], results["p=0"]
    summary = {
        name: {
            key: (with_bg["street_to_shop"][key], without["street_to_shop"][key],
                  with_bg["street_to_shop"][key] - without["street_to_shop"][key])
            for key in ("recall@1", "recall@5", "recall@10", "recall@20", "category_precision@10",
                        "colour_precision@10")
        }
        for name in ["street_to_shop"]
    }
    (out / "ablation.json").write_text(json.dumps({"runs": results, "difference (with, without, delta)": summary},
                                                   indent=2))
    plot_recall_at_k({k: v["street_to_shop"]["recall_curve"] for k, v in results.items()},
                     out / "street_recall.png", title=f"{args.model}: street-to-shop recall@K")
    delta = summary["street_to_shop"]["recall@10"][2]
    print(f"background augmentation p={args.p:g} vs p=0: street recall@10 "
          f"{with_bg['street_to_shop']['recall@10']:.3f} vs {without['street_to_shop']['recall@10']:.3f} "
          f"({delta:+.3f}); details in {out / 'ablation.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
