"""The tf.data pipeline: shapes, labels, ids, bad files, masks (docs/design.md, "Augmentation")."""
from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf.data.augment_settings import AugmentationSettings
from fashion_tf.data.pipeline import (
    CHECK_CACHE_FILE,
    PipelineReport,
    check_images,
    image_files_dataset,
    make_dataset,
    multi_hot,
)

VOCABULARY = ["blue", "dress", "red", "shirt"]
COLOURS = {"red": (200, 30, 30), "blue": (30, 30, 200)}


def build_catalog(root: Path, n: int = 8, size: int = 40, with_masks: bool = True, odd_files: bool = False) -> Path:
    """n items: a red or blue shape drawn with cv2 on white, its mask, items.parquet.

    With ``odd_files`` it adds one item per file kind: grayscale PNG, RGBA PNG, CMYK
    JPEG, PNG named .jpg (all readable) and truncated JPEG, empty file, text (not).
    """
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = []
    for i in range(n):
        colour = "red" if i % 2 == 0 else "blue"
        kind = "dress" if i % 3 == 0 else "shirt"
        image = np.full((size, size * 3 // 4, 3), 255, np.uint8)
        mask = np.zeros(image.shape[:2], np.uint8)
        for target, value in ((image, COLOURS[colour]), (mask, 255)):
            cv2.rectangle(target, (6, 8), (image.shape[1] - 7, size - 9), value, thickness=cv2.FILLED)
        cv2.imwrite(str(root / f"images/{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / f"masks/{i}.png"), mask)
        rows.append({"item_id": str(i), "image": f"images/{i}.png", "labels": [colour, kind],
                         "split": "train" if i < n - 2 else "val", "mask": f"masks/{i}.png" if with_masks else None})
    if odd_files:
        rgb = np.zeros((size, size, 3), np.uint8)
        rgb[:] = COLOURS["red"]
        good = {
            "gray.png": lambda p: Image.fromarray(rgb).convert("L").save(p, "PNG"),
            "rgba.png": lambda p: Image.fromarray(rgb).convert("RGBA").save(p, "PNG"),
            "cmyk.jpg": lambda p: Image.fromarray(rgb).convert("CMYK").save(p, "JPEG"),
            "png_named.jpg": lambda p: Image.fromarray(rgb).save(p, "PNG"),
        }
        buffer = io.BytesIO()
        Image.fromarray(np.random.RandomState(0).randint(0, 255, (64, 64, 3), np.uint8)).save(buffer, "JPEG")
        bad = {
            "truncated.jpg": buffer.getvalue()[: len(buffer.getvalue()) // 2],
            "empty.jpg": b"",
            "text.jpg": b"this is not an image\n",
        }
        for name, write in good.items():
            write(root / "images" / name)
        for name, data in bad.items():
            (root / "images" / name).write_bytes(data)
        for name in [*good, *bad]:
            rows.append({"item_id": name, "image": f"images/{name}", "labels": ["red"], "split": "train", "mask": None})
    items = pd.DataFrame(rows)
    items["category"] = [labels[1] if len(labels) > 1 else "other" for labels in items["labels"]]
    items["title"] = "item " + items["item_id"]
    items["domain"] = "shop"
    items.to_parquet(root / "items.parquet")
    counts = {label: int(sum(label in labels for labels in items["labels"])) for label in VOCABULARY}
    (root / "labels.json").write_text(json.dumps({"vocabulary": VOCABULARY, "counts": counts, "num_items": len(items),
                                                  "min_count": 1, "final_count": 4}))
    return root


def background_files(root: Path) -> list[str]:
    files = []
    for i in range(2):
        path = root / f"bg{i}.jpg"
        cv2.imwrite(str(path), np.random.RandomState(i).randint(0, 90, (80, 120, 3), np.uint8))
        files.append(str(path))
    return files


def test_multi_hot_marks_known_labels_and_ignores_unknown():
    out = multi_hot([["red", "dress"], [], ["unknown", "shirt"]], VOCABULARY)
    np.testing.assert_array_equal(out, [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
    assert out.dtype == np.float32


def test_eval_dataset_shapes_labels_and_ids(tmp_path):
    root = build_catalog(tmp_path / "shop")
    ds = make_dataset(root, "train", 32, 4, VOCABULARY, with_ids=True)
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [4, 2]
    images, labels, ids = (np.concatenate([b[i].numpy() for b in batches]) for i in range(3))
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.float32 and labels.shape == (6, 4)
    assert [i.decode() for i in ids] == ["0", "1", "2", "3", "4", "5"]  # eval keeps catalog order
    for item_id, image, label in zip(ids, images, labels):
        colour = "red" if int(item_id) % 2 == 0 else "blue"
        kind = "dress" if int(item_id) % 3 == 0 else "shirt"
        np.testing.assert_array_equal(label, multi_hot([[colour, kind]], VOCABULARY)[0])
        np.testing.assert_allclose(image[16, 16], COLOURS[colour], atol=2)  # decoded pixels
        assert (image[:, 0] == 255).all()  # 40x30 image padded with white columns


def test_split_none_means_all_rows_and_unknown_split_raises(tmp_path):
    root = build_catalog(tmp_path / "shop")
    assert sum(b[0].shape[0] for b in make_dataset(root, None, 16, 8, VOCABULARY)) == 8
    with pytest.raises(ValueError, match="no rows with split == 'test'"):
        make_dataset(root, "test", 16, 8, VOCABULARY)


def test_bad_files_are_skipped_and_counted_odd_files_decode(tmp_path):
    root = build_catalog(tmp_path / "shop", odd_files=True)
    report = PipelineReport()
    augment = AugmentationSettings(background_p=0.5, background_files=background_files(tmp_path))
    ds = make_dataset(root, "train", 24, 5, VOCABULARY, training=True, augment=augment, with_ids=True, seed=1,
                      report=report)
    for _ in range(2):  # two whole epochs complete
        ids = sorted(i.decode() for b in ds for i in b[2].numpy())
    assert ids == sorted(["0", "1", "2", "3", "4", "5", "gray.png", "rgba.png", "cmyk.jpg", "png_named.jpg"])
    assert sorted(Path(p).name for p in report.skipped) == ["empty.jpg", "text.jpg", "truncated.jpg"]
    assert report.skipped[str(root / "images/empty.jpg")] == "empty file"
    assert "jpeg::Uncompress failed" in report.skipped[str(root / "images/truncated.jpg")]
    assert report.summary().startswith("10 of 13 images usable, 3 skipped; ")
    # The odd files are tiny uniform images: nothing to cut out, so their masks are flagged.
    assert report.masked_items == 10 and {"gray.png", "rgba.png", "cmyk.jpg"} <= set(report.unusable_masks)
    # The verdicts are cached next to the catalog and reused.
    cache = json.loads((root / CHECK_CACHE_FILE).read_text())
    assert cache[str(root / "images/text.jpg")][2].startswith("not a decodable image")


def test_odd_files_decode_to_the_expected_pixels(tmp_path):
    root = build_catalog(tmp_path / "shop", odd_files=True)
    paths = [root / "images" / n for n in ("gray.png", "rgba.png", "cmyk.jpg", "png_named.jpg", "empty.jpg")]
    report = PipelineReport()
    (images, names), = list(image_files_dataset(paths, 16, 8, report=report))
    assert [Path(n.decode()).name for n in names.numpy()] == ["gray.png", "rgba.png", "cmyk.jpg", "png_named.jpg"]
    gray = np.asarray(Image.fromarray(np.full((1, 1, 3), COLOURS["red"], np.uint8)).convert("L"))[0, 0]
    np.testing.assert_allclose(images[0, 8, 8], [gray] * 3, atol=1)
    for k in (1, 2, 3):
        np.testing.assert_allclose(images[k, 8, 8], COLOURS["red"], atol=6)
    assert list(report.skipped) == [str(paths[-1])]


def test_check_images_cache_redecodes_changed_files(tmp_path):
    path = tmp_path / "a.png"
    cache = tmp_path / "cache.json"
    path.write_bytes(b"garbage")
    assert list(check_images([str(path)], cache)) == [str(path)]
    cv2.imwrite(str(path), np.zeros((4, 4, 3), np.uint8))
    assert check_images([str(path)], cache) == {}


def test_training_with_background_augmentation_changes_the_white_background(tmp_path):
    root = build_catalog(tmp_path / "shop")
    augment = AugmentationSettings(augmentation="none", background_p=1.0, background_files=background_files(tmp_path))
    ds = make_dataset(root, "train", 32, 6, VOCABULARY, training=True, augment=augment, seed=0)
    images, labels = next(iter(ds))
    assert images.shape == (6, 32, 32, 3) and labels.shape == (6, 4)
    # Every corner (white in the catalog) now shows the dark background photograph.
    assert images.numpy()[:, 0, 0].max() < 100


def test_seeded_training_is_reproducible_and_epochs_differ(tmp_path):
    root = build_catalog(tmp_path / "shop")
    augment = AugmentationSettings(augmentation="heavy", background_p=0.5, background_files=background_files(tmp_path))
    kwargs = {"training": True, "augment": augment, "seed": 3}
    first = make_dataset(root, "train", 24, 6, VOCABULARY, **kwargs)
    second = make_dataset(root, "train", 24, 6, VOCABULARY, **kwargs)
    a, b = next(iter(first))[0].numpy(), next(iter(second))[0].numpy()
    np.testing.assert_allclose(a, b, atol=1e-4)
    again = next(iter(first))[0].numpy()  # second epoch of the same dataset
    assert np.abs(a - again).max() > 1


def test_missing_masks_are_computed_on_demand(tmp_path):
    root = build_catalog(tmp_path / "shop", with_masks=False)
    for mask in (root / "masks").iterdir():
        mask.unlink()
    augment = AugmentationSettings(augmentation="none", background_p=1.0, background_files=background_files(tmp_path))
    ds = make_dataset(root, "train", 32, 6, VOCABULARY, training=True, augment=augment, seed=0)
    images, _ = next(iter(ds))
    assert images.numpy()[:, 0, 0].max() < 100  # masks found, items pasted
    assert len(list((root / "masks").iterdir())) >= 6


def model_size_jpegs(root: Path, size: int, names: list[str]) -> None:
    """Rewrites the given items as JPEGs (and masks) of exactly size x size: the fast path."""
    items = pd.read_parquet(root / "items.parquet")
    for name in names:
        image = np.full((size, size, 3), 255, np.uint8)
        mask = np.zeros((size, size), np.uint8)
        cv2.rectangle(image, (4, 3), (size - 5, size - 4), (30, 30, 200), thickness=cv2.FILLED)
        cv2.rectangle(mask, (4, 3), (size - 5, size - 4), 255, thickness=cv2.FILLED)
        cv2.imwrite(str(root / f"images/{name}_sq.jpg"), image)
        cv2.imwrite(str(root / f"masks/{name}_sq.png"), mask)
        row = items["item_id"] == name
        items.loc[row, "image"] = f"images/{name}_sq.jpg"
        items.loc[row, "mask"] = f"masks/{name}_sq.png"
    items.to_parquet(root / "items.parquet")


def test_model_size_reader_gives_the_general_readers_pixels(tmp_path):
    import tensorflow as tf

    from fashion_tf.data.pipeline import _read_at_model_size, _read_image_and_mask

    root = build_catalog(tmp_path / "shop", n=2)
    model_size_jpegs(root, 24, ["0"])
    path, mask = tf.constant(str(root / "images/0_sq.jpg")), tf.constant(str(root / "masks/0_sq.png"))
    fast_image, fast_mask = _read_at_model_size(path, mask, 24, True)
    image, mask_general = _read_image_and_mask(path, mask, 24, True, True)
    assert fast_image.dtype == tf.uint8 and fast_image.shape == (24, 24, 3)
    np.testing.assert_array_equal(fast_image.numpy(), image.numpy())
    np.testing.assert_array_equal(fast_mask.numpy(), mask_general.numpy())


def test_mixed_fast_and_general_files_give_every_item_once_per_epoch(tmp_path):
    """Model-size JPEGs (branch-free reader) and other files (general reader) are merged."""
    root = build_catalog(tmp_path / "shop", n=8)
    model_size_jpegs(root, 24, ["0", "1", "2"])  # 3-5 stay 40 x 30 PNGs: general reader
    expected = ["0", "1", "2", "3", "4", "5"]
    for seed in (None, 4):
        augment = AugmentationSettings(background_p=1.0, background_files=background_files(tmp_path))
        ds = make_dataset(root, "train", 24, 4, VOCABULARY, training=True, augment=augment, with_ids=True, seed=seed)
        epochs = [[i.decode() for b in ds for i in b[2].numpy()] for _ in range(2)]
        assert [sorted(ids) for ids in epochs] == [expected, expected]
        if seed is not None:  # (unseeded: equal orders have a 1/720 chance)
            assert epochs[0] != epochs[1]  # reshuffled
    # The check cache now records the decoded size and JPEG-ness used to route files.
    cache = json.loads((root / CHECK_CACHE_FILE).read_text())
    from fashion_tf.data.pipeline import _is_at_model_size

    assert cache[str(root / "images/0_sq.jpg")][2:] == [None, 24, 24, True]
    assert _is_at_model_size(cache[str(root / "images/0_sq.jpg")][2:], 24, jpeg=True)
    assert not _is_at_model_size(cache[str(root / "images/3.png")][2:], 24, jpeg=True)
    assert _is_at_model_size(cache[str(root / "masks/0_sq.png")][2:], 24)


def test_unreadable_mask_means_no_paste_not_a_lost_item(tmp_path):
    root = build_catalog(tmp_path / "shop", n=8)
    (root / "masks/0.png").write_bytes(b"not a png")
    report = PipelineReport()
    augment = AugmentationSettings(augmentation="none", background_p=1.0, background_files=background_files(tmp_path))
    ds = make_dataset(root, "train", 24, 8, VOCABULARY, training=True, augment=augment, with_ids=True, seed=0,
                      report=report)
    images, _, ids = next(iter(ds))
    ids = [i.decode() for i in ids.numpy()]
    assert sorted(ids) == ["0", "1", "2", "3", "4", "5"]
    corners = images.numpy()[:, 0, 0]
    assert corners[ids.index("0")].min() > 250  # no mask: left on its white background
    assert max(corners[i].max() for i in range(len(ids)) if ids[i] != "0") < 100  # the others pasted
    assert any("unreadable mask" in note for note in report.notes)
