"""Foreground mask quality on the hard product photos, per case, over several seeds.

Grades :func:`fashion_tf.data.mask_estimate.estimate_mask` against the true
silhouettes of :mod:`fashion_tf.data.hard_photos` (docs/masks.md): per case the mean
IoU, the lowest IoU among the masks that are used (not flagged), how many used masks
are below IoU 0.5 (the acceptance rule: there must be none), and the share flagged as
unusable. The README's mask table is this tool's output.

    python tools/mask_quality.py --seeds 7 --count 30                      # the README's table
    python tools/mask_quality.py --seeds 7 11 12 13 14 --count 60 --out mask_quality.json

``--out`` writes every photo's IoU, confidence, cues and verdict as JSON;
``--worst N`` prints the N lowest-IoU used masks with their cues.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from fashion_tf.data import hard_photos
from fashion_tf.data.mask_estimate import estimate_mask

FAIL_IOU = 0.5


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float((a & b).sum() / max(1, (a | b).sum()))


def grade(case: str, seed: int, count: int, size: int = 128) -> list[dict]:
    """One row per photo: seed, index, IoU, confidence, cues, usable."""
    images, truths = hard_photos.hard_set(case, count, seed=seed, size=size)
    rows = []
    for index, (image, truth) in enumerate(zip(images, truths)):
        result = estimate_mask(image)
        rows.append({"seed": seed, "index": index, "iou": round(iou(result.mask, truth), 4),
                     "confidence": result.confidence, "cues": result.cues, "usable": result.usable,
                     "reason": result.reason})
    return rows


def summary(rows: list[dict]) -> dict:
    scores = np.array([r["iou"] for r in rows])
    used = np.array([r["usable"] for r in rows])
    return {"photos": len(rows), "mean_iou": round(float(scores.mean()), 3),
            "min_used_iou": round(float(scores[used].min()), 3) if used.any() else None,
            "used_below_half": int((used & (scores < FAIL_IOU)).sum()),
            "unusable_share": round(float((~used).mean()), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7])
    parser.add_argument("--count", type=int, default=30, help="photos per case and seed")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--cases", nargs="+", default=list(hard_photos.CASES), choices=hard_photos.CASES)
    parser.add_argument("--worst", type=int, default=0, help="print this many lowest-IoU used masks")
    parser.add_argument("--out", type=Path, help="JSON with every photo's grade")
    args = parser.parse_args(argv)

    report, every = {}, {}
    start = time.perf_counter()
    print(f"{'case':16s} {'photos':>6s} {'mean IoU':>8s} {'min used':>8s} {'used<0.5':>8s} {'unusable':>8s}")
    for case in args.cases:
        rows = [row for seed in args.seeds for row in grade(case, seed, args.count, args.size)]
        every[case], report[case] = rows, summary(rows)
        s = report[case]
        print(f"{case:16s} {s['photos']:6d} {s['mean_iou']:8.3f} {s['min_used_iou'] or 0:8.3f} "
              f"{s['used_below_half']:8d} {s['unusable_share']:8.1%}")
    elapsed = time.perf_counter() - start
    photos = sum(len(r) for r in every.values())
    print(f"{photos} masks in {elapsed:.1f} s ({1000 * elapsed / photos:.1f} ms per mask, wall clock)")
    if args.worst:
        worst = sorted(((r["iou"], case, r) for case, rows in every.items() for r in rows if r["usable"]),
                       key=lambda t: t[0])[:args.worst]
        for score, case, r in worst:
            print(f"  {case} seed {r['seed']} #{r['index']}: IoU {score:.3f} confidence {r['confidence']:.3f} {r['cues']}")
    if args.out:
        args.out.write_text(json.dumps({"seeds": args.seeds, "count": args.count, "size": args.size,
                                        "summary": report, "photos": every}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
