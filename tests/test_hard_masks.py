"""Masks on hard product photos, flagged masks never pasted, review sheet, workers (paper 3.1)."""
from __future__ import annotations

import functools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow)
from fashion_tf.data import hard_photos, mask_review, masks, schema
from fashion_tf.data.augment_settings import AugmentationSettings
from fashion_tf.data.pipeline import PipelineReport, make_dataset


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float((a & b).sum() / max(1, (a | b).sum()))


@functools.cache
def graded(case: str) -> tuple[list[float], list[bool]]:
    """IoU against the drawn silhouette and usable/flagged, for the 30 photos of a case
    that the README's table reports (seed 7, 128 px)."""
    images, truths = hard_photos.hard_set(case, 30, seed=7, size=128)
    assert images[0].shape == (128, 128, 3) and truths[0].shape == (128, 128)
    results = [masks.estimate_mask(image) for image in images]
    return [iou(r.mask, t) for r, t in zip(results, truths)], [r.usable for r in results]


@pytest.mark.parametrize("case", hard_photos.CASES)
def test_hard_case_mean_iou(case):
    scores, _ = graded(case)
    assert np.mean(scores) >= 0.85, scores


@pytest.mark.parametrize("case", hard_photos.CASES)
def test_no_used_mask_below_half_iou(case):
    """A mask that is not flagged is never below IoU 0.5."""
    scores, usable = graded(case)
    assert [s for s, u in zip(scores, usable) if u and s < 0.5] == []


def test_partial_mask_of_a_pale_garment_is_flagged_by_its_outline():
    """A pale garment on a vignetted backdrop whose colour it matches at the centre: the
    backdrop model subtracted, its sharp outline is the only cue. A mask holding half of
    it leaves much of that outline outside and is not used, however confident its other
    cues; the whole silhouette keeps the outline; a soft shadow leaves no residual edge."""
    from fashion_tf.data import mask_cues as cues
    from fashion_tf.data import mask_estimate as me

    size = 96
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) - 0.5
    backdrop = 228.0 - 60.0 * (xx ** 2 + yy ** 2) * 2.0 + 25.0 * yy  # vignette + gradient
    truth = np.zeros((size, size), np.uint8)
    cv2.rectangle(truth, (26, 18), (70, 80), 255, -1)
    image = np.where(truth[..., None] > 0, 226.0, backdrop[..., None]).repeat(3, axis=2)
    outline = (truth > 0) & (cv2.erode(truth, np.ones((5, 5), np.uint8)) == 0)  # 2 px inside
    image[outline] -= 14.0  # the drawn seam along the silhouette
    shadow = np.zeros((size, size), np.float32)
    cv2.rectangle(shadow, (74, 30), (90, 86), 1.0, -1)
    image *= 1.0 - 0.15 * cv2.GaussianBlur(shadow, (0, 0), 4.0)[..., None]
    image = np.clip(image + np.random.default_rng(0).normal(0, 1.0, image.shape), 0, 255).astype(np.uint8)

    lab = me._lab(cv2.GaussianBlur(image, (0, 0), 0.8))
    model, ring_inlier, _ = me._fit_backdrop(lab, np.random.default_rng(0))
    edges = cues.residual_edges(lab, model, ring_inlier, me.LIGHTNESS_WEIGHT)
    near_truth = cv2.dilate(truth, np.ones((5, 5), np.uint8)) > 0
    found = cv2.dilate(edges.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert found[outline].mean() > 0.75           # the faint seam is found nearly all round
    assert edges[shadow > 0.5].mean() < 0.02      # the soft shadow is not an edge
    assert cues.outline(truth, edges, cues.OUTLINE_RADIUS) > 0.95
    half = truth.copy()
    half[40:] = 0  # a third of the garment: IoU 0.35
    assert cues.outline(half, edges, cues.OUTLINE_RADIUS) < cues.PARTIAL_OUTLINE
    assert near_truth[edges].mean() > 0.9         # edges are the garment's, not noise


def test_hard_photos_are_hard_for_a_colour_threshold():
    """The cases differ from the demo drawings where it matters: a light garment is
    within a few Lab units of its backdrop, a cut garment reaches the frame."""
    light, truth = hard_photos.hard_photo("light_on_white", np.random.default_rng(0), 96)
    lab = cv2.cvtColor(light, cv2.COLOR_RGB2Lab).astype(float)
    inside, outside = lab[truth > 0].mean(axis=0), lab[:4].reshape(-1, 3).mean(axis=0)
    assert np.linalg.norm(inside - outside) < 40
    _, cut = hard_photos.hard_photo("cut_by_frame", np.random.default_rng(1), 96)
    frame = np.concatenate([cut[0], cut[-1], cut[:, 0], cut[:, -1]])
    assert 0 < (frame > 0).mean() < 1
    with pytest.raises(ValueError, match="unknown hard case"):
        hard_photos.hard_photo("foggy", np.random.default_rng(0))


@pytest.fixture(scope="module")
def hard_catalog(tmp_path_factory) -> Path:
    """One photo per hard case plus a blank photo (no item: its mask is flagged)."""
    import pandas as pd

    root = hard_photos.write_hard_catalog(tmp_path_factory.mktemp("hard"), per_case=1, seed=5, size=96)
    cv2.imwrite(str(root / schema.IMAGES_DIR / "blank.png"), np.full((96, 96, 3), 238, np.uint8))
    items = pd.read_parquet(root / schema.ITEMS_FILE)
    blank = {"item_id": "blank", "image": "images/blank.png", "category": "hard", "title": "blank",
             "labels": ["blank"], "split": "train", "domain": "shop"}
    pd.concat([items, pd.DataFrame([blank])], ignore_index=True).to_parquet(root / schema.ITEMS_FILE)
    masks.ensure_masks(root, workers=1)
    return root


def test_flagged_mask_is_never_pasted_and_is_reported(hard_catalog):
    verdicts = masks.load_confidence(hard_catalog)
    assert verdicts["blank"][2] and "covers" in verdicts["blank"][2]
    vocabulary = list(hard_photos.CASES) + ["blank"]
    common = {"image_size": 64, "batch_size": 16, "vocabulary": vocabulary, "training": True, "seed": 3, "with_ids": True}
    report = PipelineReport()
    pasted = next(iter(make_dataset(hard_catalog, "train", augment=AugmentationSettings("standard", background_p=1.0),
                                    report=report, **common)))
    plain = next(iter(make_dataset(hard_catalog, "train", augment=AugmentationSettings("standard", background_p=0.0),
                                   **common)))
    by_id = {i.decode(): k for k, i in enumerate(pasted[2].numpy())}
    plain_by_id = {i.decode(): k for k, i in enumerate(plain[2].numpy())}
    assert set(by_id) == set(plain_by_id) == {f"{c}_000" for c in hard_photos.CASES} | {"blank"}
    with_bg, without = pasted[0].numpy(), plain[0].numpy()
    # The flagged item: exactly the plain augmentation, no background.
    np.testing.assert_allclose(with_bg[by_id["blank"]], without[plain_by_id["blank"]], atol=1e-3)
    # Items with usable masks were pasted (p=1): their pixels changed.
    usable = [i for i in by_id if i != "blank" and not verdicts[i][2]]
    assert usable
    for item_id in usable:
        assert np.abs(with_bg[by_id[item_id]] - without[plain_by_id[item_id]]).mean() > 5.0
    assert report.masked_items == 7 and "blank" in report.unusable_masks
    assert f"{len(report.unusable_masks)} of 7 items have no usable mask" in report.summary()
    assert "blank (mask covers" in report.summary()


def test_review_sheet_lowest_confidence_first(hard_catalog, tmp_path, capsys):
    out = tmp_path / "review.png"
    assert masks.main(["--catalog", str(hard_catalog), "--review", str(out), "--review-count", "7"]) == 0
    printed = capsys.readouterr().out
    assert "items have no usable mask" in printed and f"review sheet: {out}" in printed
    sheet = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    tile_w, tile_h = mask_review.TILE + 4, mask_review.TILE + mask_review.CAPTION + 4
    assert sheet.shape == (tile_h, 8 * tile_w, 3)
    first_caption = sheet[mask_review.TILE + 2:tile_h, :tile_w]
    last_caption = sheet[mask_review.TILE + 2:tile_h, 6 * tile_w:7 * tile_w]
    red = np.all(np.abs(first_caption.astype(int) - mask_review.FLAGGED) < 40, axis=-1)
    green = np.all(np.abs(last_caption.astype(int) - mask_review.USED) < 40, axis=-1)
    assert red.sum() > 10 and green.sum() > 10  # flagged blank first, a used mask last


def test_worker_processes_give_the_same_masks(hard_catalog, tmp_path, monkeypatch):
    """Worker processes compute the same masks as the main process (up to floating-point
    noise of multi-threaded BLAS in the backdrop fit)."""
    copy = tmp_path / "hard"
    shutil.copytree(hard_catalog, copy)
    monkeypatch.setattr(masks, "PARALLEL_MIN", 1)
    report = masks.ensure_masks(copy, workers=2, force=True).mask_report
    assert report["computed"] == 7 and "blank" in report["flagged"]
    here, there = masks.load_confidence(hard_catalog), masks.load_confidence(copy)
    assert sorted(here) == sorted(there)
    for item_id in here:
        assert there[item_id][0] == pytest.approx(here[item_id][0], abs=0.05), item_id
        found = cv2.imread(str(copy / schema.MASKS_DIR / f"{item_id}.png"), cv2.IMREAD_GRAYSCALE)
        before = cv2.imread(str(hard_catalog / schema.MASKS_DIR / f"{item_id}.png"), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(found, before) or iou(found, before) >= 0.97, item_id


def test_ablation_summary_calls_out_only_separated_differences():
    """tools/background_ablation.py: mean +- std per setting; a difference counts only
    when the two intervals do not overlap."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("background_ablation",
                                                  Path(__file__).parents[1] / "tools" / "background_ablation.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    def result(recall10, iou):
        return {"street_to_shop": {"recall@1": 0.0, "recall@10": recall10, "recall@20": 0.3,
                                   "category_precision@10": 0.4, "colour_precision@10": 0.3},
                "in_shop": {"category_precision@10": 0.9}, "multilabel": {"iou": iou}}

    runs = {"p=0.5": [result(0.14, 0.50), result(0.16, 0.58)], "p=0": [result(0.04, 0.52), result(0.06, 0.60)]}
    table = tool.summarise(runs)
    recall = table["street recall@10"]
    assert recall["p=0.5"]["mean"] == pytest.approx(0.15) and recall["p=0.5"]["std"] == pytest.approx(0.01414, abs=1e-4)
    assert recall["difference"]["mean"] == pytest.approx(0.10) and recall["difference"]["separated"]
    assert not table["test IoU"]["difference"]["separated"]  # -0.02 within a spread of 0.11
    text = tool.format_summary(table, ["p=0.5", "p=0"])
    assert "0.150 +- 0.014" in text and "(within spread)" in text.splitlines()[-1]


# Hard photos whose masks the previous version used although they were below IoU 0.5
# (tools/mask_quality.py over seeds 11-20): (case, seed, index). A pale garment on a
# vignetted backdrop kept one leg, in bits, or without its pale upper stripes; a pale
# bag lost its handle and right side (both hull cues only somewhat low).
PREVIOUSLY_USED_BELOW_HALF = [("studio_gradient", 11, 2), ("studio_gradient", 16, 59),
                              ("studio_gradient", 14, 40), ("studio_gradient", 17, 37)]


@pytest.mark.parametrize(("case", "seed", "index"), PREVIOUSLY_USED_BELOW_HALF)
def test_masks_once_used_below_half_iou_are_flagged_or_whole(case, seed, index):
    images, truths = hard_photos.hard_set(case, index + 1, seed=seed, size=128)
    result = masks.estimate_mask(images[index])
    assert not result.usable or iou(result.mask, truths[index]) >= 0.5, (result.reason, result.cues)


def test_grabcut_cut_away_jpeg_blocking_is_kept(monkeypatch):
    """A saturated garment on a flat backdrop, saved as JPEG: the blocking around it
    closes into a first estimate about twice the garment. GrabCut cuts it back to the
    garment, and its much clearer boundary keeps that result although it agrees less
    than half with the first estimate."""
    from fashion_tf.data import demo_shop_draw
    from fashion_tf.data.demo_shop import JPEG_QUALITY

    image, truth = demo_shop_draw.render_garment("mini dress", "pink", "plain", [], 128,
                                                 np.random.default_rng([5, 10]))
    _, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    image = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    result = masks.estimate_mask(image)
    assert result.usable and iou(result.mask, truth) > 0.95, result.cues  # 0.983
    from fashion_tf.data import mask_estimate

    monkeypatch.setattr(mask_estimate, "CLEARER_GAIN", float("inf"))  # always keep the first estimate
    assert iou(masks.estimate_mask(image).mask, truth) < 0.6  # the blocky blob around the garment


def test_masks_of_another_version_are_recomputed_before_use(hard_catalog, tmp_path):
    """A mask version bump: the old verdicts are not read, so the pipeline recomputes
    the masks instead of pasting ones that the old version flagged, or would now flag."""
    import json

    from fashion_tf.data.catalog import load_catalog
    from fashion_tf.data.pipeline import _mask_paths

    copy = tmp_path / "cat"
    shutil.copytree(hard_catalog, copy)
    path = copy / schema.MASKS_DIR / masks.CONFIDENCE_FILE
    data = json.loads(path.read_text())
    data["version"] = masks.MASK_VERSION - 1
    data["items"]["blank"] = [0.9, 0.5, None]  # the old version let the blank photo through
    path.write_text(json.dumps(data))
    assert masks.verdicts_outdated(copy) and masks.load_confidence(copy) == {}
    catalog = load_catalog(copy)
    report = PipelineReport()
    paths = _mask_paths(catalog, catalog.items, report)
    assert not masks.verdicts_outdated(copy)
    assert "blank" in report.unusable_masks
    assert paths[list(catalog.items["item_id"]).index("blank")] == ""
    (copy / schema.MASKS_DIR / masks.CONFIDENCE_FILE).unlink()  # masks supplied without verdicts: as they are
    assert not masks.verdicts_outdated(copy)
