"""End-to-end: `accelerate launch recipes/train.py` per architecture, then `recipes/evaluate.py` on the result."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from safetensors.torch import load_file

from av_emotion.commands import evaluate as evaluate_command
from tests.recipes.conftest import CONFIGS, accelerate_command, run_recipe, small_run_overrides

# Each launch takes 15-20 s on 2 cores (mostly imports in the launcher and the training process).
ARCHITECTURE_RUNS = ["avt_ca", "av_metric_fusion", "joint_cross_attention"]


@pytest.mark.parametrize("model_type", ARCHITECTURE_RUNS)
def test_accelerate_launch_trains_saves_and_evaluates(model_type, small_corpus, tmp_path):
    output_dir = tmp_path / "run"
    config = CONFIGS / f"{model_type}_synthetic.yaml"
    result = run_recipe(
        accelerate_command(
            "train.py", "--config", str(config), *small_run_overrides(small_corpus, output_dir, tmp_path / "cache")
        )
    )
    assert "saved model, processor and results" in result.stdout + result.stderr
    for name in (
        "model.safetensors",
        "config.json",
        "processor_config.json",
        "results.json",
        "confusion_matrix.png",
        "README.md",
    ):
        assert (output_dir / name).is_file(), name
    results = json.loads((output_dir / "results.json").read_text())
    assert results["model_type"] == model_type and results["corpus"] == "synthetic"
    # 6 actors in 3 sorted blocks: fold 0 tests actors 1-2, validates on 3, trains on 4-6.
    assert results["speakers"] == {"train": [4, 5, 6], "validation": [3], "test": [1, 2]}
    assert results["split_sizes"] == {"train": 12, "validation": 4, "test": 8}
    assert len(results["history"]) == 2 and results["global_step"] == 6

    # The saved folder loads with the Auto classes and its own processor and reproduces the test scores
    # (the evaluate command in this process: a second launch would only add imports).
    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    arguments = parser.parse_args(
        [
            "--config",
            str(config),
            "--model",
            str(output_dir),
            "--output",
            str(tmp_path / "evaluation.json"),
            *small_run_overrides(small_corpus, tmp_path / "unused", tmp_path / "cache"),
        ]
    )
    assert evaluate_command.run(arguments) == 0
    summary = json.loads((tmp_path / "evaluation.json").read_text())
    assert summary["summary"]["accuracy"]["n"] == 1
    assert summary["runs"][0]["accuracy"] == pytest.approx(results["test"]["accuracy"])
    assert summary["runs"][0]["uar"] == pytest.approx(results["test"]["uar"])
    weights = load_file(output_dir / "model.safetensors")
    assert all(torch.isfinite(tensor).all() for tensor in weights.values())
