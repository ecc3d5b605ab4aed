"""Sources, decoding, letterbox and datasets."""
