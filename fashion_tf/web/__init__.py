"""A web page to try a served fashion_tf model with any photo: ``python -m fashion_tf.web``.

See :mod:`fashion_tf.web.app`.
"""
