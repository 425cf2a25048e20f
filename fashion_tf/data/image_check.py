"""Which image files can be decoded, checked once and cached (docs/design.md, "Augmentation").

TensorFlow's decoders cannot be caught inside a tf.data graph, so an unreadable file
(truncated, empty, not an image) would end an epoch. Every file is therefore decoded
once up front, with the same decoder the pipeline uses, in a thread pool; the verdict
(reason, height, width, is-JPEG) is cached by path, size and modification time in the
catalog's ``.image_check.json``, so later runs only check new or changed files.
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tensorflow as tf

from fashion_tf.data.decode import decode_image

logger = logging.getLogger(__name__)

CHECK_CACHE_FILE = ".image_check.json"


@tf.function(input_signature=[tf.TensorSpec([], tf.string)])
def _decoded_shape(encoded: tf.Tensor) -> tf.Tensor:
    return tf.shape(decode_image(encoded))


def _decoder_message(message: str) -> str:
    """The decoder's own words from a graph error ("jpeg::Uncompress failed. ...")."""
    # The text is "Graph execution error: ... <traceback> ...\n<reason>\n\t [[{{node ...}}]] ...".
    lines = [line.strip() for line in message.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("[[") or "{{node" in line:
            before = [text for text in lines[:i] if text]
            if before:
                return re.sub(r"\{\{[^}]*\}\}", "", before[-1]).strip()[:200]
    return re.sub(r"\{\{[^}]*\}\}", "", lines[0] if lines else "decode failed").strip()[:200]


JPEG_MAGIC = b"\xff\xd8\xff"


def _check_one(path: str) -> list:
    """``[reason, height, width, is_jpeg]``; reason None when ``path`` decodes with the
    pipeline's decoder (then the decoded size and whether the bytes are a JPEG)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        return [f"unreadable: {error.strerror or error}", 0, 0, False]
    if not data:
        return ["empty file", 0, 0, False]
    try:
        height, width, _ = (int(v) for v in _decoded_shape(tf.constant(data)).numpy())
    except tf.errors.InvalidArgumentError as error:
        return ["not a decodable image: " + _decoder_message(error.message), 0, 0, False]
    return [None, height, width, data.startswith(JPEG_MAGIC)]


def check_files(paths: Sequence[str], cache_file: str | os.PathLike | None = None, workers: int | None = None) -> dict[str, list]:
    """Decodes every file once; ``{path: [reason or None, height, width, is_jpeg]}``.

    Args:
        paths: image file paths.
        cache_file: JSON file of earlier verdicts keyed by path with (size, mtime_ns);
            unchanged files are not decoded again. None: no cache.
        workers: decoding threads (TF decoding releases the GIL); default: CPU count.
    """
    cache: dict = {}
    if cache_file is not None and Path(cache_file).exists():
        try:
            cache = json.loads(Path(cache_file).read_text())
        except (OSError, ValueError):
            cache = {}
    stamps: dict[str, list] = {}
    todo = []
    for path in paths:
        try:
            stat = os.stat(path)
            stamps[path] = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            stamps[path] = [-1, -1]
        entry = cache.get(path)
        # entries: [size, mtime_ns, reason, height, width, is_jpeg]; shorter ones are
        # from an older version of this cache and are checked again.
        if entry is None or entry[:2] != stamps[path] or len(entry) < 6:
            todo.append(path)
    if todo:
        with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
            for path, verdict in zip(todo, pool.map(_check_one, todo)):
                cache[path] = stamps[path] + verdict
        if cache_file is not None:
            try:
                Path(cache_file).write_text(json.dumps(cache))
            except OSError as error:  # read-only catalog: checking again next time is fine
                logger.debug("cannot write %s: %s", cache_file, error)
    return {path: cache[path][2:6] for path in paths}


def check_images(paths: Sequence[str], cache_file: str | os.PathLike | None = None, workers: int | None = None) -> dict[str, str]:
    """Decodes every file once; returns ``{path: reason}`` for those that fail (see :func:`check_files`)."""
    return {path: entry[0] for path, entry in check_files(paths, cache_file, workers).items() if entry[0] is not None}


# ---------------------------------------------------------------- catalog and masks
