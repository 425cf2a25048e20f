"""Training background augmentation on another version's masks: the masks of an
earlier commit (tools/masks_from_commit.py) and the catalog copy and baseline checks of
tools/background_ablation.py (paper 3.1)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow)
from fashion_tf.data import hard_photos, schema
from fashion_tf.data.catalog import load_catalog

TOOLS = Path(__file__).parents[1] / "tools"


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory) -> Path:
    return hard_photos.write_hard_catalog(tmp_path_factory.mktemp("cat"), per_case=1, seed=3, size=64)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_masks_of_an_old_commit_are_computed_by_that_commits_code(small_catalog, tmp_path):
    """The commit's masks.py, not today's, makes the masks: a repository whose first
    commit masks everything and second commit masks nothing gives full masks for the
    first; a masks.py that imports today's mask modules is refused."""
    repo = tmp_path / "repo"
    (repo / "fashion_tf" / "data").mkdir(parents=True)
    _git(repo.parent, "init", "-q", str(repo))
    module = repo / "fashion_tf" / "data" / "masks.py"
    for value in (255, 0):
        module.write_text(f"import numpy as np\n\ndef compute_mask(image):\n"
                          f"    return np.full(image.shape[:2], {value}, np.uint8)\n")
        _git(repo, "add", "-A")
        _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"masks {value}")
    tool = _tool("masks_from_commit")
    record = tool.write_masks(small_catalog, tmp_path / "old", commit="HEAD^", repo=repo)
    assert record["commit"] == _git(repo, "rev-parse", "HEAD^") and record["masks"] == 6
    mask = cv2.imread(str(tmp_path / "old" / "light_on_white_000.png"), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (64, 64) and (mask == 255).all()
    truth_share = np.mean([(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 0).mean()
                           for p in sorted((small_catalog / schema.TRUE_MASKS_DIR).glob("*.png"))])
    assert record["mean_iou_vs_true_masks"] == pytest.approx(truth_share, abs=1e-3)  # full mask: IoU = share
    assert json.loads((tmp_path / "old" / "source.json").read_text())["asked"] == "HEAD^"

    module.write_text("from fashion_tf.data.mask_estimate import estimate_mask\n")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "imports")
    with pytest.raises(ValueError, match="imports other mask modules"):
        tool.write_masks(small_catalog, tmp_path / "new", commit="HEAD", repo=repo)
    with pytest.raises(ValueError, match="not a commit"):
        tool.write_masks(small_catalog, tmp_path / "new", commit="nosuchref", repo=repo)


def test_catalog_copy_trains_on_the_given_masks(small_catalog, tmp_path):
    """--masks-from: a catalog copy whose mask column points at copies of the given
    masks (no confidence.json: all used), images linked; a missing mask is an error."""
    tool = _tool("background_ablation")
    given = tmp_path / "given"
    given.mkdir()
    items = load_catalog(small_catalog).items
    for item_id in items["item_id"]:
        cv2.imwrite(str(given / f"{item_id}.png"), np.full((64, 64), 255, np.uint8))
    root = Path(tool.catalog_with_masks(small_catalog, given, tmp_path / "copy"))
    copy = load_catalog(root)
    assert list(copy.items["item_id"]) == list(items["item_id"])
    assert list(copy.items["mask"]) == [f"masks/{i}.png" for i in items["item_id"]]
    assert (root / schema.IMAGES_DIR).is_symlink() and not (root / schema.MASKS_DIR / "confidence.json").exists()
    assert (cv2.imread(str(root / "masks" / f"{items['item_id'][0]}.png"), cv2.IMREAD_GRAYSCALE) == 255).all()
    from fashion_tf.data.masks import usable_masks

    assert usable_masks(root, list(items["item_id"]))[1] == {}
    (given / f"{items['item_id'][2]}.png").unlink()
    with pytest.raises(ValueError, match=f"no mask for 1 of 6 items, e.g. {items['item_id'][2]}.png"):
        tool.catalog_with_masks(small_catalog, given, tmp_path / "copy2")


def test_baseline_runs_must_be_trained_alike(tmp_path):
    """--baseline-runs reads p=0 runs of another output only if they were trained with
    the same model, epochs, image size and seed, without background augmentation."""
    tool = _tool("background_ablation")
    args = tool.argparse.Namespace(model="tiny", epochs=20, image_size=64)
    run = tmp_path / "tiny_p0_seed1"
    run.mkdir()
    with pytest.raises(FileNotFoundError, match="no finished run tiny_p0_seed1"):
        tool._baseline_run(tmp_path, run.name, args, 1)
    (run / "model.keras").write_bytes(b"")
    config = {"model": "tiny", "epochs": 20, "image_size": 64, "background_p": 0.0, "seed": 1}
    (run / "config.json").write_text(json.dumps(config))
    assert tool._baseline_run(tmp_path, run.name, args, 1) == run
    (run / "config.json").write_text(json.dumps(dict(config, epochs=10)))
    with pytest.raises(ValueError, match="epochs 10, expected 20"):
        tool._baseline_run(tmp_path, run.name, args, 1)


def test_compare_two_outputs_augmented_runs(tmp_path):
    """--compare: the augmented runs of two ablation outputs against each other, the
    same separation rule, nothing trained."""
    tool = _tool("background_ablation")

    def result(recall10):
        return {"street_to_shop": {"recall@1": 0.0, "recall@10": recall10, "recall@20": 0.3,
                                   "category_precision@10": 0.4, "colour_precision@10": 0.3},
                "in_shop": {"category_precision@10": 0.9}, "multilabel": {"iou": 0.5}}

    for name, setting, values in (("now", "p=0.5", (0.14, 0.16)), ("old", "p=0.5 (contour masks)", (0.04, 0.06))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "ablation.json").write_text(json.dumps(
            {"command": f"run {name}", "runs": {setting: [result(v) for v in values], "p=0": [result(0.0)] * 2}}))
    out = tmp_path / "before_after.json"
    assert tool.main(["--compare", str(tmp_path / "now" / "ablation.json"), str(tmp_path / "old" / "ablation.json"),
                      "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    recall = record["summary"]["street recall@10"]
    assert set(recall) == {"p=0.5 [now]", "p=0.5 (contour masks) [old]", "difference"}
    assert recall["difference"]["mean"] == pytest.approx(0.10) and recall["difference"]["separated"]
    assert record["commands"] == ["run now", "run old"]
