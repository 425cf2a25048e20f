"""Placeholder: filled by the zoo work (paper eq. 1-3)."""
