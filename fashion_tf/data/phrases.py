"""Phrase labels: word pairs and triples that a catalog's titles use as one unit.

The paper builds its labels from single title words (Mohammadi, Bodaghi & Kalhor,
"Single-Item Fashion Recommender", section 4.2). On real product titles many attributes
are several words ("Navy Blue", "Flip Flops", "Track Pants", "Off White", "Casual
Shoes"), and splitting them loses the attribute and invents meaningless labels ("flip",
"track"). Here adjacent words that occur together far more often than chance are kept as
one hyphenated label, detected from the catalog's own titles, as in Mikolov et al.,
"Distributed Representations of Words and Phrases and their Compositionality"
(section 4, "Learning Phrases"), with the normalised pointwise mutual information of
Bouma, "Normalized (Pointwise) Mutual Information in Collocation Extraction" (section 2.3)
as the score:

    npmi(a, b) = ln( p(a b) / (p(a) p(b)) ) / -ln p(a b)

with p(a) = count(a) / #tokens and p(a b) = (count(a b) - delta) / #tokens: one
denominator, as gensim's ``npmi_scorer``, so npmi never exceeds 1, and the discount delta
= 1 of Mikolov et al.'s phrase score, which "prevents too many phrases consisting of very
infrequent words" (npmi alone rates two words seen twice, together, as a perfect
phrase; in a 40-item shop that turned "brown plaid" into one). npmi is 1 for words that
only ever occur together, 0 for independent words, and does not depend on the
catalog's size, so one threshold fits small and large shops. A pair is a phrase when
npmi >= ``threshold`` and at least ``min_count`` items carry it (the label extraction's
own threshold). A second pass over the merged text finds triples ("mary-jane-flat")
the same way. Pairs never span a stop word, a number or punctuation.

Words keep being labels where a title uses them alone: "blue" stays a label next to
"navy-blue", but an item titled "Navy Blue Jeans" carries "navy-blue", not "navy" and
"blue".
"""
from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

Token = tuple[str, ...]  # the words of one label: ("navy", "blue") -> "navy-blue"

DISCOUNT = 1.0
DEFAULT_THRESHOLD = 0.6  # true phrases score 0.8-1.0 on shop titles, chance neighbours < 0.5
MAX_WORDS = 3


def npmi(pair_count: int, count_a: int, count_b: int, num_tokens: int, discount: float = DISCOUNT) -> float:
    """Normalised pointwise mutual information of a pair, in [-1, 1], with the pair count
    discounted by ``discount``."""
    if pair_count <= discount:
        return -1.0
    p_ab = (pair_count - discount) / num_tokens
    if p_ab >= 1.0:
        return 1.0
    p_a, p_b = count_a / num_tokens, count_b / num_tokens
    return math.log(p_ab / (p_a * p_b)) / -math.log(p_ab)


def find_phrases(runs_per_item: Sequence[Sequence[Sequence[Token]]], min_count: int,
                 threshold: float = DEFAULT_THRESHOLD, max_words: int = MAX_WORDS) -> set[Token]:
    """One pass: the adjacent pairs of tokens that are phrases.

    Args:
        runs_per_item: per item, its runs of adjacent tokens (a run ends at a stop word,
            number or punctuation mark).
        min_count: a phrase is carried by at least this many items.
        threshold: minimum npmi.
        max_words: longest phrase, in words.
    """
    tokens: Counter = Counter()
    pairs: Counter = Counter()
    items_with: Counter = Counter()
    for runs in runs_per_item:
        seen = set()
        for run in runs:
            tokens.update(run)
            for a, b in itertools.pairwise(run):
                # a repeated word ("dress dress") is emphasis, not a phrase
                if len(a) + len(b) <= max_words and not set(a) & set(b):
                    pairs[a, b] += 1
                    seen.add((a, b))
        items_with.update(seen)
    num_tokens = sum(tokens.values())
    return {
        a + b for (a, b), n in pairs.items()
        if items_with[a, b] >= min_count and npmi(n, tokens[a], tokens[b], num_tokens) >= threshold
    }


def merge(run: Sequence[Token], phrases: set[Token]) -> list[Token]:
    """Replaces adjacent tokens that form a phrase by the phrase, left to right."""
    merged: list[Token] = []
    i = 0
    while i < len(run):
        if i + 1 < len(run) and run[i] + run[i + 1] in phrases:
            merged.append(run[i] + run[i + 1])
            i += 2
        else:
            merged.append(run[i])
            i += 1
    return merged


def detect(runs_per_item: Sequence[Sequence[Sequence[str]]], min_count: int,
           threshold: float = DEFAULT_THRESHOLD, max_words: int = MAX_WORDS,
           ) -> tuple[list[list[Token]], set[Token]]:
    """Finds the phrases of a catalog and rewrites every item's words with them.

    Returns:
        (tokens per item, in order, each a tuple of one or more words; the phrases found).
    """
    runs = [[[(word,) for word in run] for run in item] for item in runs_per_item]
    found: set[Token] = set()
    for _ in range(max(0, max_words - 1)):  # pass 1 joins pairs, pass 2 grows triples
        phrases = find_phrases(runs, min_count, threshold, max_words)
        if not phrases:
            break
        found |= phrases
        runs = [[merge(run, phrases) for run in item] for item in runs]
    return [[token for run in item for token in run] for item in runs], found
