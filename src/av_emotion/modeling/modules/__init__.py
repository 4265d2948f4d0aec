"""Blocks shared by more than one architecture: encoders, attention, pooling."""
