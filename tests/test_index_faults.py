"""A damaged index directory is refused with an error naming the file, never searched:
a truncated file, a missing file, or the manifest of another model's index."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

import fashion_tf  # noqa: F401  (before TensorFlow / scann)
from fashion_tf.retrieval import IndexMismatchError, build_index, load_index
from fashion_tf.retrieval.manifest import IndexFormatError

IDS = [f"item_{i:03d}" for i in range(60)]


def vectors(seed):
    values = np.random.default_rng(seed).normal(size=(len(IDS), 8)).astype(np.float32)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


@pytest.fixture(params=["brute", "scann"])
def saved(request, tmp_path):
    index = build_index(IDS, vectors(0), backend=request.param, model_fingerprint="aaaa1111")
    index.save(tmp_path / "idx")
    return tmp_path / "idx", request.param


def data_files(directory):
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json")


def test_truncated_files_are_named(saved):
    directory, _ = saved
    for path in data_files(directory):
        backup = path.read_bytes()
        path.write_bytes(backup[: len(backup) // 2])
        try:
            load_index(directory)
        except (IndexFormatError, IndexMismatchError) as error:
            assert str(path.parent) in str(error), f"error for truncated {path.name} does not name it: {error}"
        else:  # a file it can still read must give the very results it gave
            pytest.fail(f"truncated {path.relative_to(directory)} was loaded")
        finally:
            path.write_bytes(backup)
    assert load_index(directory).search(vectors(0)[:2], k=3)[0][0, 0] == IDS[0]


def test_missing_files_are_named(saved):
    directory, _ = saved
    for path in data_files(directory):
        moved = path.with_name(path.name + ".away")
        path.rename(moved)
        try:
            with pytest.raises(IndexFormatError) as error:
                load_index(directory)
            assert str(path.parent) in str(error.value)
        finally:
            moved.rename(path)


def test_another_models_manifest_is_refused(saved, tmp_path):
    directory, backend = saved
    other = build_index(IDS, vectors(1), backend=backend, model_fingerprint="bbbb2222")
    other.save(tmp_path / "other")
    shutil.copy(tmp_path / "other" / "manifest.json", directory / "manifest.json")
    with pytest.raises(IndexMismatchError, match="fingerprint bbbb2222"):
        load_index(directory, expected_fingerprint="aaaa1111")
