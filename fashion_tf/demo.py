"""``make demo``: the whole path on the built-in demo shop, on a laptop CPU, in minutes.

demo shop -> train V5 (paper's best model; on a CPU its design on EfficientNetB0, zoo entry
``v5_b0``) with background augmentation -> evaluate
(in-shop, street-to-shop, multi-label) -> recommend for a street photo (PNG) ->
export for TF Serving -> print the commands that serve and query it.
A finished demo run is reused; ``--retrain`` trains again.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import fashion_tf  # noqa: F401
from fashion_tf import evaluate, export, recommend, train
from fashion_tf.config import config_for, machine_has_gpu
from fashion_tf.data.catalog import load_catalog
from fashion_tf.data.demo_shop import DEFAULT_ITEMS, ensure_demo_shop
from fashion_tf.runs import CONFIG_FILE, load_run
from fashion_tf.stage_timer import StageTimer, cpu_seconds

TIMINGS_FILE = "timings.json"
# The paper's V5 (EfficientNetB3 + shallow branch) with a GPU; on a CPU the same design on
# EfficientNetB0. Measured on the demo shop, from scratch at 64 px, 25 epochs, 2 loaded cores:
# B0 reached test IoU 0.515 and street recall@10 0.108 with 435 s of training CPU, B3 0.470
# and 0.050 with 1,055 s; on a quiet machine the whole B0 demo takes 6 minutes with the
# install (README, "Measured on the demo shop").
GPU_DEMO_MODEL = "v5"
CPU_DEMO_MODEL = "v5_b0"


def demo_model(on_gpu: bool | None = None) -> str:
    """The zoo model the demo trains when ``--model`` is not given."""
    if on_gpu is None:
        on_gpu = machine_has_gpu()
    return GPU_DEMO_MODEL if on_gpu else CPU_DEMO_MODEL


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help=f"zoo model (default {GPU_DEMO_MODEL} with a GPU, {CPU_DEMO_MODEL} on a CPU)")
    parser.add_argument("--run", default=None, help="run directory (default runs/demo_<model>)")
    parser.add_argument("--export", default="export")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the CPU demo schedule, or the zoo recipe on a GPU)")
    parser.add_argument("--items", type=int, default=DEFAULT_ITEMS, help="items in the demo shop")
    args = parser.parse_args(argv)
    args.model = args.model or demo_model()
    startup_cpu = cpu_seconds()  # the imports (TensorFlow) before main ran
    timer = StageTimer(echo=True)
    run_dir = Path(args.run or f"runs/demo_{args.model}")

    shop = ensure_demo_shop(items=args.items, timer=timer)
    print(f"[1/5] demo shop at {shop}", flush=True)
    config = run_dir / CONFIG_FILE
    finished = config.exists() and json.loads(config.read_text()).get("status") == "finished"
    if finished and not args.retrain:
        print(f"[2/5] reusing the finished run {run_dir} (--retrain to train again)", flush=True)
    else:
        print(f"[2/5] training {args.model} on the demo shop", flush=True)
        with timer.stage("train"):
            # weights "auto": ImageNet when Keras can get them, else from scratch (recorded).
            recipe = config_for(args.model, out=str(run_dir), weights="auto", epochs=args.epochs)
            # the demo schedule (no --data) on the shop just made, whatever its size
            train.train(dataclasses.replace(recipe, data=str(shop)), overwrite=args.retrain)
    run = load_run(run_dir)

    print("[3/5] evaluating", flush=True)
    with timer.stage("evaluate"):
        result = evaluate.evaluate_run(run)
    print(evaluate.format_table([result]))

    with timer.stage("recommend"):
        catalog = load_catalog(shop)
        query = catalog.path(catalog.queries["image"].iloc[0])
        true_item = str(catalog.queries["item_id"].iloc[0])
        picture = run_dir / "recommendations.png"
        recs = recommend.recommend(run, query, k=len(catalog.items))  # the whole ranking: where is the true item?
        recommend.draw_recommendations(query, recs, picture, true_item_id=true_item, k=8)
    print(f"[4/5] street query {query.name} shows item {true_item}, ranked "
          f"{recommend.true_item_rank(recs, true_item)} of {len(recs['item_ids'])}; "
          f"top-8 {', '.join(recs['item_ids'][:8])}; picture {picture}", flush=True)

    with timer.stage("export"):
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
    timings = timer.write(run_dir / TIMINGS_FILE, startup_cpu_s=round(startup_cpu, 2), shop=str(shop))
    print(f"demo done in {timer.total()['wall_s']:.0f}s: {args.model} test IoU {metrics['test']['iou']:.3f} "
          f"(trivial {metrics['trivial_baseline']['iou']:.3f}), street recall@10 "
          f"{(result['street_to_shop'] or {}).get('recall@10', float('nan')):.3f}")
    print(f"{timer.summary()}; imports {startup_cpu:.0f} s CPU before; {timings}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
