"""Recipe options on the real processor and a real architecture, in-process: on-the-fly preprocessing with
augmentation, SGD, gradient accumulation, bf16 autocast, early stopping, and no validation split."""

from __future__ import annotations

import json

import pytest

from av_emotion.training.config import load_config
from av_emotion.training.loop import train
from tests.recipes.conftest import CONFIGS, small_run_overrides


@pytest.fixture
def fresh_accelerate_state():
    """Accelerate keeps one state per process; a bf16 run must not leak its precision into later tests."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    yield
    AcceleratorState._reset_state(True)


def test_on_the_fly_sgd_accumulation_bf16(small_corpus, tmp_path, fresh_accelerate_state):
    config = load_config(
        CONFIGS / "avt_ca_synthetic.yaml",
        small_run_overrides(
            small_corpus,
            tmp_path / "run",
            tmp_path / "cache",
            **{
                "data.preprocessing": "on_the_fly",
                "augmentation.video_flip_prob": 0.5,
                "augmentation.time_mask_param": 10,
                "optimizer.name": "sgd",
                "optimizer.lr": 0.01,
                "training.gradient_accumulation_steps": 2,
                "training.mixed_precision": "bf16",
                "training.num_epochs": 3,
                "training.early_stopping_patience": 1,
                "training.metric_for_best": "loss",
                "training.greater_is_better": "false",
            },
        ),
    )
    result = train(config, log=lambda line: None)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    # 12 training clips in batches of 4 = 3 micro-batches per epoch; accumulating 2 gives 2 optimizer steps
    # (the last one on the epoch's remaining micro-batch).
    assert results["history"][0]["step"] == 2
    assert not (tmp_path / "cache").exists()  # nothing preprocessed ahead of time
    if results["stopped_early"]:
        assert len(results["history"]) < 3
    losses = [entry["loss"] for entry in results["history"]]
    assert results["best_validation"] == pytest.approx(min(losses))
    assert result.test_metrics["confusion_matrix"] and sum(map(sum, result.test_metrics["confusion_matrix"])) == 8


def test_without_validation_keeps_last_epoch(small_corpus, tmp_path):
    config = load_config(
        CONFIGS / "avt_ca_synthetic.yaml",
        small_run_overrides(small_corpus, tmp_path / "run", tmp_path / "cache", **{"data.validation_speakers": 0}),
    )
    train(config, log=lambda line: None)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "validation" not in results["split_sizes"] and results["best_validation"] is None
    assert results["speakers"]["train"] == [3, 4, 5, 6]


def test_map_cache_is_reused_and_keyed_by_processor_settings(small_corpus, tmp_path):
    from av_emotion.training.data import prepare_data
    from av_emotion.training.factory import build_processor

    def prepare(*overrides):
        config = load_config(
            CONFIGS / "avt_ca_synthetic.yaml",
            small_run_overrides(small_corpus, tmp_path / "run", tmp_path / "cache") + list(overrides),
        )
        return prepare_data(config, build_processor(config.processor), log=lambda line: None)

    first = prepare()
    files = sorted(path.name for path in (tmp_path / "cache").iterdir())
    assert len(files) == 1  # one file for the clips of every split
    again = prepare()
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == files  # reused, nothing new
    assert again.splits["train"][0]["pixel_values_videos"].equal(first.splits["train"][0]["pixel_values_videos"])
    # Another fold splits the same clips differently: same cache file, and each clip keeps its arrays.
    fold_1 = prepare("data.fold=1")
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == files

    def rows(prepared, name):
        return {row["clip_id"]: row for row in prepared.splits[name].with_format(None)}

    assert set(rows(fold_1, "test")) != set(rows(first, "test"))
    first_rows = {clip: row for name in first.splits for clip, row in rows(first, name).items()}
    for clip, row in rows(fold_1, "test").items():
        assert row["pixel_values_videos"] == first_rows[clip]["pixel_values_videos"]
        assert row["labels"] == first_rows[clip]["labels"]
    other = prepare("processor.overrides.num_frames=4")
    assert len(list((tmp_path / "cache").iterdir())) == 2  # new settings, new cache file
    assert other.splits["train"][0]["pixel_values_videos_shape"].tolist() == [4, 3, 64, 64]
