"""Sharded TFRecords of a catalog: writer, manifest, parallel reader (fashion_tf/data/tfrecords.py)."""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow)
from fashion_tf.data.catalog import catalog_fingerprint, load_catalog
from fashion_tf.data.pipeline import multi_hot
from fashion_tf.data.tfrecords import TFRecordsError, read_tfrecords


def run_tool(*argv):
    spec = importlib.util.spec_from_file_location(
        "write_tfrecords_tool", Path(__file__).resolve().parents[1] / "tools" / "write_tfrecords.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main([str(arg) for arg in argv])


@pytest.fixture(scope="module")
def records(tiny_shop, tmp_path_factory):
    shop = tmp_path_factory.mktemp("tfr") / "shop"
    shutil.copytree(tiny_shop, shop)
    catalog = load_catalog(shop)
    unmasked = catalog.items["item_id"].iloc[3]
    catalog.path(catalog.items["mask"].iloc[3]).unlink()  # an item without a mask on disk
    out = shop.parent / "records"
    assert run_tool("--catalog", shop, "--out", out, "--shards", 4) == 0
    return catalog, unmasked, out


def test_manifest_lists_shards_counts_and_fingerprint(records):
    catalog, _, out = records
    manifest = json.loads((out / "tfrecords.json").read_text())
    assert manifest["catalog_fingerprint"] == catalog_fingerprint(catalog)
    assert [entry["file"] for entry in manifest["shards"]] == [
        f"part-{i:05d}-of-00004.tfrecord" for i in range(4)]
    assert [entry["count"] for entry in manifest["shards"]] == [15, 15, 15, 15]
    assert manifest["count"] == len(catalog) == 60
    assert manifest["vocabulary"] == catalog.vocabulary


def test_reader_yields_the_catalog_items(records):
    catalog, unmasked, out = records
    read = {example["item_id"].decode(): example
            for example in read_tfrecords(out, parallel_reads=4).as_numpy_iterator()}
    assert sorted(read) == sorted(catalog.items["item_id"])
    labels = multi_hot(list(catalog.items["labels"]), catalog.vocabulary)
    for row, item in catalog.items.iterrows():
        example = read[item["item_id"]]
        assert example["image"] == catalog.path(item["image"]).read_bytes()
        np.testing.assert_array_equal(example["labels"], labels[row])
        assert example["split"].decode() == item["split"]
        want_mask = b"" if item["item_id"] == unmasked else catalog.path(item["mask"]).read_bytes()
        assert example["mask"] == want_mask
    train = [e["item_id"].decode() for e in read_tfrecords(out, split="train").as_numpy_iterator()]
    assert sorted(train) == sorted(catalog.split("train")["item_id"])


def test_missing_shard_is_named(records, tmp_path):
    _, _, out = records
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "part-00002-of-00004.tfrecord").unlink()
    with pytest.raises(TFRecordsError, match="part-00002-of-00004.tfrecord: shard listed in"):
        read_tfrecords(broken)
    with pytest.raises(TFRecordsError, match="not a TFRecord directory"):
        read_tfrecords(tmp_path)


def test_training_refuses_a_tfrecord_directory_for_now(records):
    from fashion_tf.training_data import resolve_catalog

    with pytest.raises(NotImplementedError, match="records: training from sharded TFRecords"):
        resolve_catalog(records[2])
