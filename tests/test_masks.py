"""Foreground masks: estimate, confidence, cache (paper 3.1, docs/masks.md)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow)
from fashion_tf.data import demo_shop, masks, schema
from fashion_tf.data.catalog import load_catalog


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float((a & b).sum() / max(1, (a | b).sum()))


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    return demo_shop.generate_demo_shop(tmp_path_factory.mktemp("masks_shop"), items=40,
                                        users=4, seed=11, image_size=64)


def test_contour_masks_match_the_drawn_silhouettes(shop):
    items = load_catalog(shop).items
    scores = []
    for row in items.itertuples():
        found = cv2.imread(str(shop / row.mask), cv2.IMREAD_GRAYSCALE)
        truth = cv2.imread(str(shop / schema.TRUE_MASKS_DIR / f"{row.item_id}.png"),
                           cv2.IMREAD_GRAYSCALE)
        assert found.shape == truth.shape == (64, 64)
        assert set(np.unique(found)) <= {0, 255}
        scores.append(iou(found, truth))
    assert np.mean(scores) >= 0.9
    assert np.min(scores) >= 0.7


def test_product_photo_with_soft_shadow_and_jpeg():
    """A real-photo-like product: a coloured bag body with a white logo and a
    background-coloured handle loop, a blurred drop shadow, light grey backdrop with a
    gentle gradient, JPEG quality 75. The shadow and the loop must stay background;
    the white logo must be foreground."""
    h = w = 128
    truth = np.zeros((h, w), np.uint8)
    cv2.rectangle(truth, (34, 50), (94, 110), 255, -1)
    cv2.ellipse(truth, (64, 50), (22, 26), 0, 180, 360, 255, 5)
    shadow = np.zeros((h, w), np.float32)
    cv2.rectangle(shadow, (40, 58), (100, 116), 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 5)
    gradient = np.linspace(-4, 4, h, dtype=np.float32)[:, None, None]
    image = np.full((h, w, 3), 222, np.float32) + gradient
    image *= 1 - 0.12 * shadow[..., None]
    image[truth > 0] = (150, 60, 40)
    cv2.circle(image, (64, 80), 9, (250, 250, 250), -1)  # white logo inside the item
    photo = jpeg(np.clip(image, 0, 255).astype(np.uint8), 75)
    found = masks.compute_mask(photo)
    assert found.dtype == np.uint8 and found.shape == (h, w)
    assert iou(found, truth) >= 0.9
    assert found[80, 64] == 255            # logo filled
    assert found[35, 64] == 0              # inside the handle loop
    assert found[118, 100] == 0            # the shadow


def test_photo_without_a_plain_backdrop_is_flagged():
    """Noise has no backdrop to model: whatever mask comes out must not be used."""
    noise = np.random.default_rng(0).integers(0, 256, (40, 50, 3)).astype(np.uint8)
    result = masks.estimate_mask(noise)
    assert result.mask.shape == (40, 50) and not result.usable and result.reason
    blank = np.full((64, 64, 3), 240, np.uint8)  # nothing on the backdrop
    result = masks.estimate_mask(blank)
    assert result.area < masks.MIN_AREA and "covers" in result.reason


def test_grayscale_input_and_bad_input():
    gray = np.full((32, 32), 240, np.uint8)
    gray[8:24, 8:24] = 30
    found = masks.compute_mask(gray)
    assert iou(found, gray < 100) >= 0.9
    with pytest.raises(ValueError, match="uint8 RGB"):
        masks.compute_mask(np.zeros((8, 8, 3), np.float32))


def test_specks_are_dropped():
    image = np.full((100, 100, 3), 240, np.uint8)
    image[20:80, 30:70] = (20, 120, 40)
    image[5:7, 90:92] = (0, 0, 0)  # dust: far below 1 % of the image
    found = masks.compute_mask(image)
    assert found[6, 91] == 0 and found[50, 50] == 255


def test_ensure_masks_reuses_and_reports(shop, tmp_path):
    import shutil

    copy = tmp_path / "shop"
    shutil.copytree(shop, copy)
    first = min((copy / schema.MASKS_DIR).glob("*.png"))
    first.unlink()
    (copy / "images" / "item00001.jpg").write_bytes(b"not a jpeg")
    (copy / schema.MASKS_DIR / "item00001.png").unlink()
    catalog = masks.ensure_masks(copy)
    report = catalog.mask_report
    assert report["computed"] == 1 and report["reused"] == 38
    assert list(report["failed"]) == ["item00001"]
    assert report["flagged"] == {}  # the demo drawings all get usable masks
    verdicts = masks.load_confidence(copy)
    assert sorted(verdicts) == sorted(i for i in load_catalog(copy).items["item_id"] if i != "item00001")
    assert all(0.5 <= c <= 1 and 0.03 < a < 0.95 and r is None for c, a, r in verdicts.values())
    items = load_catalog(copy).items.set_index("item_id")
    assert items.loc["item00000", "mask"] == "masks/item00000.png"
    assert not isinstance(items.loc["item00001", "mask"], str)  # no mask for a bad image
    assert first.is_file()  # the deleted mask was computed again


def test_cli_summary(shop, tmp_path, capsys):
    import shutil

    copy = tmp_path / "shop"
    shutil.copytree(shop, copy)
    shutil.rmtree(copy / schema.MASKS_DIR)
    assert masks.main(["--catalog", str(copy), "--workers", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2].startswith("masks: computed 40, reused 0, failed 0")
    assert lines[-1] == "0 of 40 items have no usable mask (never pasted on a background)"


def test_ensure_masks_recomputes_the_mask_of_a_replaced_image(shop, tmp_path):
    """An image replaced after its mask was cached (here by a wider one) gets a new mask
    of its own size instead of the stale silhouette."""
    import os
    import shutil

    copy = tmp_path / "shop"
    shutil.copytree(shop, copy)
    image_file = copy / "images" / "item00002.jpg"
    wide = np.full((40, 90, 3), 245, np.uint8)
    wide[10:30, 20:70] = (30, 60, 200)
    cv2.imwrite(str(image_file), wide)
    mask_file = copy / schema.MASKS_DIR / "item00002.png"
    os.utime(mask_file, ns=(image_file.stat().st_mtime_ns - 10**9,) * 2)  # cached before the change
    report = masks.ensure_masks(copy).mask_report
    assert report["computed"] == 1
    new_mask = cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE)
    assert new_mask.shape == (40, 90) and new_mask[20, 45] == 255 and new_mask[5, 5] == 0
