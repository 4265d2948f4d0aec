"""Tiny configurations per architecture, for tests that must run in seconds on a CPU.

One entry per registered `model_type`: the keyword arguments of its config class. The parametrized
architecture test fails for any registered architecture that has no entry here.
"""

TINY_CONFIGS: dict[str, dict] = {}
