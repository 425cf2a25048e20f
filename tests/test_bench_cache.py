"""benchmarks/retrieval_cache.py: arrays and built artifacts computed once per key, reused after."""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from retrieval_cache import BenchCache, cache_key


def test_arrays_and_artifacts_are_built_once_then_read_back(tmp_path):
    key = cache_key("clustered", 1000, 8, 10, 50, seed=3)
    assert key.startswith("clustered-n1000-d8-c10-q50-seed3-v")
    built = []

    def make():
        built.append("array")
        return np.arange(12, dtype=np.float32).reshape(3, 4)

    def build():
        built.append("index")
        return {"leaves": 7}

    def save(obj, path):
        path.write_text(json.dumps(obj))

    def load(path):
        return json.loads(path.read_text())

    cache = BenchCache(tmp_path, key)
    first, cached = cache.array("vectors", make)
    assert not cached
    again, cached = BenchCache(tmp_path, key).array("vectors", make)
    assert cached and np.array_equal(again, first) and again.dtype == np.float32
    obj, info = cache.artifact("hnsw", build, save, load)
    assert obj == {"leaves": 7} and info["from_cache"] is False and info["build_s"] >= 0
    obj, info2 = BenchCache(tmp_path, key).artifact("hnsw", build, save, load)
    assert obj == {"leaves": 7} and info2["from_cache"] is True
    assert info2["built_utc"] == info["built_utc"] and info2["build_s"] == info["build_s"]
    assert built == ["array", "index"]
    # another key never sees these entries; refresh and no cache rebuild
    assert not BenchCache(tmp_path, cache_key("clustered", 1001, 8, 10, 50, seed=3)).array("vectors", make)[1]
    assert not BenchCache(tmp_path, key, refresh=True).artifact("hnsw", build, save, load)[1]["from_cache"]
    assert not BenchCache(None, key).array("vectors", make)[1]
    assert built == ["array", "index", "array", "index", "array"]
    assert sorted(p.name for p in (tmp_path / key).iterdir()) == ["hnsw", "hnsw.json", "vectors.npy"]
