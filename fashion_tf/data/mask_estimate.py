"""Foreground mask and its confidence for one product photograph (paper 3.1).

Background augmentation cuts the item out of its shop photo; a wrong cut-out pasted on
a street scene makes a training image whose labels describe a garment that is not
there. So every mask comes with a confidence, and :mod:`fashion_tf.data.masks` refuses
to use a doubtful one. No learned weights: the cues are the ones a product photo
always offers (``docs/masks.md`` explains each step):

1. **Background model from the border.** The border is cut into short runs; a
   quadratic surface ``a + bx + cy + dx^2 + exy + fy^2`` per CIELAB channel is fitted to
   the runs' medians by RANSAC and refined on the inlier border pixels. It follows
   studio gradients and vignetting, and the runs the garment covers (a garment cut by
   the frame) come out as outliers instead of spoiling the fit.
2. **Colour distance** of every pixel to the modelled backdrop, in noise units of
   the inlier border.
3. **Edges**: Canny on the smoothed lightness and chroma, thresholds relative to
   the border's own gradient noise, closed and filled. The fill is a flood from the
   backdrop part of the border only; where the garment crosses the frame, the frame
   counts as the garment's edge, so the item stays whole instead of the photo being
   given up. Last, the sharp edges of the image with the backdrop model subtracted
   (residual edges) join the walls: the only trace of a pale garment where it has the
   colour of a vignetted backdrop.
4. **GrabCut** (OpenCV) initialised from 2-3 (sure background: the inlier border
   and pixels far from the first estimate that match the backdrop; probable
   foreground: the first estimate) refines the boundary with colour models of both
   sides: soft shadows and light garments separate by their edges, textures by their
   colour statistics.
5. **Clean-up**: specks below ``min_area`` dropped, small holes filled, large
   backdrop-coloured holes (a handle loop) kept.

**Confidence** in [0, 1]: the geometric mean of how well the boundary lies on image
edges, how much the inside differs from the modelled backdrop along the boundary,
how much GrabCut agreed with the first estimate, and how much of the border is
backdrop. :func:`estimate_mask` also flags masks covering less than ``MIN_AREA`` or
more than ``MAX_AREA`` of the image, and partial masks: much of the residual edges
outside the mask while GrabCut moved far from the first estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import cv2
import numpy as np

from fashion_tf.data.mask_cues import OUTLINE_RADIUS
from fashion_tf.data.mask_cues import confidence as _confidence
from fashion_tf.data.mask_cues import hull_cues as _hull_cues
from fashion_tf.data.mask_cues import iou as _iou
from fashion_tf.data.mask_cues import outline as _outline
from fashion_tf.data.mask_cues import partial_reason as _partial_reason
from fashion_tf.data.mask_cues import residual_edges as _residual_edges

WORK_SIDE = 192          # masks are estimated at most this large, then resized back
MIN_AREA, MAX_AREA = 0.03, 0.95
MIN_CONFIDENCE = 0.6
LIGHTNESS_WEIGHT = 0.8   # soft shadows change lightness; colour changes count fully
SHADOW_WEIGHT = 0.35     # weight of darkening (vs the backdrop) in the "strong difference" cue
RUNS_PER_SIDE = 12
RANSAC_TOLERANCE = 6.0   # Lab units a border run may miss the backdrop model by
RANSAC_TRIALS = 120
GRABCUT_ITERATIONS = 4
BLEED_STEP = 15.0        # L units: a step this large bleeds colour into the backdrop (JPEG 4:2:0)
BLEED_RADIUS = 3         # pixels of chroma bleeding around it
FILL_GAIN = 1.5          # a wider closing is taken when it encloses this much more
COLLAPSE_IOU = 0.5       # GrabCut keeping less of the first estimate than this: keep the first ...
CLEARER_GAIN, CLEARER_MIN = 2.0, 0.5  # ... unless its boundary is this much clearer (_clearer_boundary)
CHROMA_SIGMA = 0.0       # extra smoothing of a*, b* (JPEG chroma ringing)
NOISE_FLOOR = 1.0        # Lab units: 8-bit quantisation and compression never vanish


@dataclass
class MaskResult:
    """A foreground mask (uint8 0/255) with its confidence and, if unusable, why."""

    mask: np.ndarray
    confidence: float
    area: float          # fraction of the image that is foreground
    reason: str | None   # None: usable; else why the mask must not be pasted
    cues: dict = field(default_factory=dict)  # the confidence's scores, by name

    @property
    def usable(self) -> bool:
        return self.reason is None


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] < 3 or image.dtype != np.uint8:
        raise ValueError(f"estimate_mask expects uint8 RGB [H, W, 3], got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image[:, :, :3])


def _lab(rgb: np.ndarray) -> np.ndarray:
    """Float CIELAB (L 0-100, a/b about +-100) through OpenCV's fast 8-bit conversion."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return lab


def _weighted(diff: np.ndarray) -> np.ndarray:
    """Lab distance with lightness down-weighted (shadows darken, garments recolour)."""
    return np.sqrt((LIGHTNESS_WEIGHT * diff[..., 0]) ** 2 + diff[..., 1] ** 2 + diff[..., 2] ** 2)


def _design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _border_runs(h: int, w: int, width: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Border ring as a bool mask plus its pixels cut into ``RUNS_PER_SIDE`` runs per side."""
    ring = np.zeros((h, w), bool)
    ring[:width], ring[-width:], ring[:, :width], ring[:, -width:] = True, True, True, True
    runs = []
    for side in range(4):
        length = w if side < 2 else h
        edges = np.linspace(0, length, RUNS_PER_SIDE + 1).astype(int)
        for a, b in pairwise(edges):
            run = np.zeros((h, w), bool)
            if side == 0:
                run[:width, a:b] = True
            elif side == 1:
                run[-width:, a:b] = True
            elif side == 2:
                run[a:b, :width] = True
            else:
                run[a:b, -width:] = True
            runs.append(np.flatnonzero(run))
    return ring, runs


def _fit_backdrop(lab: np.ndarray, rng: np.random.Generator):
    """RANSAC quadratic backdrop model from the border (step 1).

    Returns ``(model [H, W, 3], inlier border bool [H, W], share of border runs that
    are backdrop)``.
    """
    h, w = lab.shape[:2]
    width = max(2, min(h, w) // 40)
    ring, runs = _border_runs(h, w, width)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    xx, yy = xx / max(1, w - 1) * 2 - 1, yy / max(1, h - 1) * 2 - 1
    design = _design(xx.ravel(), yy.ravel())               # [HW, 6]
    flat = lab.reshape(-1, 3).astype(np.float64)
    centres = np.stack([design[r].mean(axis=0) for r in runs])      # [R, 6] (design at run centre)
    medians = np.stack([np.median(flat[r], axis=0) for r in runs])  # [R, 3]
    spread = np.array([np.median(_weighted(flat[r] - m)) for r, m in zip(runs, medians)])
    smooth = spread < 4 * np.median(spread) + 2.0  # textured runs are no backdrop

    candidates = np.flatnonzero(smooth) if smooth.sum() >= 6 else np.arange(len(runs))
    picks = np.stack([rng.choice(candidates, 6, replace=False) for _ in range(RANSAC_TRIALS)])
    a = centres[picks]                                       # [T, 6, 6]
    normal = np.swapaxes(a, 1, 2) @ a + 1e-6 * np.eye(6)     # all trials' fits at once
    coefs = np.linalg.solve(normal, np.swapaxes(a, 1, 2) @ medians[picks])  # [T, 6, 3]
    errors = _weighted(np.einsum("rk,tkc->trc", centres, coefs) - medians)  # [T, R]
    inliers = (errors < RANSAC_TOLERANCE) & smooth
    counts = inliers.sum(axis=1)
    best, best_count = inliers[int(np.argmax(counts))], int(counts.max())
    inlier_runs = best if best_count >= 6 else smooth
    pixels = np.concatenate([runs[i] for i in np.flatnonzero(inlier_runs)]) if inlier_runs.any() \
        else np.flatnonzero(ring)
    for _ in range(3):  # refine on pixels, trimming the garment's pixels in mixed runs
        coef, *_ = np.linalg.lstsq(design[pixels], flat[pixels], rcond=None)
        residual = _weighted(design[pixels] @ coef - flat[pixels])
        limit = max(3.0, 3.0 * 1.4826 * float(np.median(residual)))
        pixels = pixels[residual < limit]
    model = (design @ coef).reshape(h, w, 3)
    inlier = np.zeros(h * w, bool)
    inlier[pixels] = True
    return model, inlier.reshape(h, w), float(inlier_runs.mean())


def _fill_from_backdrop(walls: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Pixels not reachable from ``seeds`` without crossing ``walls`` (uint8 0/255)."""
    free = (walls == 0).astype(np.uint8)
    count, labels = cv2.connectedComponents(free, connectivity=4)
    reached = np.zeros(count, bool)
    reached[np.unique(labels[seeds & (free > 0)])] = True
    reached[0] = False
    return np.where(reached[labels], 0, 255).astype(np.uint8)


def _canny(channel: np.ndarray, noise: float) -> np.ndarray:
    """Canny with thresholds relative to the image's gradient noise (uint8 0/255)."""
    scaled = np.clip(channel * (255.0 / 100.0), 0, 255).astype(np.uint8) if channel.dtype != np.uint8 else channel
    low = max(6.0, 2.5 * noise)
    return cv2.Canny(scaled, low, 2.0 * low, L2gradient=True)


def _edges(lab: np.ndarray, ring_inlier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges of lightness and chroma, and the gradient magnitude (for the confidence)."""
    light = lab[..., 0] * 2.55
    chroma = np.sqrt(lab[..., 1] ** 2 + lab[..., 2] ** 2) * 2.0
    edges = np.zeros(lab.shape[:2], np.uint8)
    magnitude = np.zeros(lab.shape[:2], np.float32)
    for channel in (light, chroma):
        gx = cv2.Sobel(channel.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(channel.astype(np.float32), cv2.CV_32F, 0, 1, ksize=3)
        grad = np.sqrt(gx * gx + gy * gy) / 8.0  # per-pixel change of the channel
        noise = float(np.percentile(grad[ring_inlier], 90)) if ring_inlier.any() else 2.0
        edges |= _canny(np.clip(channel, 0, 255).astype(np.uint8), noise * 8.0)
        magnitude = np.maximum(magnitude, grad / max(noise, 0.5))
    return edges, magnitude


def _clean(mask: np.ndarray, backdrop_like: np.ndarray, min_area: float, hole_area: float) -> np.ndarray:
    """Drop specks, fill small holes, keep large backdrop-coloured holes (step 5)."""
    h, w = mask.shape
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    out = np.zeros_like(mask)
    if not contours:
        return out
    hierarchy = hierarchy[0]
    areas = np.array([cv2.contourArea(c) for c in contours])
    outer = [i for i in range(len(contours)) if hierarchy[i][3] < 0]
    largest = max(outer, key=lambda i: areas[i])
    keep = [i for i in outer if areas[i] >= min_area * h * w or i == largest]
    cv2.drawContours(out, [contours[i] for i in keep], -1, 255, thickness=-1)
    for i in range(len(contours)):
        if hierarchy[i][3] in keep and areas[i] >= hole_area * h * w:
            hole = np.zeros_like(mask)
            cv2.drawContours(hole, contours, i, 255, thickness=-1)
            inside = (hole > 0) & (mask == 0)
            if inside.any() and backdrop_like[inside].mean() > 0.7:  # shows the backdrop
                out[inside] = 0
    return out


def _enclosed_backdrop(first: np.ndarray, backdrop: np.ndarray, differs: np.ndarray, frame: np.ndarray,
                       hole_area: float) -> tuple[np.ndarray, np.ndarray]:
    """Backdrop-coloured parts of the first estimate: (holes, at the frame).

    Holes: at least ``hole_area`` of the image, less than a quarter of the item and
    ringed by pixels that clearly differ from the backdrop (a handle loop, a gap the
    closing bridged; not the pale body of a white shirt); they are background. Parts
    touching the frame (a strip between the item and the frame) are probably background.
    """
    inside = ((first > 0) & backdrop).astype(np.uint8)
    inside = cv2.morphologyEx(inside, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) & (first > 0)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inside.astype(np.uint8), connectivity=4)
    area = stats[:, cv2.CC_STAT_AREA]
    touches = np.zeros(count, bool)
    touches[np.unique(labels[frame & (inside > 0)])] = True
    hole = (area >= hole_area * first.size) & (area < 0.25 * (first > 0).sum())
    hole[0] = touches[0] = False
    for index in np.flatnonzero(hole):
        component = (labels == index).astype(np.uint8)
        ring = (cv2.dilate(component, np.ones((5, 5), np.uint8)) > 0) & (component == 0)
        hole[index] = differs[ring].mean() > 0.6
    return hole[labels], (touches & ~hole)[labels]


def _inside_hull(filled: np.ndarray, previous: np.ndarray) -> float:
    """Share of the pixels ``filled`` adds to ``previous`` that lie inside the convex
    hull of ``previous``: a leak that is now closed fills the item's inside (high), a
    lower threshold that picks up a halo around the item adds outside it (low)."""
    added = (filled > 0) & (previous == 0)
    points = cv2.findNonZero(previous)
    if points is None or not added.any():
        return 1.0 if points is None else 0.0
    hull = np.zeros_like(previous)
    cv2.fillConvexPoly(hull, cv2.convexHull(points), 255)
    return float((hull[added] > 0).mean())


def _clearer_boundary(refined: np.ndarray, first: np.ndarray, distance: np.ndarray, noise: float,
                      magnitude: np.ndarray) -> bool:
    """Whether ``refined``'s boundary lies on the item's edge where ``first``'s does not:
    edge support times contrast (the confidence's first two scores) at least
    ``CLEARER_GAIN`` times higher, and at least ``CLEARER_MIN``."""
    def score(mask):
        cues = _confidence(mask, mask, distance, noise, magnitude, 1.0, np.zeros(mask.shape, bool),
                           np.zeros(mask.shape, np.uint8))[1]
        return cues.get("edge_support", 0.0) * cues.get("contrast", 0.0)

    if not (refined > 0).any():
        return False
    new, old = score(refined), score(first)
    return new >= CLEARER_MIN and new >= CLEARER_GAIN * old


def estimate_mask(image_rgb_uint8: np.ndarray, min_area: float = 0.01, hole_area: float = 0.02,
                  seed: int = 0) -> MaskResult:
    """Foreground mask of a product photo and its confidence (steps 1-5 above).

    Args:
        image_rgb_uint8: uint8 RGB [H, W, 3] (grayscale [H, W] is accepted).
        min_area: separate parts smaller than this fraction of the image are dropped.
        hole_area: backdrop-coloured holes at least this fraction of the image stay holes.
        seed: RANSAC's random draws (the result is deterministic for a given seed).
    """
    image = _as_rgb(image_rgb_uint8)
    h, w = image.shape[:2]
    if min(h, w) < 16:
        return MaskResult(np.full((h, w), 255, np.uint8), 0.0, 1.0, f"image too small ({w}x{h})")
    factor = min(1.0, WORK_SIDE / max(h, w))
    work = cv2.resize(image, (max(16, round(w * factor)), max(16, round(h * factor))),
                      interpolation=cv2.INTER_AREA) if factor < 1 else image
    smooth = cv2.GaussianBlur(work, (0, 0), 0.8)
    lab = _lab(smooth)
    # JPEG keeps colour at half resolution and rings around saturated edges: smooth the
    # chroma a little more than the lightness before comparing it with the backdrop.
    lab[..., 1:] = cv2.GaussianBlur(lab[..., 1:], (0, 0), CHROMA_SIGMA) if CHROMA_SIGMA > 0 else lab[..., 1:]

    model, ring_inlier, backdrop_share = _fit_backdrop(lab, np.random.default_rng(seed))
    # Colour differences on the unblurred image: blurring would spread a high-contrast
    # item a pixel or two into the backdrop.
    difference = _lab(work) - model
    distance = _weighted(difference)
    noise = max(NOISE_FLOOR, 1.4826 * float(np.median(distance[ring_inlier]))) if ring_inlier.any() else 3.0
    # JPEG stores colour at half resolution: around a dark or saturated item the backdrop
    # takes on its tint for a few pixels. Pixels with the backdrop's lightness next to a
    # big lightness step have their colour difference discounted (a pale garment, with no
    # big step nearby, keeps its tint).
    light_step = (np.abs(difference[..., 0]) > BLEED_STEP).astype(np.uint8)
    near_step = cv2.dilate(light_step, np.ones((2 * BLEED_RADIUS + 1,) * 2, np.uint8)) > 0
    bleed = near_step & (light_step == 0) & (np.abs(difference[..., 0]) < 3.0 * noise + 2.0)
    difference[bleed, 1:] *= 0.3
    distance = _weighted(difference)
    backdrop_like = distance < 3.0 * noise + 2.0
    # A colour difference is "strong" only if it is not a mere darkening: a soft shadow
    # darkens the backdrop without changing its hue; pale garments that differ only in
    # lightness are left to the edges, which are sharp where a shadow's are not.
    darker = np.minimum(difference[..., 0], 0.0)
    shadow_free = _weighted(difference - (1.0 - SHADOW_WEIGHT / LIGHTNESS_WEIGHT) * darker[..., None]
                            * np.array([1.0, 0.0, 0.0], np.float32))
    strong = shadow_free > max(10.0, 5.0 * noise)
    edges, magnitude = _edges(lab, ring_inlier)
    residual_edges = _residual_edges(lab, model, ring_inlier, LIGHTNESS_WEIGHT)

    # Step 3: closed edges and clear colour differences, filled from the backdrop border.
    # Walls with a gap let the fill leak into a faint item (a white shirt on white keeps
    # only its outline): wider closings and a lower colour threshold are tried in turn,
    # and one is taken when it encloses at least half as much again. Last, the residual
    # edges (backdrop model subtracted) join the walls: a pale garment whose colour
    # matches part of a vignetted backdrop has no other wall there. They also trace soft
    # shadows and JPEG ringing, so that estimate is taken only when it encloses half as
    # much again and brings more of the residual edges into the mask.
    frame = np.zeros_like(ring_inlier)
    frame[0, :] = frame[-1, :] = frame[:, 0] = frame[:, -1] = True
    base_k = max(3, (min(work.shape[:2]) // 40) | 1)
    first = differs = None
    for factor_noise, offset, size, residual in ((3.0, 4.0, base_k, False), (3.0, 4.0, 2 * base_k + 1, False),
                                                 (2.0, 2.5, 2 * base_k + 1, False),
                                                 (2.0, 2.5, 4 * base_k + 1, False),
                                                 (2.0, 2.5, 2 * base_k + 1, True),
                                                 (2.0, 2.5, 4 * base_k + 1, True)):
        clear = cv2.morphologyEx((distance > factor_noise * noise + offset).astype(np.uint8) * 255,
                                 cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        walls = edges | clear | strong.astype(np.uint8) * 255
        if residual:
            walls = walls | residual_edges.astype(np.uint8) * 255
        walls = cv2.morphologyEx(walls, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
        filled = _fill_from_backdrop(walls, frame & (ring_inlier | backdrop_like))
        filled = cv2.morphologyEx(filled, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        larger = first is None or (filled > 0).sum() > FILL_GAIN * max((first > 0).sum(), MIN_AREA * filled.size)
        if larger and (first is None or (_outline(filled, residual_edges) > _outline(first, residual_edges) + 0.1
                                         if residual else _inside_hull(filled, first) > 0.7)):
            first, differs, k = filled, clear, size

    # Step 4: GrabCut seeded by the first estimate, on the image with the backdrop
    # model subtracted (a gradient backdrop becomes one colour for its colour model).
    far = cv2.dilate(first, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))) == 0
    seeds = np.full(first.shape, cv2.GC_PR_BGD, np.uint8)
    seeds[first > 0] = cv2.GC_PR_FGD
    inner_holes, at_frame = _enclosed_backdrop(first, backdrop_like, differs > 0, frame, hole_area)
    seeds[at_frame] = cv2.GC_PR_BGD
    seeds[(far & backdrop_like) | (ring_inlier & (first == 0)) | inner_holes] = cv2.GC_BGD
    core = cv2.erode(first, np.ones((k, k), np.uint8)) > 0
    seeds[core & strong] = cv2.GC_FGD
    refined = first
    fg_seeds = (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    bg_seeds = (seeds == cv2.GC_BGD) | (seeds == cv2.GC_PR_BGD)
    if fg_seeds.sum() >= 16 and bg_seeds.sum() >= 16:
        flat = difference + np.array([50.0, 0.0, 0.0], np.float32)
        flat = np.clip(flat * np.array([2.55, 1.0, 1.0], np.float32) + np.array([0.0, 128.0, 128.0], np.float32),
                       0, 255).astype(np.uint8)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # GrabCut's k-means draws from per-thread RNGs: one thread, one result
        try:
            cv2.setRNGSeed(seed)
            cv2.grabCut(flat, seeds, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
        finally:
            if threads != 1:
                cv2.setNumThreads(threads)
        refined = np.where((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
        if _iou(refined, first) < COLLAPSE_IOU and not _clearer_boundary(refined, first, distance, noise, magnitude):
            # GrabCut gave most of the item to the backdrop model (a white fabric with
            # backdrop-white highlights): its colour models cannot tell them apart, so
            # the edge/colour estimate is kept, and the low agreement lowers the confidence.
            # Unless GrabCut's boundary separates item from backdrop much better than the
            # first estimate's: then the first estimate had swallowed backdrop (JPEG
            # blocking around a saturated item on a flat backdrop closes into a blob
            # twice the item's size) and GrabCut cut it away.
            refined = first

    mask = _clean(refined, backdrop_like, min_area, hole_area)
    clear = cv2.morphologyEx((distance > 3.0 * noise + 4.0).astype(np.uint8), cv2.MORPH_OPEN,
                             np.ones((3, 3), np.uint8)) > 0
    confidence, cues = _confidence(mask, first, distance, noise, magnitude, backdrop_share, clear, edges)
    outline = _outline(mask, residual_edges, OUTLINE_RADIUS)
    cues["outline"] = round(outline, 3)
    cues.update(_hull_cues(mask, residual_edges, OUTLINE_RADIUS))
    cues["backdrop_inside"] = round(float(backdrop_like[mask > 0].mean()), 3) if (mask > 0).any() else 0.0
    if factor < 1:
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
        mask = np.where(mask >= 128, 255, 0).astype(np.uint8)
    area = float((mask > 0).mean())
    reason = None
    if area < MIN_AREA:
        reason = f"mask covers {area:.1%} of the image (< {MIN_AREA:.0%})"
    elif area > MAX_AREA:
        reason = f"mask covers {area:.1%} of the image (> {MAX_AREA:.0%})"
    elif confidence < MIN_CONFIDENCE:
        reason = f"confidence {confidence:.2f} < {MIN_CONFIDENCE}"
    else:
        # The signs of a partial mask (docs/masks.md): the item's outline goes on
        # outside it, and its boundary cuts through the item somewhere.
        reason = _partial_reason(cues)
    return MaskResult(mask, round(confidence, 4), round(area, 4), reason, cues)
