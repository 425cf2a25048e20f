"""The training augmentation's settings as one checked value (docs/design.md, "Augmentation").

The catalog reader (:func:`fashion_tf.data.pipeline.make_dataset`), the TFRecord reader
(:func:`fashion_tf.data.tfrecord_pipeline.make_tfrecord_dataset`) and the batch tail
both share (:func:`fashion_tf.data.augmented_batches.batch_and_augment`) take one
:class:`AugmentationSettings` rather than the same six keyword arguments each, so every
setting is named, defaulted and checked in one place. No TensorFlow import here: the
training configuration and the command line use these names too.
"""
from __future__ import annotations

import dataclasses
from numbers import Real

AUGMENTATIONS = ("none", "standard", "heavy")
INTERPOLATIONS = ("nearest", "bilinear")


@dataclasses.dataclass(frozen=True)
class AugmentationSettings:
    """How training batches are augmented; evaluation batches never are.

    Attributes:
        augmentation: the standard augmentation (Tuinhof, Pirker & Haltmeier, "Image
            Based Fashion Product Recommendation with Deep Learning", section 3.2):
            "standard", "heavy" (zoo v3) or "none".
        background_p: probability per image per epoch of pasting the item onto a
            background photograph (Mohammadi, Bodaghi & Kalhor, "Single-Item Fashion
            Recommender", section 3.1); 0 disables it, and the reading of masks.
        background_files: background photographs; None: the training pool of
            :mod:`fashion_tf.data.photos` (never shared with queries).
        background_scale: item size range on the background (fraction of the side).
        background_blur: Gaussian sigma (pool pixels) blurring the backgrounds.
        interpolation: warp sampling of the item, "nearest" (fast) or "bilinear"
            (see ``train_augment.py``).
    """

    augmentation: str = "standard"
    background_p: float = 0.5
    background_files: tuple[str, ...] | None = None
    background_scale: tuple[float, float] = (0.4, 0.9)
    background_blur: float = 0.0
    interpolation: str = "nearest"

    def __post_init__(self):
        for name, allowed in (("augmentation", AUGMENTATIONS), ("interpolation", INTERPOLATIONS)):
            if getattr(self, name) not in allowed:
                self._fail(f"{name} {getattr(self, name)!r} unknown; expected one of {allowed}")
        check_background_p(self.background_p, "AugmentationSettings")
        scale = self.background_scale
        if (not isinstance(scale, (tuple, list)) or len(scale) != 2 or not all(map(_is_number, scale))
                or not 0.0 < scale[0] <= scale[1]):
            self._fail(f"background_scale {scale!r}: expected (low, high) with 0 < low <= high")
        if not _is_number(self.background_blur) or self.background_blur < 0:
            self._fail(f"background_blur {self.background_blur!r}: expected a sigma >= 0")
        files = self.background_files
        if isinstance(files, (str, bytes)):
            self._fail(f"background_files {files!r}: expected a list of paths, not one string")
        # Frozen and hashable: tuples, whatever sequence the caller passed.
        object.__setattr__(self, "background_scale", tuple(float(s) for s in scale))
        if files is not None:
            object.__setattr__(self, "background_files", tuple(str(f) for f in files))

    @staticmethod
    def _fail(message: str):
        raise ValueError(f"AugmentationSettings: {message}")

    @classmethod
    def from_config(cls, config, **overrides) -> AugmentationSettings:
        """The settings a :class:`fashion_tf.config.TrainConfig` asks for (its
        ``augmentation`` and ``background_p``), with ``overrides`` on top."""
        return cls(**{"augmentation": config.augmentation, "background_p": config.background_p, **overrides})

    def pastes(self, training: bool) -> bool:
        """Whether items are pasted on backgrounds (then masks are read)."""
        return training and self.background_p > 0

    def warps(self, training: bool) -> bool:
        """Whether the standard augmentation (warp and colour jitter) runs."""
        return training and self.augmentation != "none"

    def augments(self, training: bool) -> bool:
        """Whether batches are augmented at all: then the readers hand over uint8 images."""
        return self.pastes(training) or self.warps(training)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_background_p(value, owner: str) -> None:
    """The one rule for ``background_p``, a probability in [0, 1]; the training
    configuration and the zoo entries check theirs here too. ``owner`` names where the
    value was given ("TrainConfig", "zoo entry 'v5'") and starts the error message."""
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}: background_p {value!r} not in [0, 1]")


DEFAULT_AUGMENTATION = AugmentationSettings()
