"""Zoo model building blocks: backbones, shallow branch, feature extractor, and later the
personalizer, compatibility (triplet) and part/texture models."""
