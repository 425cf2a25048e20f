"""``python -m fashion_tf.serving.client``: the thin client's command line.

The client itself is :mod:`fashion_tf_client.client` (it imports without TensorFlow);
this module keeps the documented ``fashion_tf.serving.client`` names working.
"""
import sys

from fashion_tf_client.cli import main
from fashion_tf_client.client import DEFAULT_SIGNATURE, SIMILAR_SIGNATURE, Client, Signature  # noqa: F401
from fashion_tf_client.images import encode_image  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
