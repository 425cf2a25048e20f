"""``make demo``: the whole path on the built-in demo shop, on a laptop CPU, in minutes.

demo shop -> train V5 (paper's best model) with background augmentation -> evaluate
(in-shop, street-to-shop, multi-label) -> recommend for a street photo (PNG) ->
export for TF Serving -> print the commands that serve and query it.
A finished demo run is reused; ``--retrain`` trains again.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import fashion_tf  # noqa: F401
from fashion_tf import evaluate, export, recommend, train
from fashion_tf.config import config_for
from fashion_tf.data.catalog import load_catalog
from fashion_tf.data.demo_shop import ensure_demo_shop
from fashion_tf.runs import CONFIG_FILE, load_run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="v5")
    parser.add_argument("--run", default=None, help="run directory (default runs/demo_<model>)")
    parser.add_argument("--export", default="export")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    run_dir = Path(args.run or f"runs/demo_{args.model}")

    shop = ensure_demo_shop()
    print(f"[1/5] demo shop at {shop}", flush=True)
    config = run_dir / CONFIG_FILE
    finished = config.exists() and json.loads(config.read_text()).get("status") == "finished"
    if finished and not args.retrain:
        print(f"[2/5] reusing the finished run {run_dir} (--retrain to train again)", flush=True)
    else:
        print(f"[2/5] training {args.model} on the demo shop", flush=True)
        # weights "auto": ImageNet when Keras can get them, else from scratch (recorded).
        train.train(config_for(args.model, out=str(run_dir), weights="auto"), overwrite=args.retrain)
    run = load_run(run_dir)

    print("[3/5] evaluating", flush=True)
    result = evaluate.evaluate_run(run)
    print(evaluate.format_table([result]))

    catalog = load_catalog(shop)
    query = catalog.path(catalog.queries["image"].iloc[0])
    true_item = str(catalog.queries["item_id"].iloc[0])
    picture = run_dir / "recommendations.png"
    recs = recommend.recommend(run, query, k=len(catalog.items))  # the whole ranking: where is the true item?
    recommend.draw_recommendations(query, recs, picture, true_item_id=true_item, k=8)
    print(f"[4/5] street query {query.name} shows item {true_item}, ranked "
          f"{recommend.true_item_rank(recs, true_item)} of {len(recs['item_ids'])}; "
          f"top-8 {', '.join(recs['item_ids'][:8])}; picture {picture}", flush=True)

    paths = export.export_run(run, args.export, name="fashion")  # the name serving/models.config serves
    name = paths[0].parent.name
    print(f"[5/5] exported {', '.join(str(p) for p in paths)}", flush=True)
    print(
        "\nserve it (TF Serving protocol on :8500):\n"
        f"  .venv/bin/python -m fashion_tf.serving.server --port 8500 --model_name {name} "
        f"--model_base_path {Path(args.export).resolve() / name}\n"
        "query it:\n"
        f"  .venv/bin/python -m fashion_tf.serving.client --target localhost:8500 --model {name} "
        f"--image {query} --k 10\n"
        "production: docker compose -f serving/docker-compose.yml up  (see serving/README.md)"
    )
    metrics = run.metrics
    print(f"demo done in {time.perf_counter() - started:.0f}s: {args.model} test IoU {metrics['test']['iou']:.3f} "
          f"(trivial {metrics['trivial_baseline']['iou']:.3f}), street recall@10 "
          f"{(result['street_to_shop'] or {}).get('recall@10', float('nan')):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
