"""AugmentationSettings: checked once, on construction, naming the field and what it allows."""
from __future__ import annotations

import pytest

from fashion_tf.config import TrainConfig
from fashion_tf.data.augment_settings import AugmentationSettings


@pytest.mark.parametrize("field, value, message", [
    ("augmentation", "wild", r"augmentation 'wild' unknown; expected one of \('none', 'standard', 'heavy'\)"),
    ("interpolation", "cubic", r"interpolation 'cubic' unknown; expected one of \('nearest', 'bilinear'\)"),
    ("background_p", 1.5, r"background_p 1.5 not in \[0, 1\]"),
    ("background_scale", (0.9, 0.4), r"background_scale \(0.9, 0.4\): expected \(low, high\) with 0 < low <= high"),
    ("background_blur", -1.0, r"background_blur -1.0: expected a sigma >= 0"),
    ("background_files", "one.jpg", r"background_files 'one.jpg': expected a list of paths"),
])
def test_bad_setting_raises_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=r"^AugmentationSettings: " + message):
        AugmentationSettings(**{field: value})


def test_sequences_become_tuples_and_settings_are_hashable():
    settings = AugmentationSettings(background_files=["a.jpg", "b.jpg"], background_scale=[0.5, 1])
    assert settings.background_files == ("a.jpg", "b.jpg") and settings.background_scale == (0.5, 1.0)
    assert hash(settings) == hash(AugmentationSettings(background_files=("a.jpg", "b.jpg"), background_scale=(0.5, 1.0)))


def test_from_config_and_what_runs_when():
    config = TrainConfig(model="tiny", augmentation="heavy", background_p=0.0)
    settings = AugmentationSettings.from_config(config, interpolation="bilinear")
    assert (settings.augmentation, settings.background_p, settings.interpolation) == ("heavy", 0.0, "bilinear")
    assert settings.warps(True) and not settings.pastes(True) and settings.augments(True)
    assert not settings.augments(False)  # evaluation is never augmented
    only_paste = AugmentationSettings(augmentation="none", background_p=0.5)
    assert only_paste.pastes(True) and not only_paste.warps(True) and only_paste.augments(True)
    assert not AugmentationSettings(augmentation="none", background_p=0.0).augments(True)
