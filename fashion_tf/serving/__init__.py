"""Serving: the thin TF Serving client (:mod:`fashion_tf_client`, re-exported here) and a
stand-in TF Serving-protocol server. The server lives in
:mod:`fashion_tf.serving.server` (imported on demand: it loads TensorFlow models).

``import fashion_tf`` imports TensorFlow; a backend that only calls a model server
imports :mod:`fashion_tf_client` instead, which never does.
"""
import fashion_tf_client
from fashion_tf_client import *

__all__ = fashion_tf_client.__all__  # the client's public names, listed once
