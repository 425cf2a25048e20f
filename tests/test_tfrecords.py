"""Sharded TFRecords of a catalog: writer, manifest, parallel reader (fashion_tf/data/tfrecords.py)."""
import json
import shutil

import numpy as np
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow)
from fashion_tf.data.catalog import catalog_fingerprint
from fashion_tf.data.pipeline import multi_hot
from fashion_tf.data.tfrecords import TFRecordsError, read_tfrecords


def test_manifest_lists_shards_counts_and_fingerprint(tiny_records):
    catalog, (_, flagged, broken), out = tiny_records
    manifest = json.loads((out / "tfrecords.json").read_text())
    assert manifest["catalog_fingerprint"] == catalog_fingerprint(catalog)
    assert manifest["catalog"] == str(catalog.root.resolve())
    assert [entry["file"] for entry in manifest["shards"]] == [
        f"part-{i:05d}-of-00004.tfrecord" for i in range(4)]
    assert [entry["count"] for entry in manifest["shards"]] == [15, 15, 15, 14]
    assert manifest["count"] == len(catalog) - 1 == 59
    assert manifest["vocabulary"] == catalog.vocabulary
    assert list(manifest["skipped"]) == [broken]
    assert manifest["unusable_masks"] == {flagged: "confidence below 0.5"}
    kept = catalog.items[catalog.items["item_id"] != broken]
    assert manifest["splits"] == kept["split"].value_counts().sort_index().to_dict()
    train = kept[kept["split"] == "train"]
    assert manifest["label_counts"]["train"] == multi_hot(list(train["labels"]), catalog.vocabulary).sum(0).tolist()
    assert (out / "labels.json").read_bytes() == (catalog.root / "labels.json").read_bytes()


def test_reader_yields_the_catalog_items(tiny_records):
    catalog, (remasked, flagged, broken), out = tiny_records
    read = {example["item_id"].decode(): example
            for example in read_tfrecords(out, parallel_reads=4).as_numpy_iterator()}
    assert sorted(read) == sorted(set(catalog.items["item_id"]) - {broken})
    labels = multi_hot(list(catalog.items["labels"]), catalog.vocabulary)
    for row, item in catalog.items[catalog.items["item_id"] != broken].iterrows():
        example = read[item["item_id"]]
        assert example["image"] == catalog.path(item["image"]).read_bytes()
        np.testing.assert_array_equal(example["labels"], labels[row])
        assert example["split"].decode() == item["split"]
        # the deleted mask was computed again; a flagged mask is never pasted, so not stored
        want_mask = b"" if item["item_id"] == flagged else catalog.path(item["mask"]).read_bytes()
        assert example["mask"] == want_mask, item["item_id"]
    assert read[remasked]["mask"] != b""
    train = [e["item_id"].decode() for e in read_tfrecords(out, split="train").as_numpy_iterator()]
    assert sorted(train) == sorted(set(catalog.split("train")["item_id"]) - {broken})


def test_missing_shard_is_named(tiny_records, tmp_path):
    _, _, out = tiny_records
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "part-00002-of-00004.tfrecord").unlink()
    with pytest.raises(TFRecordsError, match="part-00002-of-00004.tfrecord: shard listed in"):
        read_tfrecords(broken)
    with pytest.raises(TFRecordsError, match="not a TFRecord directory"):
        read_tfrecords(tmp_path)


def test_style_trainer_names_the_catalog_for_a_tfrecord_directory(tiny_records):
    from fashion_tf.training_data import resolve_catalog

    _, _, out = tiny_records
    with pytest.raises(ValueError, match="records is a TFRecord directory, which only the classifier"):
        resolve_catalog(out)
