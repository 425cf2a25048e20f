"""The model zoo: a registry of named, configured models (docs/design.md, "The zoo").

Like timm's registry: ``list_models()``, ``get_entry(name)``, ``create_model(name, ...)``.
Each ``ZooEntry`` holds what travels with a model: how to build it, its default input
size, its training recipe and the paper's numbers. This module is the single source of
those numbers; the cards ``zoo/<name>.yaml`` are generated from it
(``python -m tools.zoo_cards``), keeping only their ``measured:`` section, which
training fills in.

Every entry's builder is called as ``builder(num_labels=..., image_size=..., weights=...,
name=..., **entry.config, **overrides)``, each argument only when it applies, so later
kinds ("style_embedding", "personalizer", "part_texture") register with builders of
their own and ignore what they do not need.

The zoo ships no trained weights: ``create_model`` builds a fresh model (ImageNet
backbone when available); trained models are loaded from run directories with ``load``.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tensorflow as tf

from fashion_tf.data.augment_settings import check_background_p
from fashion_tf.models.extractor import build_feature_extractor
from fashion_tf.models.part_texture import build_part_texture
from fashion_tf.models.personalizer import build_personalizer
from fashion_tf.models.resnet18 import build_style_model
from fashion_tf.models.two_classifier import build_two_classifier

KINDS = ("classifier", "style_embedding", "personalizer", "part_texture")
AUGMENTATIONS = ("standard", "heavy")
CARDS_DIR = Path(__file__).resolve().parent.parent / "zoo"
MODEL_FILE = "model.keras"


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One zoo model.

    Attributes:
        name: registry key, e.g. "v5".
        kind: one of ``KINDS``.
        description: one line for listings and cards.
        builder: callable returning a ``tf.keras.Model`` (see module docstring).
        config: architecture keyword arguments passed to ``builder``.
        default_image_size: input side in pixels, or None for models without image input.
        augmentation: "standard" or "heavy" standard augmentation (docs/design.md, "Augmentation").
        background_p: probability of background augmentation per training image.
        recipe: training defaults; every key is a ``fashion_tf.config.TrainConfig``
            field (optimizer, learning_rate, batch_size, epochs, ...).
        paper: the source paper's numbers for this model (fractions, not percent).
        source: where the entry comes from (paper, table, figure).
    """

    name: str
    kind: str
    description: str
    builder: Callable[..., tf.keras.Model]
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    default_image_size: int | None = 224
    augmentation: str = "standard"
    background_p: float = 0.5
    recipe: dict[str, Any] = dataclasses.field(default_factory=dict)
    paper: dict[str, Any] = dataclasses.field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"zoo entry {self.name!r}: kind {self.kind!r} not in {KINDS}")
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"zoo entry {self.name!r}: augmentation {self.augmentation!r} not in {AUGMENTATIONS}")
        check_background_p(self.background_p, f"zoo entry {self.name!r}")

    def card(self) -> dict[str, Any]:
        """The card fields (everything but the builder and the measured numbers)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "builder": f"{self.builder.__module__}.{self.builder.__name__}",
            "architecture": dict(self.config),
            "default_image_size": self.default_image_size,
            "augmentation": self.augmentation,
            "background_p": self.background_p,
            "recipe": dict(self.recipe),
            "paper": dict(self.paper),
            "source": self.source,
        }


_REGISTRY: dict[str, ZooEntry] = {}


def register(entry: ZooEntry, *, overwrite: bool = False) -> ZooEntry:
    """Adds ``entry`` to the zoo; re-registering a name needs ``overwrite=True``."""
    if entry.name in _REGISTRY and not overwrite:
        raise ValueError(f"zoo entry {entry.name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[entry.name] = entry
    return entry


def list_models(kind: str | None = None) -> list[str]:
    """Sorted names of the registered models, optionally only those of one ``kind``."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    return sorted(name for name, entry in _REGISTRY.items() if kind is None or entry.kind == kind)


def get_entry(name: str) -> ZooEntry:
    """The ``ZooEntry`` registered as ``name``; a clear error lists the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown zoo model {name!r}; available: {', '.join(list_models())}") from None


def create_model(
    name: str,
    num_labels: int | None = None,
    image_size: int | None = None,
    weights: str | os.PathLike | None = None,
    **overrides: Any,
) -> tf.keras.Model:
    """Builds a fresh zoo model.

    Args:
        name: a registered name (``list_models()``).
        num_labels: size of the label vocabulary (classifiers).
        image_size: input side in pixels; default ``entry.default_image_size``.
        weights: backbone weights: "imagenet", None/"none", or a weights-file path.
        **overrides: replace entries of ``entry.config`` (e.g. ``embedding_dim=256``).

    Returns:
        An uncompiled ``tf.keras.Model`` named ``name``.
    """
    entry = get_entry(name)
    kwargs: dict[str, Any] = {"name": name, **entry.config, **overrides}
    if num_labels is not None:
        kwargs["num_labels"] = int(num_labels)
    elif entry.kind == "classifier":
        raise ValueError(f"create_model({name!r}): a classifier needs num_labels (the label vocabulary size)")
    size = image_size if image_size is not None else entry.default_image_size
    if size is not None:
        kwargs["image_size"] = int(size)
    if weights is not None:
        kwargs["weights"] = weights
    return entry.builder(**kwargs)


def load(path_or_name: str | os.PathLike, **create_kwargs: Any) -> tf.keras.Model:
    """Loads a trained model, or builds an untrained zoo model by name.

    Args:
        path_or_name: a ``.keras`` file, a run directory holding ``model.keras``, or a
            registered zoo name. The zoo bundles no trained weights, so a name builds a
            fresh model with ``create_model(name, **create_kwargs)`` (for a classifier
            pass ``num_labels``; ``weights="imagenet"`` for a pretrained backbone).

    Returns:
        The ``tf.keras.Model`` (loaded without ``custom_objects``: importing fashion_tf
        registered every custom layer, loss and metric).
    """
    path = Path(path_or_name)
    if path.is_dir():
        model_file = path / MODEL_FILE
        if not model_file.is_file():
            raise FileNotFoundError(f"{path}: no {MODEL_FILE} in this directory; expected a run directory")
        return tf.keras.models.load_model(model_file)
    if path.is_file():
        return tf.keras.models.load_model(path)
    if str(path_or_name) in _REGISTRY:
        return create_model(str(path_or_name), **create_kwargs)
    raise FileNotFoundError(
        f"{path_or_name!r} is neither a model file, a run directory, nor a zoo model "
        f"(available: {', '.join(list_models())})"
    )


def card_text(name: str, measured: dict[str, Any] | None = None) -> str:
    """The YAML text of ``zoo/<name>.yaml``: the entry's card plus a ``measured:`` section."""
    import yaml  # only the card tools need PyYAML

    header = (
        f"# Zoo card for {name!r}. Generated from fashion_tf/zoo.py by `python tools/zoo_cards.py`;\n"
        "# edit the registry, not this file. Only `measured:` is kept when regenerating.\n"
    )
    body = {**get_entry(name).card(), "measured": dict(measured or {})}
    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)


def read_card(name: str, cards_dir: str | os.PathLike = CARDS_DIR) -> dict[str, Any]:
    """The parsed card of ``name`` from ``cards_dir`` (FileNotFoundError if missing)."""
    import yaml

    path = Path(cards_dir) / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no zoo card; run `python tools/zoo_cards.py`")
    card = yaml.safe_load(path.read_text()) or {}
    if not isinstance(card, dict):
        raise ValueError(f"{path}: expected a YAML mapping, got {type(card).__name__}")  # noqa: TRY004
    return card


# --- the paper's feature extractors (V1-V5 of Table I) and its Fig. 11 baselines ----------

# The paper fine-tunes the whole network "with dropout, regularisations, early stopping"
# but gives no optimiser settings; these are ours, for fine-tuning an ImageNet backbone.
_FINE_TUNE_RECIPE = {
    "optimizer": "adam",
    "learning_rate": 1e-4,
    "batch_size": 32,
    "epochs": 30,
    "early_stopping_patience": 5,
    "loss": "weighted_multilabel",  # paper eq. 1-3, fashion_tf/losses.py
}
# Without ImageNet weights (no network) the trainer uses the scratch rate instead.
# Measured on the 800-item demo shop at 64 px, 25 epochs: ResNet50 (v1) test IoU 0.372
# at 1e-3 against 0.213 at 3e-3; EfficientNetB3 + shallow (v5) val IoU 0.31 at 3e-3
# against 0.25 at 1e-3 after 6 epochs.
_SCRATCH_LEARNING_RATE = {"efficientnetb3": 3e-3, "efficientnetb0": 3e-3}
_PAPER = "Mohammadi, Bodaghi & Kalhor, Single-Item Fashion Recommender: Towards Cross-Domain Recommendations"


def _table1(iou, category, subtype, texture, color, variety, details, shape, ohs) -> dict[str, Any]:
    """The paper's Table I (conference version; background-augmented, street-to-shop queries), as fractions."""
    return {
        "test_iou": iou,
        "ohs": ohs,
        "ohs_criteria": {
            "category": category, "subtype": subtype, "texture": texture, "color": color,
            "variety": variety, "details": details, "shape_difference": shape,
        },
    }


def _classifier(name, description, backbone, shallow, image_size, augmentation="standard",
                background_p=0.5, paper=None, source=_PAPER, embedding_dim=512, recipe=None) -> ZooEntry:
    return register(ZooEntry(
        name=name,
        kind="classifier",
        description=description,
        builder=build_feature_extractor,
        config={"backbone": backbone, "shallow_branch": shallow, "embedding_dim": embedding_dim, "dropout": 0.3},
        default_image_size=image_size,
        augmentation=augmentation,
        background_p=background_p,
        recipe=dict(recipe or {**_FINE_TUNE_RECIPE,
                               "scratch_learning_rate": _SCRATCH_LEARNING_RATE.get(backbone, 1e-3)}),
        paper=paper or {},
        source=source,
    ))


_classifier(
    "v1", "ResNet50 multi-label feature extractor, background augmentation", "resnet50", False, 224,
    paper=_table1(0.446, 0.969, 0.715, 0.685, 0.672, 0.248, 0.363, 0.327, 0.736),
    source=f"{_PAPER}; V1 of Table I",
)
_classifier(
    "v2", "ResNet50 + shallow branch (paper Fig. 2), background augmentation", "resnet50", True, 224,
    paper={
        **_table1(0.439, 0.937, 0.704, 0.777, 0.683, 0.327, 0.435, 0.317, 0.740),
        # Section 4.2 of the long version: the Fig. 2 network on in-shop Amazon Fashion (1102 labels),
        # before background augmentation.
        "amazon_fashion_in_shop": {"iou": 0.444, "precision": 0.731, "recall": 0.484},
    },
    source=f"{_PAPER}; V2 of Table I; in-shop numbers from sec. 4.2",
)
_classifier(
    "v3", "v2 with heavier standard augmentation", "resnet50", True, 224, augmentation="heavy",
    paper=_table1(0.445, 0.954, 0.717, 0.692, 0.648, 0.333, 0.333, 0.201, 0.732),
    source=f"{_PAPER}; V3 of Table I",
)
_classifier(
    "v4", "EfficientNetB3 multi-label feature extractor, 300 px", "efficientnetb3", False, 300,
    paper=_table1(0.452, 0.998, 0.773, 0.865, 0.702, 0.217, 0.434, 0.202, 0.781),
    source=f"{_PAPER}; V4 of Table I",
)
_classifier(
    "v5", "EfficientNetB3 + shallow branch, 300 px (paper's best, OHS 80.0%)", "efficientnetb3", True, 300,
    paper=_table1(0.441, 0.983, 0.863, 0.800, 0.735, 0.273, 0.379, 0.210, 0.800),
    source=f"{_PAPER}; V5 of Table I",
)
# V5's design on the smallest EfficientNet: what `make demo` trains on a CPU. From scratch at
# 64 px on the demo shop it learns as well as V5 (better street-to-shop retrieval) for 40 %
# of the training CPU; README "Measured on the demo shop".
_classifier(
    "v5_b0", "EfficientNetB0 + shallow branch, 224 px (V5's design on B0; the CPU demo's model)",
    "efficientnetb0", True, 224, paper={"note": "not in the paper: V5 with EfficientNetB0 instead of B3"},
    source=f"{_PAPER}; V5 of Table I with the backbone swapped for EfficientNetB0",
)
_classifier(
    "resnet101_shallow", "ResNet101 + shallow branch (VisNet-style, the paper's ref. [7])",
    "resnet101", True, 224, background_p=0.0,
    paper={"note": "personalised Recall@K baseline of Fig. 11 (values only in the figure)"},
    source=f"{_PAPER}; Fig. 11 baseline after ref. [7]",
)
_classifier(
    "tiny", "small 3-block CNN + shallow branch with the V1-V5 head, for tests, CI and laptop demos",
    "tiny", True, 64, paper={"note": "not a paper model"}, source="fashion_tf (tests and demos)",
    embedding_dim=64,
    # From scratch (no ImageNet weights), so a larger learning rate than fine-tuning.
    recipe={**_FINE_TUNE_RECIPE, "learning_rate": 1e-3, "scratch_learning_rate": 1e-3, "batch_size": 16, "epochs": 10},
)
_classifier(
    "vgg16", "VGG16 feature extractor (the paper's ref. [3])", "vgg16", False, 224, background_p=0.0,
    paper={"note": "personalised Recall@K baseline of Fig. 11 (values only in the figure)"},
    source=f"{_PAPER}; Fig. 11 baseline after ref. [3]",
)


# --- the personalizer on rating-weighted carts (paper section 3, eq. 3/4; Fig. 3) --------------
register(ZooEntry(
    name="personalizer",
    kind="personalizer",
    description="rating-weighted cart mean (eq. 3) -> residual dense tower (eq. 4) -> cosine over the catalog",
    builder=build_personalizer,
    config={"hidden_units": [256], "dropout": 0.1},
    default_image_size=None,
    background_p=0.0,
    # Trained by python -m fashion_tf.personalize (PersonalizerConfig), not fashion_tf.train.
    recipe={"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 256, "epochs": 30,
            "early_stopping_patience": 5,
            "options": {"task": "tfrs.tasks.Retrieval (in-batch + 512 uniform catalog negatives)",
                        "temperature": 0.2, "split": "leave-last-out by timestamp"}},
    paper={"note": "Recall@K curves of Fig. 11 (values only in the figure); 78.4% test accuracy on 44,103 "
                   "Amazon Fashion users with 5-7 reviews each (section 4.4)"},
    source=f"{_PAPER}; section 3, eq. 3/4, Fig. 3, Fig. 11",
))


# --- complete the look: the triplet style embedding (Almanassra et al.) ---------------------

register(ZooEntry(
    name="ctl_triplet",
    kind="style_embedding",
    description="ResNet18 + FC-BN-dropout-FC -> 128-d L2-normalised style embedding, triplet loss "
                "(margin 0.2) on outfits, for complete-the-look recommendations",
    builder=build_style_model,
    config={"widths": [64, 128, 256, 512], "hidden_dim": 256, "embedding_dim": 128, "dropout": 0.3},
    default_image_size=224,
    background_p=0.0,  # optional: --background-p P pastes items on photographs as for V1-V5
    # the source's recipe: lr 0.005, batch 64, margin 0.2 (its optimiser is not named); the
    # trainer adds no standard augmentation (colour jitter would change the outfit colours)
    recipe={"optimizer": "adam", "learning_rate": 0.005, "scratch_learning_rate": 0.005, "batch_size": 64,
            "epochs": 20, "early_stopping_patience": 6, "loss": "triplet",
            "options": {"margin": 0.2, "mining": "none"}},
    paper={"triplet_accuracy_polyvore": 0.60, "note": "about 60 % of Polyvore test triplets correct after 1 epoch"},
    source="Almanassra, Chen, Goyal & Parrilla, Image style embedding based Fashion Recommendation System, "
           "sections 2.2.2-2.2.4",
))


# --- the other source papers' feature extractors --------------------------------------------
_TUINHOF = "Tuinhof, Pirker & Haltmeier, Image Based Fashion Product Recommendation with Deep Learning"
register(ZooEntry(
    name="two_classifier_knn",
    kind="classifier",
    description="category and texture classifiers on one image, penultimate features concatenated, "
                "Euclidean k-NN",
    builder=build_two_classifier,
    # ResNet50 stands in for the paper's BN-Inception (not among the Keras applications);
    # d = 1024 per branch as in section 4.
    config={"backbone": "resnet50", "feature_dim": 1024, "dropout": 0.3},
    default_image_size=224,
    background_p=0.0,  # the paper augments geometry and colour only
    # Section 4: BN-Inception trained with Adam, batch 32, learning rate 0.001, early stopping.
    recipe={**_FINE_TUNE_RECIPE, "learning_rate": 1e-3, "scratch_learning_rate": 1e-3},
    # Table 4 (BN-Inception on their Fashion data sets); the paper reports no retrieval figure.
    paper={"category_accuracy": 0.87, "texture_accuracy": 0.80},
    source=f"{_TUINHOF}; sections 2-3, Table 4",
))

_VERMA = "Verma, Anand, Arora & Rai, Diversity in Fashion Recommendation using Semantic Parsing"
register(ZooEntry(
    name="part_texture",
    kind="part_texture",
    description="spatial attention over K parts + texture encoding (Deep TEN), one embedding per part; "
                "diverse recommendations",
    builder=build_part_texture,
    config={"stem_widths": [32, 64, 128, 256], "descriptor_dim": 128, "num_parts": 4, "num_codes": 16,
            "part_dim": 128, "dropout": 0.2},
    default_image_size=224,
    background_p=0.0,
    # Not given in the paper; a from-scratch conv stem, so the scratch rate of ``tiny``.
    recipe={**_FINE_TUNE_RECIPE, "learning_rate": 1e-3, "scratch_learning_rate": 1e-3},
    # Section 4, Fig. 3: DeepFashion top-20 retrieval accuracy (Euclidean distance).
    paper={"deepfashion_in_shop_top20_accuracy": 0.784, "deepfashion_consumer_to_shop_top20_accuracy": 0.253},
    source=f"{_VERMA}; section 3, retrieval results of section 4 (Fig. 3)",
))
