"""OpenCV drawings of garments for the demo shop (docs/design.md, "Data").

Each garment is described in unit coordinates (x right, y down, the canvas is
[0, 1]^2) as a list of parts: filled polygons, thick polylines (bag handles,
straps) and holes (the opening of a handle loop). :func:`render_garment` places
the shape with a small random affine jitter, fills it with a texture (plain,
striped, dotted, plaid, print), draws the details (pockets, buttons, collar,
zipper) and an outline inside the silhouette, and returns the product image on a
plain light background together with the exact silhouette (the "true mask").

Drawing happens at twice the target size and is downsampled with area
interpolation, which gives anti-aliased edges like a real product photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

SUPERSAMPLE = 2

# Named colours (RGB). No white-ish colour: the background is near white.
COLOURS = {
    "red": (200, 30, 40), "blue": (40, 90, 200), "navy": (25, 35, 80),
    "black": (28, 28, 30), "green": (40, 140, 60), "yellow": (235, 195, 35),
    "pink": (235, 125, 170), "grey": (120, 120, 126), "brown": (115, 72, 40),
    "beige": (205, 178, 135), "orange": (240, 125, 30), "purple": (115, 55, 150),
    "burgundy": (115, 20, 45), "olive": (105, 112, 42),
}
NEUTRALS = ("black", "navy", "grey", "beige", "brown")
ACCENTS = tuple(c for c in COLOURS if c not in NEUTRALS)
TEXTURES = ("plain", "striped", "dotted", "plaid", "print")
DETAILS = ("pockets", "buttons", "collar", "zipper")


@dataclass
class Shape:
    """A garment in unit coordinates plus where its details go."""
    polys: list = field(default_factory=list)        # filled polygons [(N, 2)]
    lines: list = field(default_factory=list)        # (points (N, 2), thickness)
    holes: list = field(default_factory=list)        # polygons cut out afterwards
    pockets: list = field(default_factory=list)      # (x0, y0, x1, y1) rectangles
    buttons: tuple | None = None                     # (x, y0, y1, count)
    zipper: tuple | None = None                      # (x, y0, y1)
    collar: list = field(default_factory=list)       # filled polygons
    seams: list = field(default_factory=list)        # polylines drawn darker


def _p(*points) -> np.ndarray:
    return np.asarray(points, dtype=np.float64)


def _top(rng, sleeve: str, detailed_neck: bool) -> Shape:
    w = rng.uniform(0.19, 0.24)          # half width of the body
    hem = rng.uniform(0.84, 0.92)
    cx, sh_y, neck_w = 0.5, 0.13, rng.uniform(0.08, 0.11)
    left = [(cx - neck_w, sh_y - 0.02), (cx - w - 0.04, sh_y + 0.02)]
    right = [(cx + w + 0.04, sh_y + 0.02), (cx + neck_w, sh_y - 0.02)]
    if sleeve == "short":
        sl = rng.uniform(0.14, 0.2)
        left += [(cx - w - 0.04 - sl, sh_y + 0.2), (cx - w - 0.04 - sl + 0.1, sh_y + 0.27)]
        right = [(cx + w + 0.04 + sl - 0.1, sh_y + 0.27), (cx + w + 0.04 + sl, sh_y + 0.2)] + right
    elif sleeve == "long":
        end = rng.uniform(0.7, 0.8)
        left += [(cx - w - 0.2, end), (cx - w - 0.1, end + 0.03)]
        right = [(cx + w + 0.1, end + 0.03), (cx + w + 0.2, end)] + right
    else:  # tank top: straps, deep armholes
        left = [(cx - neck_w - 0.02, sh_y - 0.04), (cx - neck_w - 0.08, sh_y - 0.04)]
        right = [(cx + neck_w + 0.08, sh_y - 0.04), (cx + neck_w + 0.02, sh_y - 0.04)]
    body = left + [(cx - w, sh_y + 0.2), (cx - w - 0.01, hem), (cx + w + 0.01, hem),
                   (cx + w, sh_y + 0.2)] + right + [(cx, sh_y + rng.uniform(0.06, 0.12))]
    shape = Shape(polys=[_p(*body)])
    shape.pockets = [(cx + 0.05, sh_y + 0.13, cx + 0.05 + 0.1, sh_y + 0.24)]
    shape.buttons = (cx, sh_y + 0.12, hem - 0.06, 5)
    shape.zipper = (cx, sh_y + 0.1, hem - 0.02)
    if detailed_neck:
        shape.collar = [_p((cx - neck_w, sh_y - 0.02), (cx - 0.01, sh_y + 0.1), (cx - neck_w - 0.05, sh_y + 0.07)),
                        _p((cx + neck_w, sh_y - 0.02), (cx + 0.01, sh_y + 0.1), (cx + neck_w + 0.05, sh_y + 0.07))]
    return shape


def _dress(rng, length: str) -> Shape:
    hem = rng.uniform(0.9, 0.96) if length == "maxi" else rng.uniform(0.62, 0.7)
    flare = rng.uniform(0.26, 0.34) if length == "maxi" else rng.uniform(0.2, 0.26)
    cx, top, waist, bw = 0.5, 0.08, rng.uniform(0.36, 0.42), rng.uniform(0.12, 0.15)
    pts = [(cx - 0.07, top), (cx - 0.13, top), (cx - bw - 0.02, top + 0.12),
           (cx - bw + 0.02, waist), (cx - flare, hem), (cx + flare, hem),
           (cx + bw - 0.02, waist), (cx + bw + 0.02, top + 0.12), (cx + 0.13, top),
           (cx + 0.07, top), (cx, top + 0.08)]
    shape = Shape(polys=[_p(*pts)])
    shape.seams = [_p((cx - bw + 0.02, waist), (cx + bw - 0.02, waist))]
    shape.pockets = [(cx - flare * 0.6, waist + 0.08, cx - flare * 0.6 + 0.1, waist + 0.18)]
    shape.buttons = (cx, top + 0.1, waist - 0.02, 4)
    shape.zipper = (cx, top + 0.09, waist + 0.12)
    shape.collar = [_p((cx - 0.07, top), (cx - 0.01, top + 0.08), (cx - 0.11, top + 0.06)),
                    _p((cx + 0.07, top), (cx + 0.01, top + 0.08), (cx + 0.11, top + 0.06))]
    return shape


def _skirt(rng, kind: str) -> Shape:
    cx, top, hem = 0.5, rng.uniform(0.12, 0.18), rng.uniform(0.78, 0.88)
    ww = rng.uniform(0.16, 0.2)
    hw = rng.uniform(0.3, 0.36) if kind == "a-line" else ww + rng.uniform(0.0, 0.03)
    pts = [(cx - ww, top), (cx + ww, top), (cx + hw, hem), (cx - hw, hem)]
    shape = Shape(polys=[_p(*pts)])
    shape.seams = [_p((cx - ww, top + 0.06), (cx + ww, top + 0.06))]
    shape.pockets = [(cx - ww + 0.03, top + 0.1, cx - ww + 0.12, top + 0.2)]
    shape.buttons = (cx, top + 0.02, top + 0.05, 1)
    shape.zipper = (cx, top + 0.06, top + 0.3)
    return shape


def _trousers(rng, leg: float) -> Shape:
    cx, top = 0.5, 0.06
    ww = rng.uniform(0.17, 0.21)
    bottom = top + leg
    outer = ww + rng.uniform(0.02, 0.06)
    cuff = rng.uniform(0.13, 0.17) if leg > 0.6 else rng.uniform(0.17, 0.21)
    crotch = top + rng.uniform(0.27, 0.33)
    pts = [(cx - ww, top), (cx + ww, top), (cx + outer, bottom), (cx + outer - cuff, bottom),
           (cx, crotch), (cx - outer + cuff, bottom), (cx - outer, bottom)]
    shape = Shape(polys=[_p(*pts)])
    shape.seams = [_p((cx - ww, top + 0.05), (cx + ww, top + 0.05)),
                   _p((cx, top + 0.05), (cx, crotch - 0.02))]
    shape.pockets = [(cx - ww + 0.02, top + 0.08, cx - ww + 0.11, top + 0.16),
                     (cx + ww - 0.11, top + 0.08, cx + ww - 0.02, top + 0.16)]
    shape.buttons = (cx, top + 0.025, top + 0.03, 1)
    shape.zipper = (cx + 0.02, top + 0.05, crotch - 0.03)
    return shape


def _shoe(rng, kind: str) -> Shape:
    sole_y = rng.uniform(0.7, 0.76)
    toe = rng.uniform(0.88, 0.93)
    if kind == "sneakers":
        upper = _p((0.1, sole_y), (0.1, 0.48), (0.3, 0.42), (0.4, 0.5), (0.6, 0.52),
                   (0.8, 0.58), (toe, 0.66), (toe, sole_y))
        shape = Shape(polys=[upper])
        shape.seams = [_p((0.42, 0.56), (0.5, 0.53)), _p((0.46, 0.6), (0.54, 0.56)),
                       _p((0.5, 0.64), (0.58, 0.6))]  # laces
    else:  # ankle boots
        top = rng.uniform(0.15, 0.25)
        upper = _p((0.18, sole_y), (0.2, top), (0.48, top), (0.5, 0.5), (0.78, 0.58),
                   (toe, 0.66), (toe, sole_y))
        shape = Shape(polys=[upper])
        shape.zipper = (0.44, top + 0.04, sole_y - 0.08)
    sole = _p((0.08 if kind == "sneakers" else 0.16, sole_y - 0.01), (toe + 0.02, sole_y - 0.01),
              (toe + 0.02, sole_y + 0.07), (0.08 if kind == "sneakers" else 0.16, sole_y + 0.07))
    shape.polys.append(sole)
    shape.collar = [sole]  # drawn in the contrasting trim colour
    return shape


def _bag(rng, kind: str) -> Shape:
    if kind == "tote":
        top, bottom = rng.uniform(0.38, 0.44), rng.uniform(0.88, 0.94)
        body = _p((0.2, top), (0.8, top), (0.86, bottom), (0.14, bottom))
        handle = cv2.ellipse2Poly((500, int(top * 1000)), (int(rng.uniform(170, 210)), int(rng.uniform(230, 280))),
                                  0, 180, 360, 5).astype(np.float64) / 1000.0
        shape = Shape(polys=[body], lines=[(handle, 0.035)])
        shape.pockets = [(0.36, top + 0.16, 0.64, top + 0.33)]
        shape.zipper = (0.5, top + 0.02, top + 0.12)
        shape.buttons = (0.5, top + 0.06, top + 0.07, 1)
    else:  # backpack: rounded body, top loop, front pocket
        body = cv2.ellipse2Poly((500, 450), (280, 300), 0, 180, 360, 10).tolist()
        body += [(780, 900), (220, 900)]
        body = np.asarray(body, dtype=np.float64) / 1000.0
        loop = cv2.ellipse2Poly((500, 160), (80, 90), 0, 180, 360, 10).astype(np.float64) / 1000.0
        shape = Shape(polys=[body], lines=[(loop, 0.03)])
        shape.pockets = [(0.3, 0.58, 0.7, 0.84)]
        shape.zipper = (0.5, 0.2, 0.55)
        shape.buttons = (0.5, 0.62, 0.63, 1)
    return shape


def _hat(rng, kind: str) -> Shape:
    if kind == "cap":
        crown = cv2.ellipse2Poly((450, 600), (int(rng.uniform(300, 340)), int(rng.uniform(300, 360))),
                                 0, 180, 360, 8).astype(np.float64) / 1000.0
        brim = _p((0.6, 0.56), (0.95, 0.6), (0.96, 0.66), (0.6, 0.66))
        shape = Shape(polys=[crown, brim])
        shape.seams = [_p((0.45, 0.28), (0.45, 0.6))]
        shape.buttons = (0.45, 0.27, 0.28, 1)
        shape.collar = [brim]
    else:  # beanie with a folded cuff
        dome = cv2.ellipse2Poly((500, 620), (int(rng.uniform(290, 330)), int(rng.uniform(380, 440))),
                                0, 180, 360, 8).astype(np.float64) / 1000.0
        cuff = _p((0.17, 0.6), (0.83, 0.6), (0.84, 0.8), (0.16, 0.8))
        shape = Shape(polys=[dome, cuff])
        shape.collar = [cuff]
        shape.seams = [_p((0.3 + 0.1 * i, 0.62), (0.3 + 0.1 * i, 0.78)) for i in range(5)]
    return shape


# subtype -> shape builder
SHAPES = {
    "t-shirt": lambda rng: _top(rng, "short", False),
    "blouse": lambda rng: _top(rng, "long", True),
    "tank top": lambda rng: _top(rng, "none", False),
    "jacket": lambda rng: _top(rng, "long", True),
    "maxi dress": lambda rng: _dress(rng, "maxi"),
    "mini dress": lambda rng: _dress(rng, "mini"),
    "a-line skirt": lambda rng: _skirt(rng, "a-line"),
    "pencil skirt": lambda rng: _skirt(rng, "pencil"),
    "jeans": lambda rng: _trousers(rng, rng.uniform(0.82, 0.9)),
    "chinos": lambda rng: _trousers(rng, rng.uniform(0.8, 0.88)),
    "shorts": lambda rng: _trousers(rng, rng.uniform(0.42, 0.5)),
    "sneakers": lambda rng: _shoe(rng, "sneakers"),
    "ankle boots": lambda rng: _shoe(rng, "boots"),
    "tote bag": lambda rng: _bag(rng, "tote"),
    "backpack": lambda rng: _bag(rng, "backpack"),
    "baseball cap": lambda rng: _hat(rng, "cap"),
    "beanie": lambda rng: _hat(rng, "beanie"),
}


def _texture(rng, size: int, texture: str, base, second) -> np.ndarray:
    """A full-canvas RGB texture; the caller keeps only the silhouette."""
    img = np.empty((size, size, 3), np.uint8)
    img[:] = base
    if texture == "plain":
        return img
    step = max(4, int(size * rng.uniform(0.06, 0.1)))
    if texture == "striped":
        width = max(2, int(step * rng.uniform(0.3, 0.5)))
        vertical = rng.random() < 0.3
        for start in range(int(rng.integers(0, step)), size, step):
            if vertical:
                img[:, start:start + width] = second
            else:
                img[start:start + width] = second
    elif texture == "dotted":
        radius = max(2, int(step * rng.uniform(0.18, 0.28)))
        for row, y in enumerate(range(step // 2, size, step)):
            for x in range(step // 2 + (step // 2 if row % 2 else 0), size, step):
                cv2.circle(img, (x, y), radius, second, -1, cv2.LINE_AA)
    elif texture == "plaid":
        band = max(2, step // 3)
        overlay = img.copy()
        for start in range(0, size, step * 2):
            overlay[start:start + band] = second
            overlay[:, start:start + band] = second
        img = cv2.addWeighted(img, 0.45, overlay, 0.55, 0)
        for start in range(step, size, step * 2):
            cv2.line(img, (0, start), (size, start), (30, 30, 30), 1)
            cv2.line(img, (start, 0), (start, size), (30, 30, 30), 1)
    elif texture == "print":  # small flowers: five petals around a centre
        petal = max(2, int(step * 0.2))
        for _ in range(int((size / step) ** 2 * 0.8)):
            x, y = (int(v) for v in rng.integers(0, size, 2))
            for k in range(5):
                a = 2 * np.pi * k / 5
                cv2.circle(img, (int(x + 1.6 * petal * np.cos(a)), int(y + 1.6 * petal * np.sin(a))),
                           petal, second, -1, cv2.LINE_AA)
            cv2.circle(img, (x, y), petal, (235, 200, 40), -1, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown texture {texture!r}; expected one of {TEXTURES}")
    return img


def _shade(colour, factor: float) -> tuple:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in colour)


def render_garment(subtype: str, colour: str, texture: str, details, size: int,
                   rng: np.random.Generator, second_colour: str = "navy"):
    """Draw one product photo. Returns (image uint8 RGB [size, size, 3], mask uint8 0/255)."""
    if subtype not in SHAPES:
        raise ValueError(f"unknown garment subtype {subtype!r}; expected one of {sorted(SHAPES)}")
    S = size * SUPERSAMPLE
    shape = SHAPES[subtype](rng)

    # Small random placement: scale, rotation and shift about the canvas centre.
    scale = rng.uniform(0.82, 0.98)
    angle = np.deg2rad(rng.uniform(-4, 4))
    shift = rng.uniform(-0.04, 0.04, 2)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale

    def px(points):
        pts = (np.asarray(points, np.float64) - 0.5) @ rot.T + 0.5 + shift
        return np.round(pts * S).astype(np.int32)

    def thick(t):
        return max(1, round(float(t * scale * S)))  # round(float) is an int; of a NumPy 1.x scalar it is not

    mask = np.zeros((S, S), np.uint8)
    for poly in shape.polys:
        cv2.fillPoly(mask, [px(poly)], 255)
    for points, t in shape.lines:
        cv2.polylines(mask, [px(points)], False, 255, thick(t))
    for hole in shape.holes:
        cv2.fillPoly(mask, [px(hole)], 0)

    base = np.array(COLOURS[colour], np.float64) + rng.uniform(-10, 10, 3)
    base = tuple(int(v) for v in np.clip(base, 0, 255))
    second = COLOURS[second_colour]
    garment = _texture(rng, S, texture, base, second)
    trim = _shade(base, 0.55) if np.mean(base) > 90 else (140, 140, 146)

    for poly in shape.collar:
        cv2.fillPoly(garment, [px(poly)], trim, cv2.LINE_AA)
    line_w = max(1, S // 128)
    for seam in shape.seams:
        cv2.polylines(garment, [px(seam)], False, trim, line_w, cv2.LINE_AA)
    if "pockets" in details:
        for x0, y0, x1, y1 in shape.pockets:
            rect = _p((x0, y0), (x1, y0), (x1, y1), (x0, y1))
            cv2.polylines(garment, [px(rect)], True, trim, line_w, cv2.LINE_AA)
    if "buttons" in details and shape.buttons:
        x, y0, y1, count = shape.buttons
        for y in np.linspace(y0, y1, count):
            cv2.circle(garment, tuple(int(v) for v in px([(x, y)])[0]), max(2, S // 70),
                       (225, 215, 190), -1, cv2.LINE_AA)
    if "zipper" in details and shape.zipper:
        x, y0, y1 = shape.zipper
        a, b = px([(x, y0), (x, y1)])
        cv2.line(garment, tuple(int(v) for v in a), tuple(int(v) for v in b), (150, 150, 160),
                 max(2, S // 64), cv2.LINE_AA)
    # Outline, kept inside the silhouette so that the true mask stays exact.
    contours, _ = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(garment, contours, -1, _shade(base, 0.7), line_w * 2, cv2.LINE_AA)

    # Plain light background: near white or light grey, slightly tinted.
    grey = rng.uniform(228, 252)
    background = np.clip(grey + rng.uniform(-3, 3, 3), 0, 255)
    image = np.empty((S, S, 3), np.uint8)
    image[:] = background.astype(np.uint8)
    inside = mask > 0
    image[inside] = garment[inside]

    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
    mask = np.where(mask >= 128, 255, 0).astype(np.uint8)
    return image, mask
