"""Real photographs for background augmentation and street-style queries (docs/design.md, "Data").

The photographs come from packages that are already installed and ship their
sample images inside the wheel (no download at run time): scikit-image's
``skimage.data`` and scikit-learn's ``load_sample_images``. They are split, by
name, into two pools that never share a photograph:

* ``"train"``: backgrounds pasted behind catalog items during training
  (paper section 3.1, background augmentation);
* ``"query"``: backgrounds of the demo shop's street-style query photos, so that
  the evaluation never sees a background the model was trained on.

scikit-image's ``cat`` is the same picture as ``chelsea``; only ``chelsea`` is used.
The grey texture photographs (brick, grass, gravel) are converted to RGB.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

# Fixed assignment by name: a photograph appears in exactly one pool.
TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "china", "brick", "grass")
QUERY_PHOTOS = ("chelsea", "motorcycle", "flower", "gravel")
POOLS = {"train": TRAIN_PHOTOS, "query": QUERY_PHOTOS}

_CACHE: dict[str, np.ndarray] = {}


def default_cache_dir() -> Path:
    """``$FASHION_TF_CACHE`` or ``~/.cache/fashion_tf``."""
    return Path(os.environ.get("FASHION_TF_CACHE") or Path.home() / ".cache" / "fashion_tf")


def _load_skimage(name: str) -> np.ndarray:
    import skimage.data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "motorcycle":
            return skimage.data.stereo_motorcycle()[0]
        return getattr(skimage.data, name)()


def _load_sklearn(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    for filename, image in zip(bunch.filenames, bunch.images):
        if Path(filename).stem == name:
            return image
    raise KeyError(f"scikit-learn has no sample image {name!r}")


def load_photo(name: str) -> np.ndarray:
    """One named photograph as uint8 RGB [H, W, 3] (cached in memory)."""
    if name not in _CACHE:
        image = _load_sklearn(name) if name in ("china", "flower") else _load_skimage(name)
        image = np.asarray(image)
        if image.dtype != np.uint8:
            raise ValueError(f"sample photo {name!r} has dtype {image.dtype}, expected uint8")
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        image = np.ascontiguousarray(image[:, :, :3])
        image.setflags(write=False)
        _CACHE[name] = image
    return _CACHE[name]


def background_photos(pool: str) -> list[np.ndarray]:
    """The photographs of ``pool`` ("train" or "query") as uint8 RGB arrays.

    A photograph that cannot be loaded (a package without its bundled data) is
    skipped with a warning; an empty pool raises.
    """
    if pool not in POOLS:
        raise ValueError(f"unknown background pool {pool!r}; expected one of {sorted(POOLS)}")
    photos = []
    for name in POOLS[pool]:
        try:
            photos.append(load_photo(name))
        except Exception as error:  # noqa: BLE001  (a missing optional sample must not break training)
            warnings.warn(f"background photo {name!r} unavailable: {error}", stacklevel=2)
    if not photos:
        raise RuntimeError(f"no photograph of pool {pool!r} could be loaded "
                           "(needs scikit-image and scikit-learn with their sample data)")
    return photos


def training_background_files(cache_dir: str | os.PathLike | None = None) -> list[str]:
    """Write the train pool once as JPEGs and return their paths (sorted by name).

    Files go to ``<cache_dir>/backgrounds/train/<name>.jpg``; existing files are
    reused, so the pipeline can read them with ``tf.io.read_file``.
    """
    import cv2

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / "backgrounds" / "train"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in TRAIN_PHOTOS:
        path = folder / f"{name}.jpg"
        if not path.exists():
            try:
                image = load_photo(name)
            except Exception as error:  # noqa: BLE001  (a missing optional sample is skipped)
                warnings.warn(f"background photo {name!r} unavailable: {error}", stacklevel=2)
                continue
            tmp = path.with_suffix(".tmp.jpg")
            if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 92]):
                raise OSError(f"could not write background photo {tmp}")
            os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
        paths.append(str(path))
    if not paths:
        raise RuntimeError("no training background photograph could be written")
    return paths


def random_crop(photo: np.ndarray, height: int, width: int, rng: np.random.Generator,
                min_fraction: float = 0.3) -> np.ndarray:
    """A random crop of ``photo`` covering >= ``min_fraction`` of its shorter side,
    with the aspect ratio of (height, width), resized to (height, width)."""
    import cv2

    ph, pw = photo.shape[:2]
    aspect = width / height
    max_h = min(ph, int(pw / aspect))
    crop_h = int(rng.uniform(min_fraction, 1.0) * max_h)
    crop_h = max(crop_h, 8)
    crop_w = min(pw, max(8, round(float(crop_h * aspect))))
    y = int(rng.integers(0, ph - crop_h + 1))
    x = int(rng.integers(0, pw - crop_w + 1))
    crop = photo[y:y + crop_h, x:x + crop_w]
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
