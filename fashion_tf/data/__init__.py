"""Catalogs, importers, label extraction, the demo shop, masks and tf.data pipelines."""
