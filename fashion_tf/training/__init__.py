"""Trainers, one module per zoo kind (``fashion_tf.train.TRAINERS``), and what they share
(``common``): run directories, resuming, optimizer, callbacks."""
