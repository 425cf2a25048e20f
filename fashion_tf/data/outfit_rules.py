"""The outfit rules of the demo shop, and the oracle that knows them (README, "Complete the look").

A "complete the look" model (Almanassra et al., "Image style embedding based Fashion
Recommendation System", section 2.2) can only learn what outfits have in common. The
demo shop therefore draws every outfit from a few hidden choices, each visible in the
photographs:

* **gender** (60 % women): which garments can appear (blouses, skirts, dresses and
  tote bags are women's only);
* **outfit type**: a dress (35 % of women's outfits) or a top with a bottom;
* **accent colour** (uniform over ``ACCENTS``): the top or the dress wears it;
* **neutral** (one of the two that ``PALETTE`` pairs with the accent): the bottom wears
  it, and the **shoes follow the bottom** (same colour); with a dress, the shoes take
  one of the accent's two neutrals;
* **style family** (``STYLE_FAMILIES``): every item of the outfit draws its texture
  from the family's textures (classic: plain or striped; playful: dotted or floral
  print; country: plaid);
* the bag or hat wears the accent or the outfit's neutral (even odds).

Subtypes are drawn uniformly among those of the role's groups that the gender wears.
Given the hidden choices, items are drawn independently, so the probability that two
items come from one outfit has a closed form: :func:`pair_log_likelihood_ratio` sums
over the hidden choices. Ranking candidates by it is the Bayes-optimal "oracle" scorer,
the ceiling a model can reach on triplets and fill-in-the-blank questions
(:mod:`fashion_tf.evaluation.compatibility`).

What a model cannot learn: which of two rule-consistent items was the one drawn (the
rules leave e.g. the shoes' subtype free), and anything the pictures do not show.
"""
from __future__ import annotations

import itertools

import numpy as np

from fashion_tf.data.demo_shop_draw import ACCENTS, NEUTRALS

# Each accent goes with two neutrals; every neutral serves three or four accents.
PALETTE = {
    "red": ("black", "grey"),
    "blue": ("navy", "beige"),
    "green": ("brown", "beige"),
    "yellow": ("navy", "grey"),
    "pink": ("grey", "beige"),
    "orange": ("navy", "brown"),
    "purple": ("black", "beige"),
    "burgundy": ("black", "brown"),
    "olive": ("brown", "navy"),
}
# family -> textures; the family probabilities equal the summed texture shares, so the
# marginal texture frequencies stay those of TEXTURE_P.
TEXTURE_P = {"plain": 0.4, "striped": 0.15, "dotted": 0.15, "plaid": 0.15, "print": 0.15}
STYLE_FAMILIES = {"classic": ("plain", "striped"), "playful": ("dotted", "print"), "country": ("plaid",)}
FAMILY_P = {name: sum(TEXTURE_P[t] for t in textures) for name, textures in STYLE_FAMILIES.items()}
GENDER_P = {"Women": 0.6, "Men": 0.4}
DRESS_P = 0.35  # share of women's outfits built on a dress
ACCESSORY_ACCENT_P = 0.5
OUTFIT_TYPES = ("separates", "dress")

# Outfit categories ("complete the look" rows) of the demo shop's garment groups.
ROLE_OF_GROUP = {"tops": "tops", "dresses": "dresses", "skirts": "bottoms", "trousers": "bottoms",
                 "shorts": "bottoms", "shoes": "shoes", "bags": "bags", "hats": "hats"}
ROLE_GROUPS = {"top": ("tops",), "dress": ("dresses",), "bottom": ("skirts", "trousers", "shorts"),
               "shoes": ("shoes",), "accessory": ("bags", "hats")}

assert set(PALETTE) == set(ACCENTS) and all(set(p) <= set(NEUTRALS) for p in PALETTE.values())


def family_of(texture: str) -> str:
    return next(name for name, textures in STYLE_FAMILIES.items() if texture in textures)


def draw_outfit(rng: np.random.Generator) -> dict:
    """The hidden choices of one outfit and the colour of each role."""
    gender = "Women" if rng.random() < GENDER_P["Women"] else "Men"
    family = str(rng.choice(list(FAMILY_P), p=list(FAMILY_P.values())))
    accent = str(rng.choice(ACCENTS))
    neutral = str(rng.choice(PALETTE[accent]))
    dress = gender == "Women" and rng.random() < DRESS_P
    accessory = accent if rng.random() < ACCESSORY_ACCENT_P else neutral
    if dress:
        roles = [("dress", accent), ("shoes", neutral), ("accessory", accessory)]
    else:
        roles = [("top", accent), ("bottom", neutral), ("shoes", neutral), ("accessory", accessory)]
    return {"gender": gender, "family": family, "roles": roles}


def draw_texture(family: str, rng: np.random.Generator) -> str:
    textures = STYLE_FAMILIES[family]
    weights = np.array([TEXTURE_P[t] for t in textures])
    return str(rng.choice(textures, p=weights / weights.sum()))


# ------------------------------------------------------------------------------ oracle

def _latents() -> list[tuple[str, str, str, str, str, float]]:
    """Every hidden choice (gender, type, family, accent, neutral) with its prior."""
    out = []
    for gender, kind, family, accent in itertools.product(GENDER_P, OUTFIT_TYPES, FAMILY_P, ACCENTS):
        p_type = (DRESS_P if kind == "dress" else 1 - DRESS_P) if gender == "Women" else float(kind == "separates")
        for neutral in PALETTE[accent]:
            prior = GENDER_P[gender] * p_type * FAMILY_P[family] / len(ACCENTS) / 2
            if prior > 0:
                out.append((gender, kind, family, accent, neutral, prior))
    return out


LATENTS = _latents()


def item_likelihoods(subtype: str, colour: str, texture: str, gender: str) -> np.ndarray:
    """P(this item appears in the outfit | each hidden choice), over ``LATENTS``.

    ``gender`` is the one in the item's title; an item is in at most one role."""
    from fashion_tf.data.demo_shop import GARMENTS, _subtypes

    group = GARMENTS[subtype][0]
    role = next(r for r, groups in ROLE_GROUPS.items() if group in groups)
    family = family_of(texture)
    weights = np.array([TEXTURE_P[t] for t in STYLE_FAMILIES[family]])
    p_texture = TEXTURE_P[texture] / weights.sum()
    out = np.zeros(len(LATENTS))
    for k, (g, kind, fam, accent, neutral, _) in enumerate(LATENTS):
        if g != gender or fam != family or (role in ("top", "bottom") and kind != "separates") \
                or (role == "dress" and kind != "dress"):
            continue
        choices = _subtypes(ROLE_GROUPS[role], g)
        if subtype not in choices:
            continue
        if role in ("top", "dress"):
            p_colour = float(colour == accent)
        elif role in ("bottom", "shoes"):
            p_colour = float(colour == neutral)
        else:  # accessory: accent or neutral (both terms when they coincide cannot happen)
            p_colour = ACCESSORY_ACCENT_P * (colour == accent) + (1 - ACCESSORY_ACCENT_P) * (colour == neutral)
        out[k] = p_colour * p_texture / len(choices)
    return out


def likelihood_matrix(items) -> np.ndarray:
    """[N, len(LATENTS)] item likelihoods of a demo catalog's rows (attr_* columns)."""
    genders = ["Women" if " > Women > " in c else "Men" for c in items["category"]]
    return np.stack([item_likelihoods(s, c, t, g) for s, c, t, g in
                     zip(items["attr_subtype"], items["attr_colour"], items["attr_texture"], genders)])


def pair_log_likelihood_ratio(likelihoods: np.ndarray, left, right) -> np.ndarray:
    """log P(x, y in one outfit) / (P(x) P(y)) for rows ``left[i]``, ``right[i]`` of
    ``likelihood_matrix``: the oracle's compatibility score (higher = more compatible)."""
    prior = np.array([latent[-1] for latent in LATENTS])
    a, b = likelihoods[np.asarray(left)], likelihoods[np.asarray(right)]
    joint = (a * b) @ prior
    marginal = (a @ prior) * (b @ prior)
    with np.errstate(divide="ignore"):
        return np.log(joint + 1e-300) - np.log(marginal + 1e-300)


def has_oracle(items) -> bool:
    """True for catalogs drawn by the demo shop (they carry the generator's attributes)."""
    return {"attr_subtype", "attr_colour", "attr_texture"} <= set(items.columns)
