"""Shared fixtures: the real media samples in ../shared/data, and deterministic torch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real RAVDESS / CREMA-D samples; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real media samples not found at {SHARED_DATA.resolve()} (see shared/data/README.md)")
    return SHARED_DATA.resolve()


@pytest.fixture(scope="session")
def ravdess_av_clip(shared_data: Path) -> Path:
    """A full audio-video RAVDESS clip (actor 05, happy)."""
    path = shared_data / "ravdess" / "01-01-03-01-01-02-05.mp4"
    if not path.exists():
        pytest.skip(f"{path} is missing from the shared samples")
    return path
