"""The cues a foreground mask is judged by (paper 3.1, ``docs/masks.md``).

:func:`confidence` is the geometric mean of edge support, contrast, agreement with
the first estimate, coverage and backdrop share. :func:`residual_edges` are the sharp
edges left once the fitted backdrop is subtracted, and :func:`outline` the share of
them near a mask: the only trace of a pale garment where it has the colour of a
vignetted backdrop, and, with GrabCut's agreement, the sign of a partial mask.
"""
from __future__ import annotations

import cv2
import numpy as np

OUTLINE_EDGE = 1.5       # residual edges: gradient above this many times the border's 99th percentile
OUTLINE_FLOOR = 0.3      # Lab units per pixel: the least gradient that counts as a residual edge
SHARP_SIGMA = 2.4        # extra blur that tells a sharp edge from a soft shadow's
SHARP_RATIO = 1.8        # a sharp edge's gradient is this many times its gradient after that blur
OUTLINE_RADIUS = 5       # px: residual edges this close to the mask count as its outline
PARTIAL_OUTLINE = 0.8    # a mask with less of the residual edges near it than this ...
PARTIAL_AGREEMENT = 0.6  # ... and GrabCut agreeing less than this with the first estimate is partial
HULL_SPECK = 6           # px: residual-edge specks smaller than this are left out of their hull
PARTIAL_HULL = 0.75      # a mask (not clean) whose hull covers less of the residual edges' hull than this ...
PARTIAL_FILL = 0.45      # ... or that fills less of that hull than this is partial
LOOSE_HULL = 0.85       # a mask (not clean) whose hull covers less than this of the outline's hull ...
LOOSE_FILL = 0.6        # ... and that fills less than this of it is partial too (both signs, weaker)
PARTIAL_EDGE = 0.85      # a mask whose boundary lies on image edges less than this (edge support) is partial
CLEAR_CONTRAST = 0.95    # a mask with this contrast score ...
CLEAN_INSIDE = 0.05      # ... and less than this share of backdrop-coloured pixels inside is clean
UNSEEN_COVERAGE = 0.9    # no outline to judge by: a coverage score below this is partial


def residual_edges(lab: np.ndarray, model: np.ndarray, ring_inlier: np.ndarray,
                   lightness_weight: float) -> np.ndarray:
    """Sharp edges of the image after the backdrop model is subtracted (bool [H, W]).

    With the gradient and vignetting gone, the border's gradients are only noise, so the
    threshold can sit just above them: the faint outline of a pale garment on the part
    of a vignetted backdrop that has its colour shows, where Canny on the image misses it.
    Only sharp edges count: a soft shadow's edge keeps most of its gradient when the
    image is blurred further, a garment's outline loses it.
    """
    residual = (lab - model).astype(np.float32)
    fine, coarse = (_gradient(r, lightness_weight) for r in (residual, cv2.GaussianBlur(residual, (0, 0), SHARP_SIGMA)))
    noise = float(np.percentile(fine[ring_inlier], 99)) if ring_inlier.any() else OUTLINE_FLOOR
    return (fine > OUTLINE_EDGE * max(noise, OUTLINE_FLOOR)) & (fine > SHARP_RATIO * coarse)


def _gradient(residual: np.ndarray, lightness_weight: float) -> np.ndarray:
    """Per-pixel change of a Lab image (lightness weighted as in the colour distance)."""
    squared = np.zeros(residual.shape[:2], np.float32)
    for channel, weight in enumerate((lightness_weight, 1.0, 1.0)):
        gx = cv2.Sobel(residual[..., channel], cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(residual[..., channel], cv2.CV_32F, 0, 1, ksize=3) / 8.0
        squared += weight * weight * (gx * gx + gy * gy)
    return np.sqrt(squared)


def outline(mask: np.ndarray, residual_edges: np.ndarray, radius: int = 3) -> float:
    """Share of the residual edges away from the frame that lie within ``radius`` pixels
    of the mask. Low: the mask kept part of an item whose outline goes on outside it (the
    pale half of a garment that matched a vignetted backdrop, fabric cut off at
    backdrop-coloured seams)."""
    away = np.zeros_like(residual_edges)
    band = 4
    away[band:-band, band:-band] = residual_edges[band:-band, band:-band]
    if away.sum() <= 20:
        return 1.0
    near = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)) > 0
    return float(near[away].mean())


def hull_cues(mask: np.ndarray, residual_edges: np.ndarray, radius: int = 3) -> dict:
    """How the mask sits in the convex hull of the residual edges (away from the frame,
    specks of fewer than ``HULL_SPECK`` pixels left out): the item's outline.

    ``hull_cover``: share of that hull the mask's own convex hull (grown by ``radius``)
    covers; low when the outline spans far more than the mask (one leg or the top half of
    a pale garment kept). Unlike :func:`outline`, the item's inner edges (pockets, a
    waistband) near a partial mask do not hide the outline it left out.
    ``hull_fill``: share of that hull the mask itself fills (a mask in bits inside it).
    ``outline_seen``: whether there are residual edges to judge by (more than 20 pixels);
    without them both shares are 1.
    """
    away = np.zeros(residual_edges.shape, np.uint8)
    band = 4
    away[band:-band, band:-band] = residual_edges[band:-band, band:-band]
    _, labels, stats, _ = cv2.connectedComponentsWithStats(away, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= HULL_SPECK
    keep[0] = False
    points = cv2.findNonZero(keep[labels].astype(np.uint8))
    mask_points = cv2.findNonZero(mask)
    if points is None or len(points) <= 20 or mask_points is None:
        return {"hull_cover": 1.0, "hull_fill": 1.0, "outline_seen": False}
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    edge_hull = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(edge_hull, cv2.convexHull(points), 1)
    mask_hull = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(mask_hull, cv2.convexHull(mask_points), 1)
    mask_hull = cv2.dilate(mask_hull, grow)
    inside = edge_hull > 0
    return {"hull_cover": round(float((mask_hull[inside] > 0).mean()), 3),
            "hull_fill": round(float((mask[inside] > 0).mean()), 3), "outline_seen": True}


def partial_reason(cues: dict) -> str | None:
    """Why a mask holds only part of its item, or None.

    First, much of its boundary off image edges (edge support below ``PARTIAL_EDGE``):
    the cut itself, since a good mask's boundary lies on edges nearly all round.
    Then a partial mask's boundary cuts through the item somewhere, and along that cut
    inside and outside are the same garment: its contrast score cannot be full. So a
    *clean* mask, with a contrast score of at least ``CLEAR_CONTRAST`` and almost no
    backdrop-coloured pixels inside (``backdrop_inside`` below ``CLEAN_INSIDE``: a
    fabric whose white mortar has the backdrop's colour breaks the argument), is not
    judged further (JPEG ringing around a saturated item leaves sharp residual edges just
    outside an exact mask, and GrabCut trims a first estimate that swallowed them). Any
    other mask is partial on any of these signs: much of the residual edges outside it
    while GrabCut moved far from the first estimate; its hull covering little of the
    outline's hull (one leg kept); it filling little of that hull (bits of a pale
    garment); both of these, each only somewhat (``LOOSE_HULL`` and ``LOOSE_FILL``: a pale
    bag without its handle and one side); no outline to judge by (a pale striped dress whose pale stripes have the
    backdrop's colour) and a coverage score below ``UNSEEN_COVERAGE``.
    """
    if cues.get("edge_support", 1.0) < PARTIAL_EDGE:
        return (f"partial: {1 - cues['edge_support']:.0%} of the boundary lies off image edges "
                f"(edge support < {PARTIAL_EDGE})")
    if cues.get("contrast", 0.0) >= CLEAR_CONTRAST and cues.get("backdrop_inside", 1.0) < CLEAN_INSIDE:
        return None
    if cues.get("outline", 1.0) < PARTIAL_OUTLINE and cues.get("agreement", 1.0) < PARTIAL_AGREEMENT:
        return (f"partial: {1 - cues['outline']:.0%} of the outline lies outside the mask, GrabCut agreed "
                f"{cues['agreement']:.0%} with the first estimate")
    if cues.get("hull_cover", 1.0) < PARTIAL_HULL:
        return f"partial: the mask spans {cues['hull_cover']:.0%} of the outline's hull (< {PARTIAL_HULL:.0%})"
    if cues.get("hull_fill", 1.0) < PARTIAL_FILL:
        return f"partial: the mask fills {cues['hull_fill']:.0%} of the outline's hull (< {PARTIAL_FILL:.0%})"
    if cues.get("hull_cover", 1.0) < LOOSE_HULL and cues.get("hull_fill", 1.0) < LOOSE_FILL:
        return (f"partial: the mask spans {cues['hull_cover']:.0%} of the outline's hull (< {LOOSE_HULL:.0%}) "
                f"and fills {cues['hull_fill']:.0%} of it (< {LOOSE_FILL:.0%})")
    if not cues.get("outline_seen", True) and cues.get("coverage", 1.0) < UNSEEN_COVERAGE:
        return (f"partial: no outline to judge by and the mask leaves out {1 - 0.8 * cues['coverage']:.0%} "
                "of what differs from the backdrop")
    return None


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float((a & b).sum() / max(1, (a | b).sum()))


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Inner boundary pixels of the mask that are not on the image frame (bool)."""
    eroded = cv2.erode(mask, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    edge = (mask > 0) & (eroded == 0)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = False
    return edge


def confidence(mask: np.ndarray, first: np.ndarray, distance: np.ndarray, noise: float,
                magnitude: np.ndarray, backdrop_share: float, differs: np.ndarray,
                edges: np.ndarray) -> tuple[float, dict]:
    """Geometric mean of edge support, contrast, agreement, coverage and backdrop share,
    and the scores by name."""
    boundary = _boundary(mask)
    if not boundary.any():
        return 0.0, {}
    near_edge = cv2.dilate((magnitude > 3.0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    edge_support = float(near_edge[boundary].mean())
    band = 2
    kernel = np.ones((2 * band + 1, 2 * band + 1), np.uint8)
    inner = (mask > 0) & (cv2.erode(mask, kernel) == 0)
    outer = (mask == 0) & (cv2.dilate(mask, kernel) > 0)
    inside = float(np.median(distance[inner])) if inner.any() else 0.0
    outside = float(np.median(distance[outer])) if outer.any() else 0.0
    contrast = float(np.clip((inside - outside) / (6.0 * noise + 4.0), 0.0, 1.0))
    agreement = iou(mask, first)
    # Coverage: a mask that leaves out much of what clearly differs from the backdrop
    # has lost part of the item.
    coverage = float((mask > 0)[differs].mean()) if differs.any() else 1.0
    # ... and so does one that leaves image edges outside it (the body of a bag whose
    # handle alone was kept).
    near = cv2.dilate(mask, np.ones((7, 7), np.uint8)) > 0
    inner_edges = edges > 0
    inner_edges[:3, :] = inner_edges[-3:, :] = inner_edges[:, :3] = inner_edges[:, -3:] = False
    coverage = min(coverage, float(near[inner_edges].mean()) if inner_edges.sum() > 20 else 1.0)
    names = ("edge_support", "contrast", "agreement", "coverage", "backdrop_share")
    scores = np.clip([edge_support, contrast, agreement, min(1.0, coverage / 0.8),
                      min(1.0, backdrop_share / 0.5)], 1e-3, 1.0)
    return float(np.exp(np.mean(np.log(scores)))), {n: round(float(v), 3) for n, v in zip(names, scores)}
