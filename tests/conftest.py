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


@pytest.fixture(scope="session")
def tiny_records(tiny_shop, tmp_path_factory):
    """The tiny shop written as 4 TFRecord shards by ``tools/write_tfrecords.py``, after,
    among its training items, one mask file was deleted (computed again on writing), one mask flagged as unusable
    in masks/confidence.json and one image made undecodable. Returns (the catalog as
    written from, (re-masked id, flagged id, broken id), the records directory)."""
    import importlib.util
    import json
    import shutil

    from fashion_tf.data.catalog import load_catalog

    shop = tmp_path_factory.mktemp("tfr") / "shop"
    shutil.copytree(tiny_shop, shop)
    catalog = load_catalog(shop)
    rows = [row for row, split in enumerate(catalog.items["split"]) if split == "train"][:3]
    remasked, flagged, broken = (catalog.items["item_id"].iloc[row] for row in rows)
    catalog.path(catalog.items["mask"].iloc[rows[0]]).unlink()
    confidence = shop / "masks" / "confidence.json"
    verdicts = json.loads(confidence.read_text())
    verdicts["items"][flagged][2] = "confidence below 0.5"
    confidence.write_text(json.dumps(verdicts))
    catalog.path(catalog.items["image"].iloc[rows[2]]).write_bytes(b"not an image")
    spec = importlib.util.spec_from_file_location("write_tfrecords_tool", ROOT / "tools" / "write_tfrecords.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = shop.parent / "records"
    assert tool.main(["--catalog", str(shop), "--out", str(out), "--shards", "4"]) == 0
    return load_catalog(shop), (remasked, flagged, broken), out
