"""Command line of the thin client: status, signatures, labels and similar items for one image.

    python -m fashion_tf_client --target localhost:8500 --model NAME --image PATH [--k 10]

(``python -m fashion_tf.serving.client`` runs the same.)
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from fashion_tf_client.client import (
    COMPLETE_THE_LOOK_SIGNATURE,
    DEFAULT_SIGNATURE,
    SIMILAR_SIGNATURE,
    Client,
)
from fashion_tf_client.errors import ServingError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf_client", description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="localhost:8500")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--image", required=True, help="a JPEG or PNG file")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    try:
        with Client(args.target, timeout=args.timeout, model=args.model, version=args.version) as client:
            status = client.status()
            print("status: " + ", ".join(f"v{s['version']} {s['state']}" for s in status))
            meta = client.metadata()
            print(f"model {meta['model']} version {meta['version']}: signatures {sorted(meta['signatures'])}")
            if DEFAULT_SIGNATURE in meta["signatures"]:
                vector = client.embed(args.image)
                print(f"embedding: dim {vector.shape[0]}, first values {np.round(vector[:4], 4).tolist()}")
                if "top_labels" in meta["signatures"][DEFAULT_SIGNATURE]["outputs"]:  # style exports have none
                    print("labels: " + ", ".join(f"{label} {p:.3f}" for label, p in client.labels(args.image)))
            if SIMILAR_SIGNATURE in meta["signatures"]:
                ids, scores = client.similar(args.image, k=args.k)
                print(f"similar (k={args.k}):")
                for rank, (item, score) in enumerate(zip(ids, scores), 1):
                    print(f"  {rank:3d}. {item}  {score:.4f}")
            if COMPLETE_THE_LOOK_SIGNATURE in meta["signatures"]:
                print(f"complete the look (k={args.k}):")
                for category, picks in client.complete_the_look(args.image, k=args.k).items():
                    print(f"  {category}: " + ", ".join(f"{item} {score:.4f}" for item, score in picks))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ServingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
