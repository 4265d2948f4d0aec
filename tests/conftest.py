"""Shared fixtures: the real media samples in ../shared/data, a generated clip, and deterministic torch."""

from __future__ import annotations

import os

# One intra-op thread for the whole test session, set before torch starts its OpenMP pool: the robustness
# suite forks a child per case, and a child forked from a parent whose OpenMP pool has worker threads can
# hang in its first parallel region (libgomp is not fork-safe). On 2 cores one thread is also the faster
# setting for these small models. An explicit OMP_NUM_THREADS from the caller wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

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


@pytest.fixture(scope="session")
def generated_av_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 3.2-s audio-video clip (synthetic talking face, 64x64 at 20 fps, 16 kHz AAC voice).

    For behaviour tests that need a clip with video and audio but not a real format or a real face: they run on
    a fresh machine without ../shared/data.
    """
    from tests.pipelines.generated_media import write_talking_clip

    return write_talking_clip(tmp_path_factory.mktemp("generated_av_clip") / "happy.mp4")
