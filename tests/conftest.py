"""Shared fixtures: a tiny demo shop and a tiny trained run, built once per session.

Everything is small enough for a 2-core CPU: 64 px images, a few dozen items, and the
`tiny` zoo entry (a small CNN with the same head as V1-V5) for anything that needs a
trained model.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import fashion_tf  # noqa: F401  (before TensorFlow: Keras 2 as tf.keras)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
# Tests never download: "imagenet" weights come from the Keras cache or fall back.
os.environ["FASHION_TF_OFFLINE"] = "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: full-size zoo save/load round trips (minutes on 2 cores)")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Never touch the user's ~/.cache or ~/.keras from tests."""
    cache = tmp_path_factory.mktemp("fashion_tf_cache")
    os.environ["FASHION_TF_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_shop(tmp_path_factory) -> Path:
    """A 60-item demo shop at 64 px with users, outfits and street queries."""
    from fashion_tf.data.demo_shop import generate_demo_shop

    out = tmp_path_factory.mktemp("tiny_shop")
    return Path(generate_demo_shop(out, items=60, users=8, seed=0, image_size=64))


@pytest.fixture(scope="session")
def tiny_run(tiny_shop, tmp_path_factory) -> Path:
    """A finished run of the `tiny` zoo model on the tiny shop (2 epochs, 48 px), with the
    default weights ("auto": the tiny CNN has no ImageNet weights, so from scratch)."""
    from fashion_tf import train
    from fashion_tf.config import config_for

    out = tmp_path_factory.mktemp("runs") / "tiny"
    train.train(config_for("tiny", data=str(tiny_shop), epochs=2, image_size=48, batch_size=16, out=str(out)))
    return out
