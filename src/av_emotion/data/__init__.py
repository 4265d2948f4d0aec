"""Corpus builders, speaker-independent splits and the synthetic corpus."""
