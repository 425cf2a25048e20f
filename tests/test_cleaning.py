"""Cleaning drops each bad kind of image with the right reason (paper section 4.2)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import fashion_tf  # noqa: F401
from fashion_tf.data import cleaning
from fashion_tf.data.catalog import Catalog, load_catalog, save_catalog
from fashion_tf.data.cleaning import clean_catalog, dhash


def garment(colour, shape: int, size: int = 96) -> np.ndarray:
    """A flat-colour silhouette on a light background, like a shop photo."""
    image = np.full((size, size, 3), 235, np.uint8)
    if shape == 0:  # dress
        pts = np.array([[40, 10], [56, 10], [80, 88], [16, 88]])
        cv2.fillPoly(image, [pts], colour)
    elif shape == 1:  # shirt
        cv2.rectangle(image, (25, 20), (71, 85), colour, -1)
        cv2.rectangle(image, (5, 20), (91, 40), colour, -1)
    else:  # bag
        cv2.circle(image, (48, 30), 18, colour, 4)
        cv2.rectangle(image, (20, 40), (76, 85), colour, -1)
    return image


def with_pocket(image: np.ndarray) -> np.ndarray:
    image = image.copy()
    cv2.rectangle(image, (42, 60), (52, 70), (20, 20, 90), -1)
    return image


def with_stripes(image: np.ndarray) -> np.ndarray:
    image, garment_pixels = image.copy(), (image != 235).any(axis=2)
    for y in range(0, image.shape[0], 8):
        image[y:y + 3][garment_pixels[y:y + 3]] = (230, 230, 230)
    return image


@pytest.fixture
def dirty_catalog(tmp_path) -> Path:
    images = tmp_path / "images"
    images.mkdir()
    files = {
        "a_dress": garment((40, 40, 160), 0),
        "b_shirt_red": garment((30, 30, 200), 1),
        "c_shirt_blue": garment((200, 60, 30), 1),  # same cut, other colour: not a duplicate
        "d_bag": garment((20, 120, 20), 2),
        # Same cut and colour as a_dress, one detail apart: dHash alike, still kept.
        "d_dress_pocket": with_pocket(garment((40, 40, 160), 0)),
        "d_dress_striped": with_stripes(garment((40, 40, 160), 0)),
        "e_tiny": garment((40, 40, 160), 0, size=40),
        "f_empty": np.full((96, 96, 3), 200, np.uint8),
    }
    for name, pixels in files.items():
        assert cv2.imwrite(str(images / f"{name}.jpg"), pixels)
    # A re-encoded, resized copy of a_dress: a near-duplicate found after the original.
    resized = cv2.resize(garment((40, 40, 160), 0), (128, 128), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(images / "g_dress_copy.jpg"), resized, [cv2.IMWRITE_JPEG_QUALITY, 60])
    (images / "h_zero.jpg").write_bytes(b"")
    (images / "i_garbage.jpg").write_bytes(b"this is not a jpeg at all" * 10)
    # A download cut short (some OpenCV builds still decode it, grey-filled).
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    full = cv2.imencode(".jpg", noise)[1].tobytes()
    (images / "j_truncated.jpg").write_bytes(full[: len(full) * 2 // 3])
    names = sorted([*files, "g_dress_copy", "h_zero", "i_garbage", "j_truncated", "k_missing"])
    items = pd.DataFrame({
        "item_id": names, "image": [f"images/{n}.jpg" for n in names],
        "category": "Women", "title": names, "labels": [["dress"] if "dress" in n else ["other"]
                                                        for n in names],
        "split": "train", "domain": "shop"})
    interactions = pd.DataFrame({"user_id": ["u1", "u1", "u2"],
                                 "item_id": ["a_dress", "g_dress_copy", "k_missing"],
                                 "rating": [5, 4, 3], "timestamp": [1, 2, 3]})
    catalog = Catalog(tmp_path, items, vocabulary=["dress", "other"],
                      label_counts={"dress": 4, "other": 9})
    save_catalog(catalog, tmp_path, interactions=interactions)
    return tmp_path


def test_clean_catalog_drops_each_bad_kind(dirty_catalog, capsys):
    cleaned, report = clean_catalog(dirty_catalog)
    reasons = dict(zip(report["item_id"], report["reason"]))
    assert reasons == {"e_tiny": "tiny", "f_empty": "empty", "g_dress_copy": "duplicate",
                       "h_zero": "unreadable", "i_garbage": "unreadable",
                       "j_truncated": "unreadable", "k_missing": "missing"}
    details = dict(zip(report["item_id"], report["detail"]))
    assert details["g_dress_copy"] == "near-duplicate of a_dress"
    assert details["e_tiny"] == "40x40 px < 64"
    assert details["j_truncated"] == "truncated file" and details["h_zero"] == "zero bytes"
    assert list(report.columns) == ["item_id", "image", "reason", "detail"]
    kept = ["a_dress", "b_shirt_red", "c_shirt_blue", "d_bag", "d_dress_pocket",
            "d_dress_striped"]
    assert cleaned.items["item_id"].tolist() == kept
    # Written back: items, interactions of dropped items gone, label counts recounted, CSV.
    reloaded = load_catalog(dirty_catalog)
    assert reloaded.items["item_id"].tolist() == kept
    assert reloaded.interactions["item_id"].tolist() == ["a_dress"]
    assert reloaded.label_counts == {"dress": 3, "other": 3}
    csv = pd.read_csv(dirty_catalog / "cleaning_report.csv")
    assert sorted(csv["item_id"]) == sorted(reasons)
    assert capsys.readouterr().out.strip() == (
        "cleaning: kept 6/13 items; dropped 1 missing, 3 unreadable, 1 tiny, 1 empty, "
        "1 duplicate")
    # Cleaning a clean catalog changes nothing.
    again, report2 = clean_catalog(dirty_catalog, verbose=False)
    assert report2.empty and again.items["item_id"].tolist() == kept
    assert json.loads((dirty_catalog / "labels.json").read_text())["num_items"] == 6


def test_thresholds_are_parameters(dirty_catalog):
    _, report = clean_catalog(dirty_catalog, min_side=32, hash_distance=0, color_tolerance=0.0,
                              write=False, verbose=False)
    assert "e_tiny" not in set(report["item_id"])  # 40 px passes min_side=32 ...
    assert "duplicate" not in set(report["reason"])  # ... and nothing is an exact duplicate
    assert len(load_catalog(dirty_catalog)) == 13  # write=False leaves the directory alone


def test_dhash_is_stable_under_resizing_and_differs_between_shapes():
    """dHash tells cuts apart but not colours or small details: why cleaning also
    compares colour thumbnails."""
    dress, shirt = garment((40, 40, 160), 0), garment((40, 40, 160), 1)
    bigger = cv2.resize(dress, (200, 200))
    assert (dhash(dress) ^ dhash(bigger)).bit_count() <= 2
    assert (dhash(dress) ^ dhash(shirt)).bit_count() > 10
    assert (dhash(shirt) ^ dhash(garment((200, 60, 30), 1))).bit_count() <= 1
    assert (dhash(dress) ^ dhash(with_pocket(dress))).bit_count() <= 2


def test_cli(dirty_catalog, capsys):
    assert cleaning.main(["--catalog", str(dirty_catalog), "--dry-run"]) == 0
    assert "kept 6/13 items" in capsys.readouterr().out
    assert len(load_catalog(dirty_catalog)) == 13
    assert not (dirty_catalog / "cleaning_report.csv").exists()
