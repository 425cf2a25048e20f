"""Evaluation as in the papers: multi-label scores, retrieval metrics, OHS, plots."""
