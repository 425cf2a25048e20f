"""On-disk cache for the retrieval benchmark: generated vectors, exact ground truth, and
the indexes whose build is not what a run measures (HNSW peers, the sharded index).

At 1M x 256 on 2 cores, generating the data and its exact top-10 takes about a minute and
each HNSW build several; a second run of the benchmark (the targets must agree between two
consecutive runs) should spend its time on the interleaved rounds instead. Entries live
under ``ROOT/KEY/`` where KEY names everything that determines them (data set, n, dim,
clusters, number of queries, seed, generator version), so a run with other settings never
reads another's files. The ScaNN index under test is always built by the run itself.

Each cached build keeps ``NAME.json``: its build seconds, when it was built and the load
average then, so a report can say whether a build time was measured in this run or read
from the cache (``"from_cache": true``).
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

GENERATOR_VERSION = 1  # bump when make_vectors changes what it draws
DEFAULT_ROOT = Path(os.environ.get("FASHION_TF_BENCH_CACHE",
                                   Path.home() / ".cache" / "fashion_tf" / "benchmarks"))


class BenchCache:
    """Arrays and built artifacts of one data set, or nothing at all when ``root`` is None.

    Args:
        root: cache directory (None = no cache: everything is computed every time).
        key: what determines the entries, e.g. ``clustered-n1000000-d256-...``.
        refresh: recompute and overwrite existing entries.
    """

    def __init__(self, root: str | Path | None, key: str, refresh: bool = False):
        self.dir = Path(root) / key if root else None
        self.refresh = refresh
        if self.dir:
            self.dir.mkdir(parents=True, exist_ok=True)

    def array(self, name: str, make: Callable[[], np.ndarray]) -> tuple[np.ndarray, bool]:
        """(array, whether it came from the cache)."""
        path = self.dir / f"{name}.npy" if self.dir else None
        if path and path.is_file() and not self.refresh:
            return np.load(path), True
        value = make()
        if path:
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            with open(tmp, "wb") as handle:  # np.save on a path would append ".npy"
                np.save(handle, value)
            os.replace(tmp, path)
        return value, False

    def artifact(self, name: str, build: Callable[[], Any], save: Callable[[Any, Path], None],
                 load: Callable[[Path], Any]) -> tuple[Any, dict[str, Any]]:
        """(object, info): ``build()`` timed and saved with ``save(obj, path)``, or ``load(path)``
        of an earlier run. ``info`` holds ``build_s``, ``built_utc``,
        ``load_average_1min_at_build`` and ``from_cache``."""
        path = self.dir / name if self.dir else None
        info_path = self.dir / f"{name}.json" if self.dir else None
        if path and info_path.is_file() and path.exists() and not self.refresh:
            info = json.loads(info_path.read_text())
            start = time.perf_counter()
            obj = load(path)
            return obj, {**info, "from_cache": True, "load_s": round(time.perf_counter() - start, 1)}
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        obj = build()
        info = {"build_s": round(time.perf_counter() - start, 1),
                "built_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "load_average_1min_at_build": round((load_before + os.getloadavg()[0]) / 2, 2)}
        if path:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            save(obj, path)
            info_path.write_text(json.dumps(info, indent=2) + "\n")
        return obj, {**info, "from_cache": False}


def cache_key(dataset: str, n: int, dim: int, clusters: int, extra_queries: int, seed: int) -> str:
    return f"{dataset}-n{n}-d{dim}-c{clusters}-q{extra_queries}-seed{seed}-v{GENERATOR_VERSION}"
