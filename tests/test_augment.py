"""Standard and background augmentation (paper sec. 3.1, Tuinhof et al. sec. 3.2, docs/design.md, "Augmentation")."""
import numpy as np
import pytest
import tensorflow as tf

import fashion_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from fashion_tf.data.augment import (
    STRENGTHS,
    color_jitter,
    get_ranges,
    standard_augment,
)
from fashion_tf.data.background import background_augment, load_backgrounds

ITEM = (200.0, 20.0, 20.0)


def item_on_white(size=64):
    """A solid red 32x16 rectangle (rows 16-47, cols 24-39) on white, with its mask."""
    image = np.full((size, size, 3), 255, np.float32)
    image[16:48, 24:40] = ITEM
    mask = np.zeros((size, size, 1), np.float32)
    mask[16:48, 24:40] = 1.0
    return image, mask


def dark_backgrounds(n=3, side=128):
    return np.random.RandomState(0).randint(0, 100, (n, side, side, 3)).astype(np.uint8)


def test_background_p1_keeps_item_inside_mask_and_replaces_outside():
    """scale_range=(1, 1): the 32 px tall box becomes 64 px tall, 32 px wide."""
    image, mask = item_on_white()
    out, out_mask = background_augment(image, mask, dark_backgrounds(), p=1.0, scale_range=(1, 1), seed=tf.constant([1, 2]))
    out, out_mask = out.numpy(), out_mask.numpy()[..., 0]
    inside, outside = out_mask > 0.999, out_mask < 0.001
    assert abs(out_mask.sum() - 64 * 32) < 64  # area up to the soft edge
    rows, cols = np.nonzero(out_mask > 0.5)
    assert rows.min() == 0 and rows.max() == 63 and cols.max() - cols.min() + 1 == 32
    np.testing.assert_allclose(out[inside], np.broadcast_to(ITEM, out[inside].shape), atol=1e-3)
    # Outside, white is replaced by the (dark, < 100) background everywhere.
    assert out[outside].max() < 100


def test_background_p0_changes_nothing():
    image, mask = item_on_white()
    out, out_mask = background_augment(image, mask, dark_backgrounds(), p=0.0, scale_range=(1, 1))
    np.testing.assert_array_equal(out.numpy(), image)
    np.testing.assert_array_equal(out_mask.numpy(), mask)


def test_background_skips_images_without_a_mask_and_is_batched():
    image, mask = item_on_white()
    images = np.stack([image, image])
    masks = np.stack([mask, np.zeros_like(mask)])
    out, _ = background_augment(images, masks, dark_backgrounds(), p=1.0, seed=tf.constant([5, 6]))
    out = out.numpy()
    assert out.shape == (2, 64, 64, 3)
    assert out[0, 0, 0].max() < 100  # pasted
    np.testing.assert_array_equal(out[1], image)  # empty mask: untouched


def test_background_scale_range_sets_item_size():
    image, mask = item_on_white()
    _, out_mask = background_augment(image, mask, dark_backgrounds(), p=1.0, scale_range=(0.5, 0.5), seed=tf.constant([3, 3]))
    rows, _ = np.nonzero(out_mask.numpy()[..., 0] > 0.5)
    assert rows.max() - rows.min() + 1 == 32  # longer side = 0.5 * 64


def test_background_same_seed_same_result_different_seed_differs():
    image, mask = item_on_white()
    bg = dark_backgrounds()
    a, _ = background_augment(image, mask, bg, p=1.0, seed=tf.constant([7, 7]))
    b, _ = background_augment(image, mask, bg, p=1.0, seed=tf.constant([7, 7]))
    c, _ = background_augment(image, mask, bg, p=1.0, seed=tf.constant([8, 8]))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.abs(a.numpy() - c.numpy()).max() > 1


def test_load_backgrounds_crops_squares_and_skips_bad_files(tmp_path):
    import cv2

    good = tmp_path / "wide.jpg"
    cv2.imwrite(str(good), np.full((100, 300, 3), 80, np.uint8))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    pool = load_backgrounds([str(good), str(bad)], size=64, blur_sigma=1.0)
    assert pool.shape == (1, 64, 64, 3) and pool.dtype == np.uint8
    with pytest.raises(ValueError, match="no readable background"):
        load_backgrounds([str(bad)], size=64)


def test_standard_augment_moves_mask_with_image_and_fills_white():
    image, mask = item_on_white()
    out, out_mask = standard_augment(image, mask, seed=tf.constant([1, 1]), strength="heavy", color=False)
    out, out_mask = out.numpy(), out_mask.numpy()[..., 0]
    # Where the warped mask is solid the warped image is the item; where it is empty, white.
    np.testing.assert_allclose(out[out_mask > 0.999], np.broadcast_to(ITEM, out[out_mask > 0.999].shape), atol=1e-2)
    np.testing.assert_allclose(out[out_mask < 0.001], 255.0, atol=1e-2)
    assert 0.6 * mask.sum() < out_mask.sum() < 1.6 * mask.sum()


def test_standard_augment_changes_something_and_stays_in_range():
    image, _ = item_on_white()
    batch = np.stack([image] * 4)
    out = standard_augment(batch, seed=tf.constant([2, 3])).numpy()
    assert out.shape == batch.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255
    assert np.abs(out - batch).max() > 5
    # Four draws in one batch differ from each other.
    assert np.abs(out[0] - out[1]).max() > 1


def test_color_jitter_zero_ranges_is_identity_and_hue_keeps_gray():
    image, _ = item_on_white()
    batch = tf.constant(image[None])
    none = get_ranges("standard").__class__(0, 0, 0, (1, 1), (1, 1), 0, 0, 0, flip=False)
    np.testing.assert_allclose(color_jitter(batch, tf.constant([1, 1]), none).numpy(), batch.numpy(), atol=1e-3)
    gray = tf.fill([1, 4, 4, 3], 128.0)
    hue_only = none.__class__(0, 0, 0, (1, 1), (1, 1), 30.0, 0, 0)
    np.testing.assert_allclose(color_jitter(gray, tf.constant([1, 1]), hue_only).numpy(), 128.0, atol=1e-3)


def test_seed_003_ranges_are_the_standard_defaults():
    standard = STRENGTHS["standard"]
    assert standard.shear == 0.25 and standard.aspect == (0.875, 1.125) and standard.hue_deg == 6.0
    assert STRENGTHS["heavy"].rotation_deg > standard.rotation_deg
    with pytest.raises(ValueError, match="strength 'wild' unknown"):
        get_ranges("wild")


@pytest.mark.parametrize("jit_compile", [True, False])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_fused_augment_batch_pastes_item_and_p0_is_identity(interpolation, jit_compile):
    """augment_batch (the pipeline's one-pass version) with no standard augmentation, with and without XLA."""
    from fashion_tf.data.train_augment import augment_batch

    image, mask = item_on_white()
    images, masks = tf.constant(image[None]), tf.constant(mask[None])
    out = augment_batch(images, masks, tf.constant([1, 2]), strength=None, backgrounds=dark_backgrounds(),
                        p=1.0, scale_range=(1, 1), interpolation=interpolation, jit_compile=jit_compile).numpy()[0]
    red = np.abs(out - ITEM).max(axis=-1) < 1
    rows, cols = np.nonzero(red)
    assert rows.max() - rows.min() + 1 >= 62 and 28 <= cols.max() - cols.min() + 1 <= 32  # 64 x 32 item
    assert out[~red].max() <= 200.5  # dark background (< 100), or its blend with the item edge
    assert (out.min(axis=-1) > 250).sum() == 0  # no white left: background everywhere else
    same = augment_batch(images, masks, tf.constant([1, 2]), strength=None, backgrounds=dark_backgrounds(),
                         p=0.0, interpolation=interpolation).numpy()[0]
    np.testing.assert_array_equal(same, image)


def test_fused_augment_batch_uint8_inputs_and_heavy_strength():
    from fashion_tf.data.train_augment import augment_batch

    image, mask = item_on_white()
    images = tf.constant(np.stack([image] * 3).astype(np.uint8))
    masks = tf.constant((np.stack([mask] * 3) * 255).astype(np.uint8))
    out = augment_batch(images, masks, tf.constant([4, 5]), strength="heavy", backgrounds=dark_backgrounds(), p=0.5)
    assert out.shape == (3, 64, 64, 3) and out.dtype == tf.float32
    assert 0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 255
    with pytest.raises(ValueError, match="interpolation 'cubic' unknown"):
        augment_batch(images, masks, tf.constant([4, 5]), interpolation="cubic")
