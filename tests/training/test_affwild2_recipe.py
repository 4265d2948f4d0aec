"""The Aff-Wild2 recipe end to end on generated data in the official layout: per-sub-clip targets, the
official split, per-video CCC."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from av_emotion.data.affwild2 import affwild2_per_video_ccc, build_affwild2_corpus
from av_emotion.data.corpus import available_corpora
from av_emotion.training.config import load_config
from av_emotion.training.loop import train
from tests.modeling.tiny_configs import TINY_CONFIGS
from tests.processing.media_factory import write_media
from tests.recipes.conftest import CONFIGS

FPS = 30


def write_affwild2_layout(root, videos: dict[str, tuple[str, float]]) -> None:
    """Videos in batch folders and per-frame annotations under VA_Estimation_Challenge/<split>/.

    `videos`: name -> (split folder, seconds). Valence and arousal follow slow waves; every 7th frame is -5.
    """
    for index, (name, (split, seconds)) in enumerate(videos.items()):
        (root / "batch1").mkdir(parents=True, exist_ok=True)
        write_media(root / "batch1" / f"{name}.mp4", duration_s=seconds, fps=FPS, size=(32, 32), sampling_rate=16000)
        frames = round(seconds * FPS)
        lines = ["valence,arousal"]
        for frame in range(frames):
            if frame % 7 == 3:
                lines.append("-5,-5")
            else:
                t = frame / FPS
                lines.append(f"{0.8 * math.sin(t + index):.3f},{0.6 * math.cos(0.7 * t + index):.3f}")
        folder = root / "annotations" / "VA_Estimation_Challenge" / split
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def affwild2_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("affwild2")
    write_affwild2_layout(
        root,
        {"train_a": ("Train_Set", 2.2), "train_b": ("Train_Set", 2.2), "val_a": ("Validation_Set", 2.2)},
    )
    return root


def test_affwild2_is_a_registered_corpus_with_per_subclip_targets(affwild2_root):
    assert "affwild2" in available_corpora()
    dataset, report = build_affwild2_corpus(affwild2_root, window_frames=32, num_subclips=2)
    # 66 frames a video: windows at 0 and 32, and one moved back to end at frame 66.
    assert dataset.filter(lambda row: row["video_id"] == "train_a")["start_frame"] == [0, 32, 34]
    assert sorted(set(dataset["split"])) == ["train", "validation"] and report.kept == len(dataset) == 9
    row = dataset[0]
    assert row["start_s"] == pytest.approx(0.0) and row["end_s"] == pytest.approx(32 / FPS)
    # Sub-clip targets: the mean of the annotated frames of frames 0-15 and 16-31.
    frames = np.array(row["frame_index"])
    values = np.array(row["frame_valence"])
    np.testing.assert_allclose(row["valence"], [values[frames < 16].mean(), values[frames >= 16].mean()], rtol=1e-5)
    assert 3 not in row["frame_index"] and 10 not in row["frame_index"]  # -5 frames are not annotations


def test_per_video_ccc_maps_subclips_back_to_frames(affwild2_root):
    dataset, _ = build_affwild2_corpus(affwild2_root, window_frames=32, num_subclips=2)
    rows = dataset.filter(lambda row: row["split"] == "validation")
    # Predicting each sub-clip's own target gives the CCC of those sub-clip means against the frames.
    predictions = np.stack([np.stack([row["valence"], row["arousal"]], axis=-1) for row in rows])
    scores = affwild2_per_video_ccc(predictions, rows)
    assert scores["num_frames"] == len(
        set(rows[0]["frame_index"]) | set(rows[1]["frame_index"]) | set(rows[2]["frame_index"])
    )
    assert 0.5 < scores["ccc_valence"] < 1.0 and 0.5 < scores["ccc_arousal"] < 1.0
    # A constant prediction has CCC 0.
    assert affwild2_per_video_ccc(np.zeros_like(predictions), rows)["ccc_mean"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="step_predictions must be"):
        affwild2_per_video_ccc(predictions[:1], rows)


def test_affwild2_recipe_trains_and_reports_per_video_ccc(affwild2_root, tmp_path):
    tiny = TINY_CONFIGS["joint_cross_attention"]
    config = load_config(
        CONFIGS / "joint_cross_attention_affwild2.yaml",
        [
            f"data.root={affwild2_root}",
            "data.builder={window_frames: 32, num_subclips: 2}",
            "data.validation_speakers=1",
            "data.num_proc=1",
            f"data.cache_dir={tmp_path / 'cache'}",
            f"model.config={json.dumps(tiny)}",
            "processor.overrides={do_face_crop: false, num_frames: 4, size: {height: 16, width: 16}, n_mels: 16, "
            f"sampling_rate: 16000, clip_duration_s: {32 / FPS}}}",
            f"training.output_dir={tmp_path / 'run'}",
            "training.num_epochs=2",
            "training.per_device_train_batch_size=2",
            "training.per_device_eval_batch_size=4",
            "training.dataloader_num_workers=0",
            "training.checkpoint_every_steps=0",
            "training.report_to=none",
        ],
    )
    result = train(config, log=lambda line: None)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    # The official split: Train_Set subjects train (one carved out for validation), Validation_Set tests.
    assert results["speakers"]["test"] == ["val_a"]
    assert sorted(results["speakers"]["train"] + results["speakers"]["validation"]) == ["train_a", "train_b"]
    metrics = result.test_metrics
    assert {"ccc_valence", "ccc_arousal", "per_video_ccc_valence", "per_video_ccc_arousal", "per_video_ccc"} <= set(
        metrics
    )
    assert all(-1.0 <= metrics[key] <= 1.0 for key in ("per_video_ccc_valence", "per_video_ccc_arousal"))
    assert math.isfinite(results["best_validation"])
