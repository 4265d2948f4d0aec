"""A valence/arousal recipe: a CSV manifest, JCA's regression head, CCC as the selection metric."""

from __future__ import annotations

import json

import numpy as np

from av_emotion.training.config import config_from_dict
from av_emotion.training.loop import train
from tests.modeling.tiny_configs import TINY_CONFIGS


def test_manifest_regression_with_ccc(small_corpus, tmp_path):
    rng = np.random.default_rng(0)
    clips = sorted(small_corpus.glob("*.mp4"))
    lines = ["path,valence,arousal,speaker"]
    for clip in clips:
        valence, arousal = rng.uniform(-1, 1, 2)
        lines.append(f"{clip},{valence:.3f},{arousal:.3f},actor{clip.stem[-2:]}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(lines))
    config = config_from_dict(
        {
            "model": {
                "model_type": "joint_cross_attention",
                "head": "regression",
                "config": TINY_CONFIGS["joint_cross_attention"],
            },
            "processor": {
                "preset": "synthetic",
                "overrides": {"num_frames": 4, "size": {"height": 16, "width": 16}, "n_mels": 16},
            },
            "data": {
                "corpus": "manifest",
                "root": str(manifest),
                "num_folds": 3,
                "validation_speakers": 1,
                "cache_dir": str(tmp_path / "cache"),
            },
            "training": {
                "output_dir": str(tmp_path / "run"),
                "num_epochs": 2,
                "per_device_train_batch_size": 4,
                "metric_for_best": "ccc",
                "report_to": "none",
                "checkpoint_every_steps": 0,
            },
        }
    )
    result = train(config, log=lambda line: None)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["label_names"] == ["valence", "arousal"]
    assert results["speakers"]["test"] == ["actor01", "actor02"]  # string speakers, sorted
    assert set(result.test_metrics) >= {"ccc", "ccc_valence", "ccc_arousal", "loss"}
    assert -1.0 <= result.test_metrics["ccc"] <= 1.0
    assert not (tmp_path / "run" / "confusion_matrix.png").exists()
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["problem_type"] == "regression" and len(saved["id2label"]) == 2
