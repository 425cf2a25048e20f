"""The typed training configuration: built from the zoo recipe plus overrides, strict
about unknown settings, and obeyed by the trainer (patience, optimizer)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from fashion_tf import zoo
from fashion_tf.config import (
    CPU_DEMO_EPOCHS,
    CPU_DEMO_IMAGE_SIZE,
    CPU_DEMO_LR_SCHEDULE,
    TrainConfig,
    config_for,
)
from fashion_tf.training import common


def test_config_is_the_recipe_with_overrides_on_top():
    recipe = zoo.get_entry("v5").recipe
    on_gpu = config_for("v5", on_gpu=True, data="/somewhere")
    assert on_gpu.image_size == 300 and on_gpu.epochs == recipe["epochs"]
    assert on_gpu.learning_rate == recipe["learning_rate"] and on_gpu.optimizer == recipe["optimizer"]
    assert on_gpu.scratch_learning_rate == recipe["scratch_learning_rate"] == 3e-3
    assert on_gpu.kind == "classifier" and on_gpu.weights == "auto" and on_gpu.background_p == 0.5
    # the CPU demo schedule applies only without data and without a GPU, and yields to flags
    demo = config_for("v5", on_gpu=False)
    assert (demo.image_size, demo.epochs) == (CPU_DEMO_IMAGE_SIZE, CPU_DEMO_EPOCHS)
    given = config_for("v5", on_gpu=False, epochs=3, image_size=96, learning_rate=0.01, batch_size=None)
    assert (given.image_size, given.epochs, given.batch_size) == (96, 3, recipe["batch_size"])
    # an explicit rate is used whether or not the weights turn out pretrained
    assert given.learning_rate_for(pretrained=True) == given.learning_rate_for(pretrained=False) == 0.01
    assert TrainConfig.from_dict({**given.to_dict(), "status": "finished", "vocabulary": ["a"]}) == given


def test_unknown_settings_are_errors_naming_them():
    with pytest.raises(TypeError, match="'patiense'"):
        config_for("tiny", patiense=3)
    with pytest.raises(ValueError, match="optimizer 'adagrad'"):
        config_for("tiny", optimizer="adagrad")
    # one rule for background_p (augment_settings.check_background_p), each error naming its owner
    with pytest.raises(ValueError, match=r"^TrainConfig: background_p 1.5 not in \[0, 1\]$"):
        config_for("tiny", background_p=1.5)
    with pytest.raises(ValueError, match=r"^zoo entry 'tiny': background_p -0.1 not in \[0, 1\]$"):
        dataclasses.replace(zoo.get_entry("tiny"), background_p=-0.1)
    bad = dataclasses.replace(zoo.get_entry("tiny"), name="tiny_typo", recipe={"epoch": 3})
    zoo.register(bad)
    try:
        with pytest.raises(TypeError, match="zoo entry 'tiny_typo' recipe: .*'epoch'"):
            config_for("tiny_typo")
    finally:
        zoo._REGISTRY.pop("tiny_typo")


@pytest.mark.parametrize("name", zoo.list_models(kind="classifier"))
def test_trainer_patience_is_the_card_patience(name, tmp_path):
    card = zoo.read_card(name)["recipe"]
    callbacks = common.build_callbacks(tmp_path, common.EpochProgress(1, 1), config_for(name))
    stopping = next(c for c in callbacks if isinstance(c, tf.keras.callbacks.EarlyStopping))
    assert stopping.patience == card["early_stopping_patience"]


@pytest.mark.parametrize(("name", "cls"), [("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD")])
def test_recipe_optimizer_is_obeyed(name, cls):
    config = config_for("tiny", optimizer=name, weight_decay=1e-4)
    optimizer = common.make_optimizer(config, 0.02)
    assert type(optimizer).__name__ == cls
    assert optimizer.get_config()["learning_rate"] == pytest.approx(0.02)
    if name == "adamw":
        assert optimizer.get_config()["weight_decay"] == pytest.approx(1e-4)


def test_run_name_says_scratch():
    config = config_for("v5", on_gpu=False)
    assert common.run_name(config, "none") == "v5_scratch"
    assert common.run_name(config, "imagenet") == "v5"
    assert str(common.run_directory(config, "none")) == "runs/v5_scratch"


def test_schedule_is_a_setting_and_bad_schedules_are_refused():
    assert config_for("v5", on_gpu=False).lr_schedule == CPU_DEMO_LR_SCHEDULE
    assert config_for("v5", on_gpu=True, data="/somewhere").lr_schedule == "plateau"
    assert config_for("v5", on_gpu=False, lr_schedule="cosine").lr_schedule == "cosine"
    with pytest.raises(ValueError, match="lr_schedule 'linear'"):
        config_for("tiny", lr_schedule="linear")


def test_cosine_schedule_sets_each_epochs_rate_and_replaces_plateau_cuts(tmp_path):
    epochs, peak = 4, 0.01
    config = config_for("tiny", data="/somewhere", epochs=epochs, lr_schedule="cosine")
    callbacks = common.build_callbacks(tmp_path, common.EpochProgress(32, epochs), config)
    assert not any(isinstance(c, tf.keras.callbacks.ReduceLROnPlateau) for c in callbacks)
    schedule = next(c for c in callbacks if isinstance(c, common.CosineSchedule))
    rates = []

    class Record(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rates.append(float(tf.keras.backend.get_value(self.model.optimizer.learning_rate)))

    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.Adam(peak), loss="mse")
    x, y = np.ones((32, 3), np.float32), np.zeros((32, 1), np.float32)
    model.fit(x, y, epochs=epochs, callbacks=[schedule, Record()], verbose=0)
    expected = [peak * 0.5 * (1 + np.cos(np.pi * e / epochs)) for e in range(epochs)]
    np.testing.assert_allclose(rates, expected, rtol=1e-5)
    assert rates[0] == pytest.approx(peak) and rates[-1] < 0.15 * peak
