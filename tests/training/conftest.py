from pathlib import Path

import pytest

from av_emotion.modeling import ARCHITECTURES
from tests.data.fake_media import write_clip, write_small_corpus
from tests.training.tiny_components import TinyAVConfig, TinyProcessor, register_tiny


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """RAVDESS-named clips of 4 actors x 2 emotions x 2 repetitions (noise: mechanics, not learning)."""
    root = tmp_path_factory.mktemp("tiny_corpus")
    for actor in (1, 2, 3, 4):
        for emotion in (1, 5):
            for rep in (1, 2):
                name = f"01-01-{emotion:02d}-01-01-{rep:02d}-{actor:02d}.mp4"
                write_clip(root / name, seed=actor * 100 + emotion * 10 + rep)
    return root


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """6 actors x 2 emotions x 2 repetitions of 1-s clips at 64x64, for runs with the real processor."""
    return write_small_corpus(tmp_path_factory.mktemp("small_corpus"))


@pytest.fixture
def tiny_stack(monkeypatch):
    """Register the tiny model and make the recipes build the tiny processor.

    The registration is taken back afterwards: tests elsewhere iterate over every registered architecture
    (e.g. the remote-code bundle tests), and the tiny model has no place there.
    """
    register_tiny()
    monkeypatch.setattr("av_emotion.training.loop.build_processor", lambda section: TinyProcessor())
    yield
    ARCHITECTURES.pop(TinyAVConfig.model_type, None)


def tiny_config_dict(corpus: Path, output_dir: Path, **training) -> dict:
    return {
        "model": {"model_type": "tiny_av_test", "config": {"hidden_size": 8}},
        "processor": {"preset": "tiny"},
        "data": {
            "corpus": "synthetic",
            "root": str(corpus),
            "num_folds": 4,
            "validation_speakers": 1,
            "fold": 0,
            "builder": {"num_workers": 1},
            "cache_dir": str(output_dir.parent / "cache"),
        },
        "optimizer": {"name": "adamw", "lr": 0.05},
        "scheduler": {"name": "linear", "warmup_steps": 1},
        "training": {
            "output_dir": str(output_dir),
            "seed": 7,
            "num_epochs": 3,
            "per_device_train_batch_size": 2,
            "per_device_eval_batch_size": 4,
            "checkpoint_every_steps": 3,
            "keep_last_checkpoints": 2,
            "log_every_steps": 2,
            "report_to": "none",
            **training,
        },
    }
