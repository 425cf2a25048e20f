"""Make ``tf.keras.models.load_model("model.keras")`` fast (a tf-keras 2.20 workaround).

tf-keras reads ``model.weights.h5`` with h5py straight out of the ``.keras`` zip, through
``zipfile`` over a ``tf.io.gfile.GFile``. h5py seeks backwards constantly, and a
backward seek in a zip member restarts reading from the member's start, so loading is
quadratic in the weight size: 79 s for V5 (142 MB of weights) on this project's 2-core
machine, 183 s for resnet101_shallow, mostly in system calls. Reading the member into
memory once makes every seek free. Saving is untouched.
"""
from __future__ import annotations

import io

import h5py
from tf_keras.src.saving import saving_lib

_original_init = saving_lib.H5IOStore.__init__


def _init_reading_member_into_memory(self, root_path, archive=None, mode="r"):
    if archive is None or mode != "r":
        _original_init(self, root_path, archive=archive, mode=mode)
        return
    self.root_path = root_path
    self.mode = mode
    self.archive = archive
    self.io_file = io.BytesIO(archive.read(root_path))
    self.h5_file = h5py.File(self.io_file, mode=mode)


def install() -> None:
    """Idempotent: patch tf-keras' weight store reader (called by ``import fashion_tf``)."""
    saving_lib.H5IOStore.__init__ = _init_reading_member_into_memory
