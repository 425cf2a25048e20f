"""Training from sharded TFRecords: the same examples and augmentation as from the
catalog directory (fashion_tf/data/tfrecord_pipeline.py), and a run trained from them."""
import json

import numpy as np
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow)
from fashion_tf.data import tfrecord_pipeline, tfrecords
from fashion_tf.data.augment_settings import AugmentationSettings
from fashion_tf.data.catalog import catalog_fingerprint
from fashion_tf.data.pipeline import PipelineReport, catalog_elements, make_dataset
from fashion_tf.data.tfrecord_pipeline import make_tfrecord_dataset, tfrecord_elements

SIZE = 32


def by_id(dataset):
    """{item_id: (labels, image, mask)} of an element dataset."""
    return {item_id.decode(): (labels, image, mask) for image, mask, labels, item_id in dataset.as_numpy_iterator()}


@pytest.mark.parametrize("training", [False, True], ids=["evaluation", "training"])
def test_records_yield_the_catalog_examples(tiny_records, training):
    catalog, (_, flagged, broken), out = tiny_records
    options = {"training": training, "augment": AugmentationSettings(background_p=1.0), "seed": 3}
    split = "train" if training else None
    from_catalog = by_id(catalog_elements(catalog, split, SIZE, catalog.vocabulary, **options))
    from_records = by_id(tfrecord_elements(out, split, SIZE, catalog.vocabulary, **options))
    want = catalog.items if split is None else catalog.split(split)
    assert sorted(from_records) == sorted(from_catalog) == sorted(set(want["item_id"]) - {broken})
    for item_id, (labels, image, mask) in from_catalog.items():
        other_labels, other_image, other_mask = from_records[item_id]
        np.testing.assert_array_equal(other_labels, labels)
        assert other_image.dtype == image.dtype == (np.uint8 if training else np.float32)
        np.testing.assert_array_equal(other_image, image, err_msg=item_id)
        np.testing.assert_array_equal(other_mask, mask, err_msg=item_id)
    if training:  # masks read for the paste: the flagged one stays empty on both paths
        assert from_records[flagged][2].max() == 0
        assert all(mask.max() == 255 for item_id, (_, _, mask) in from_records.items() if item_id != flagged)


def test_background_paste_from_records_spares_the_flagged_item(tiny_records, monkeypatch):
    catalog, (_, flagged, _), out = tiny_records
    plain = {i.decode(): x for x, _, ids in make_dataset(catalog, "train", SIZE, 64, with_ids=True)
             .as_numpy_iterator() for i, x in zip(ids, x)}
    reads, read = [], tfrecords.read_tfrecords_manifest  # tfrecords.json: read once (records and report)
    for module in (tfrecords, tfrecord_pipeline):
        monkeypatch.setattr(module, "read_tfrecords_manifest", lambda directory: reads.append(directory) or read(directory))
    report = PipelineReport()
    pasted = {i.decode(): x for x, _, ids in make_tfrecord_dataset(
        out, "train", SIZE, 64, training=True, augment=AugmentationSettings(augmentation="none", background_p=1.0),
        with_ids=True, seed=0, report=report)
        .as_numpy_iterator() for i, x in zip(ids, x)}
    assert reads == [out] and flagged in report.unusable_masks
    assert sorted(pasted) == sorted(plain)
    changed = {i for i in plain if not np.array_equal(pasted[i], plain[i])}
    assert flagged in plain and flagged not in changed
    assert changed == set(plain) - {flagged}


def test_train_tiny_model_from_records(tiny_records, tmp_path):
    from fashion_tf import train
    from fashion_tf.runs import load_run

    catalog, _, out = tiny_records
    run_dir = tmp_path / "run"
    assert train.main(["--model", "tiny", "--data", str(out), "--epochs", "1", "--image-size", str(SIZE),
                       "--batch-size", "16", "--augmentation", "none", "--background-p", "0",
                       "--out", str(run_dir)]) == 0
    run = load_run(run_dir)
    manifest = json.loads((out / "tfrecords.json").read_text())
    assert run.config["data"] == str(out.resolve()) and run.config["data_format"] == "tfrecords"
    assert run.config["data_fingerprint"] == catalog_fingerprint(catalog)
    assert run.catalog_dir == catalog.root.resolve()
    assert run.vocabulary == catalog.vocabulary
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_images"] == manifest["splits"]["test"]
    assert metrics["epochs_run_this_session"] == 1
    assert (run_dir / "labels.json").read_bytes() == (out / "labels.json").read_bytes()
