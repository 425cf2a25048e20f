"""One tf.data iterator for all training epochs (``fashion_tf.training.common.one_iterator``):
every epoch is still one pass over the readable training items, in a new order, with
new augmentation draws, and the same optimizer steps per epoch as a finite dataset."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from fashion_tf.data.pipeline import PipelineReport, make_dataset
from fashion_tf.data.tfrecord_pipeline import make_tfrecord_dataset
from fashion_tf.training.common import one_iterator

BATCH = 16


@pytest.mark.parametrize("reader", ["catalog", "tfrecords"])
def test_each_epoch_of_one_iterator_is_one_reshuffled_pass(tiny_records, reader):
    catalog, (_, _, broken), records = tiny_records
    train = catalog.items[catalog.items["split"] == "train"]
    readable = sorted(str(i) for i in train["item_id"] if i != broken)  # the undecodable image is left out
    report = PipelineReport()
    make = make_dataset if reader == "catalog" else make_tfrecord_dataset
    ds = make(catalog if reader == "catalog" else records, "train", 32, BATCH, catalog.vocabulary, training=True,
              with_ids=True, seed=0, report=report)
    assert report.num_readable == len(readable)
    repeated, steps = one_iterator(ds, report.num_readable, BATCH)
    assert steps == math.ceil(len(readable) / BATCH)

    batches = iter(repeated)
    epochs = []
    for _ in range(2):
        epoch = [next(batches) for _ in range(steps)]
        # the pass's partial batch is kept (as fit saw it without repeat): not merged with the next pass
        assert [len(ids) for _, _, ids in epoch] == [BATCH] * (steps - 1) + [len(readable) - BATCH * (steps - 1)]
        ids = [i.decode() for _, _, batch_ids in epoch for i in batch_ids.numpy()]
        assert Counter(ids) == Counter(readable)  # every readable item exactly once
        epochs.append((ids, np.concatenate([images.numpy() for images, _, _ in epoch])))
    (order1, images1), (order2, images2) = epochs
    assert order1 != order2  # reshuffled
    # augmentation draws anew every pass: an item's pixels differ between epochs
    position2 = {item: row for row, item in enumerate(order2)}
    changed = [not np.array_equal(images1[row], images2[position2[item]]) for row, item in enumerate(order1)]
    assert np.mean(changed) > 0.9, np.mean(changed)


def test_classifier_runs_ceil_items_over_batch_steps_per_epoch(tiny_run, tiny_shop):
    """The trainer's repeated dataset keeps the optimizer steps of a finite one:
    ceil(training items / batch size) per epoch, 2 epochs at batch 16 (``tiny_run``)."""
    items = pd.read_parquet(tiny_shop / "items.parquet")
    num_train = int((items["split"] == "train").sum())
    model = tf.keras.models.load_model(tiny_run / "model.keras")
    assert int(model.optimizer.iterations.numpy()) == 2 * math.ceil(num_train / BATCH)
