"""``python -m fashion_tf.train --model v5``: train a zoo model on a catalog.

The command line becomes a typed ``TrainConfig`` (the zoo entry's recipe with the given
flags on top, ``fashion_tf/config.py``), which is saved as the run's ``config.json`` and
handed to the trainer of the entry's kind (``TRAINERS``): the "classifier" kind is the
paper's multi-label training (Mohammadi, Bodaghi & Kalhor, "Single-Item Fashion
Recommender", section 4.3). Another kind plugs in by adding its module here; the module
exposes ``train(config, overwrite=False) -> run directory``.

An interrupted run resumes: rerunning the same command continues from the last finished
epoch, and history.csv is appended, not restarted.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf import zoo
from fashion_tf.config import (
    LR_SCHEDULES,
    MIXED_PRECISION,
    OPTIMIZERS,
    STRATEGIES,
    TrainConfig,
    config_for,
)
from fashion_tf.data.augment_settings import AUGMENTATIONS
from fashion_tf.models.backbones import WeightsUnavailableError

# Zoo kind -> module with ``train(config: TrainConfig, overwrite: bool) -> Path``.
# The part/texture model presents the classifier's ``embedding`` + ``label_probs`` layers
# and is trained like one (its source also trains it as a multi-label classifier).
TRAINERS = {"classifier": "fashion_tf.training.classifier",
            "style_embedding": "fashion_tf.training.style_embedding",
            "part_texture": "fashion_tf.training.classifier"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fashion_tf.train",
        description="Train a fashion_tf zoo model; unset flags take the zoo card's recipe.",
    )
    parser.add_argument("--model", default="v5", help=f"zoo name, one of {', '.join(zoo.list_models())}")
    parser.add_argument("--data", default=None, help="catalog directory or folder of images (default: the demo shop)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=None)
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="used whether or not the backbone is pretrained (default: the recipe's)")
    parser.add_argument("--weights", default="auto",
                        help="auto (ImageNet if available, else from scratch) | imagenet (or fail) | none | PATH")
    parser.add_argument("--background-p", type=float, default=None, help="probability of background augmentation")
    parser.add_argument("--augmentation", choices=AUGMENTATIONS, default=None,
                        help="standard augmentation (warp, colour jitter): default the zoo card's")
    parser.add_argument("--patience", type=int, default=None, help="early stopping patience in epochs")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                        help="plateau: cut the rate when val_loss stalls; cosine: decay it to zero by the last "
                             "epoch (default: plateau)")
    parser.add_argument("--out", default=None, help="run directory (default runs/<model>[_scratch])")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="start over even if --out holds a run")
    hardware = parser.add_argument_group("hardware (classifier models)")
    hardware.add_argument("--strategy", choices=STRATEGIES, default="auto",
                          help="auto: multi_worker when TF_CONFIG is set, mirrored with several GPUs, else default")
    hardware.add_argument("--mixed-precision", choices=MIXED_PRECISION, default="auto",
                          help="mixed_float16 compute: auto = on with a GPU")
    style = parser.add_argument_group("style embedding models (ctl_triplet)")
    style.add_argument("--mining", choices=("none", "semi_hard"), default=None,
                       help="triplet negatives: as sampled, or semi-hard within the batch")
    style.add_argument("--widths", type=lambda s: [int(w) for w in s.split(",")], default=None,
                       help="ResNet18 stage widths, e.g. 16,32,64,128 (default: the card's; CPU demo: a quarter)")
    style.add_argument("--baseline-run", default=None,
                       help="extractor run whose embedding cosine is a baseline (default runs/v5*, runs/demo_v5_b0, runs/demo_v5)")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The zoo recipe of ``--model`` with the flags that were given on top."""
    kind_options = {key: value for key, value in (("mining", getattr(args, "mining", None)),
                                                  ("widths", getattr(args, "widths", None)),
                                                  ("baseline_run", getattr(args, "baseline_run", None)))
                    if value is not None}
    options = {**zoo.get_entry(args.model).recipe.get("options", {}), **kind_options} if kind_options else None
    return config_for(
        args.model, data=args.data, out=args.out, seed=args.seed, epochs=args.epochs, image_size=args.image_size,
        batch_size=args.batch_size, optimizer=args.optimizer, learning_rate=args.learning_rate,
        weights=args.weights, background_p=args.background_p, augmentation=getattr(args, "augmentation", None),
        early_stopping_patience=args.patience, lr_schedule=args.lr_schedule, options=options,
        strategy=getattr(args, "strategy", None), mixed_precision=getattr(args, "mixed_precision", None),
    )


def train(config: TrainConfig, overwrite: bool = False, callbacks=()) -> Path:
    """Trains with the trainer of ``config.kind``; returns the run directory.
    ``callbacks``: Keras callbacks run after the run's own (classifier kinds)."""
    if config.kind == "personalizer":
        raise ValueError("the personalizer trains on top of an extractor run: "
                         "python -m fashion_tf.personalize --run RUN")
    if config.kind not in TRAINERS:
        raise NotImplementedError(f"no trainer for zoo kind {config.kind!r} yet; trainers exist for "
                                  f"{sorted(TRAINERS)}")
    extra = {"callbacks": list(callbacks)} if callbacks else {}
    if TRAINERS[config.kind] != "fashion_tf.training.classifier":
        if extra:
            raise ValueError(f"extra callbacks: the {config.kind} trainer takes none")
        if (config.strategy, config.mixed_precision) != ("auto", "auto"):
            raise ValueError(f"--strategy / --mixed-precision: the {config.kind} trainer runs on one device "
                             "in float32; they apply to the classifier models")
    return importlib.import_module(TRAINERS[config.kind]).train(config, overwrite=overwrite, **extra)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        train(config_from_args(args), overwrite=args.overwrite)
    except (ValueError, TypeError, FileNotFoundError, KeyError, WeightsUnavailableError,
            NotImplementedError) as error:
        print(f"error: {error.args[0] if isinstance(error, KeyError) else error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
