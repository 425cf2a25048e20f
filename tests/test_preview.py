"""python -m fashion_tf.data.preview: the grid of what the pipeline feeds a model."""
from __future__ import annotations

import cv2
import numpy as np

from fashion_tf.data import preview


def test_preview_cli_writes_the_grid(tiny_shop, tmp_path, capsys):
    out = tmp_path / "pictures" / "preview.png"
    assert preview.main(["--catalog", str(tiny_shop), "--out", str(out), "--n", "3", "--size", "40"]) == out
    picture = cv2.imread(str(out))
    # five rows (catalog, mask, standard aug, background aug, street queries) of 3 tiles
    gap, label = 4, 170
    assert picture.shape == (5 * (40 + gap) + gap, label + 3 * (40 + gap) + gap, 3)
    tiles = [picture[gap + r * 44: gap + r * 44 + 40, label + gap: label + gap + 40] for r in range(5)]
    mask = tiles[1]
    assert ((mask < 16) | (mask > 239)).mean() > 0.8 and 0.05 < (mask > 127).mean() < 0.95  # a real mask
    assert not np.array_equal(tiles[0], tiles[3])  # background augmentation changed the picture
    assert "5 rows x 3 images at 40 px" in capsys.readouterr().out
