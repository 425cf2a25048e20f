"""The typed training configuration: what a training run is asked to do (docs/design.md,
"Training configuration").

A ``TrainConfig`` is built from a zoo entry's recipe plus the caller's overrides (command
line, demo, tools), saved as the run's ``config.json`` and is the only thing the trainers
read. Every recipe key is a field here, so a misspelt or unknown key is an error, not a
silently ignored setting; what a model kind needs beyond these fields goes in ``options``
and is checked by that kind's trainer.

The paper (Mohammadi, Bodaghi & Kalhor, "Single-Item Fashion Recommender", section 4.3)
fine-tunes with "dropout, regularisations, early stopping" but gives no optimiser
settings; the values in the zoo recipes are ours.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from fashion_tf.data.augment_settings import check_background_p

# On a laptop CPU with no --data the demo must finish in minutes while still learning:
# small images and a short schedule. With a GPU, or real data, the zoo recipe wins.
# Measured on the demo shop (generator 5): 10 epochs with the cosine schedule halve the
# training time but leave street-to-shop retrieval at chance (recall@10 0.008 against
# 0.050, category P@10 0.147 against 0.365), so the demo keeps 25 epochs of plateau cuts.
CPU_DEMO_IMAGE_SIZE = 64
CPU_DEMO_EPOCHS = 25
CPU_DEMO_LR_SCHEDULE = "plateau"
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("plateau", "cosine")
# tf.distribute strategies and mixed-precision settings (fashion_tf/distribute.py).
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
MIXED_PRECISION = ("auto", "on", "off")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run's settings.

    Attributes:
        model: zoo name ("v5", "tiny", ...).
        kind: the zoo entry's kind; picks the trainer module.
        data: catalog directory or image folder; None = the built-in demo shop.
        out: run directory; None = ``runs/<run name>`` (the name says "scratch" when
            the backbone starts from random weights).
        seed: seed of every random generator.
        epochs: maximum epochs (early stopping may end sooner).
        image_size: square input side in pixels; None for models without image input.
        batch_size: images per step.
        optimizer: one of ``OPTIMIZERS``.
        learning_rate: rate when the backbone starts from pretrained weights.
        scratch_learning_rate: rate when it starts from random weights.
        weight_decay: decoupled weight decay (adamw only).
        early_stopping_patience: epochs without a better val_loss before stopping; with
            the "plateau" schedule the learning rate is cut after half as many.
        lr_schedule: "plateau" (the rate times 0.3 whenever val_loss has not improved
            for half the patience) or "cosine" (the rate times 0.5 (1 + cos(pi e / E))
            in epoch e of E: it falls smoothly to near zero by the last epoch).
        weights: "auto" (ImageNet if available, else scratch), "imagenet" (or fail),
            "none", or a weights-file path.
        loss: the loss the kind's trainer must use (it refuses others).
        augmentation: "standard" or "heavy" standard augmentation, or "none".
        background_p: probability of background augmentation per training image
            (paper section 3.1).
        options: settings only one kind's trainer understands (it validates them).
        strategy: tf.distribute strategy, one of ``STRATEGIES``; "auto":
            MultiWorkerMirroredStrategy under ``TF_CONFIG``, MirroredStrategy with
            several GPUs, else the default one.
        mixed_precision: ``mixed_float16`` "on", "off", or "auto" (on with a GPU).
    """

    model: str
    kind: str = "classifier"
    data: str | None = None
    out: str | None = None
    seed: int = 0
    epochs: int = 30
    image_size: int | None = None
    batch_size: int = 32
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    scratch_learning_rate: float = 1e-3
    weight_decay: float = 0.0
    early_stopping_patience: int = 5
    lr_schedule: str = "plateau"
    weights: str = "auto"
    loss: str = "weighted_multilabel"
    augmentation: str = "standard"
    background_p: float = 0.5
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    strategy: str = "auto"
    mixed_precision: str = "auto"

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r}: expected one of {OPTIMIZERS}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule {self.lr_schedule!r}: expected one of {LR_SCHEDULES}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy {self.strategy!r}: expected one of {STRATEGIES}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision {self.mixed_precision!r}: expected one of {MIXED_PRECISION}")
        for name in ("epochs", "batch_size", "early_stopping_patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_background_p(self.background_p, "TrainConfig")
        if self.image_size is not None and int(self.image_size) < 8:
            raise ValueError(f"image_size must be >= 8 pixels, got {self.image_size}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """The config saved in a run's ``config.json`` (run facts next to it are skipped)."""
        names = {field.name for field in dataclasses.fields(cls)}
        if "model" not in values:
            raise ValueError(f"{source}: missing key 'model'")
        return cls(**{key: value for key, value in values.items() if key in names})

    def learning_rate_for(self, pretrained: bool) -> float:
        return float(self.learning_rate if pretrained else self.scratch_learning_rate)


def _check_keys(keys, source: str) -> None:
    names = {field.name for field in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(keys) - names)
    if unknown:
        raise TypeError(f"{source}: unknown training setting(s) {', '.join(map(repr, unknown))}; "
                        f"expected some of {sorted(names)}")


def machine_has_gpu() -> bool:
    """Whether TensorFlow sees a GPU here (the demo schedule and demo model are for CPUs)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def config_for(model: str, *, on_gpu: bool | None = None, **overrides: Any) -> TrainConfig:
    """The zoo entry's recipe with ``overrides`` on top (None values mean "not given").

    Without ``data`` and without a GPU the demo schedule applies (``CPU_DEMO_IMAGE_SIZE``
    px, ``CPU_DEMO_EPOCHS`` epochs, ``CPU_DEMO_LR_SCHEDULE``) unless given. An explicit
    ``learning_rate`` is used whether or not the weights turn out pretrained.
    ``on_gpu``: None looks at the machine.
    """
    from fashion_tf import zoo

    if on_gpu is None:
        on_gpu = machine_has_gpu()

    entry = zoo.get_entry(model)
    _check_keys(entry.recipe, f"zoo entry {model!r} recipe")
    _check_keys(overrides, "training overrides")
    given = {key: value for key, value in overrides.items() if value is not None}
    values: dict[str, Any] = {
        "model": model, "kind": entry.kind, "image_size": entry.default_image_size,
        "augmentation": entry.augmentation, "background_p": entry.background_p,
        **entry.recipe,
    }
    if given.get("data") is None and not on_gpu:
        values.update(image_size=CPU_DEMO_IMAGE_SIZE if entry.default_image_size else None,
                      epochs=CPU_DEMO_EPOCHS, lr_schedule=CPU_DEMO_LR_SCHEDULE)
    if "learning_rate" in given:
        given.setdefault("scratch_learning_rate", given["learning_rate"])
    values.update(given)
    return TrainConfig(**values)
