"""`recipes/train.py` and `recipes/evaluate.py` on two CPU processes (gloo), launched as a user launches them.

The command is the one the README gives for several processes on a machine without a GPU:
`ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 recipes/train.py --config ...`.
"""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from av_emotion.commands import evaluate as evaluate_command
from tests import launching
from tests.recipes.conftest import CONFIGS, REPO, run_recipe, small_run_overrides


def two_process_launch(script: str, *args: str) -> list[str]:
    return ["env", "ACCELERATE_USE_CPU=true", *launching.two_process_launch(REPO / "recipes" / script, *args)]


# One two-process launch of AVT-CA with modality dropout (some branches get no gradient in a step): about a
# minute on the 2 shared cores.
@pytest.mark.slow
def test_avt_ca_recipe_on_two_processes_matches_a_one_process_evaluation(small_corpus, tmp_path):
    output_dir, config = tmp_path / "run", CONFIGS / "avt_ca_synthetic.yaml"
    overrides = small_run_overrides(
        small_corpus,
        output_dir,
        tmp_path / "cache",
        **{
            "training.per_device_train_batch_size": 2,
            "training.per_device_eval_batch_size": 3,  # 8 test clips: batches of 3, 3, 2 over 2 processes
            "model.config.modality_dropout_prob": 0.3,
        },
    )
    result = run_recipe(two_process_launch("train.py", "--config", str(config), *overrides))
    assert "saved model, processor and results" in result.stdout + result.stderr
    for name in ("model.safetensors", "processor_config.json", "results.json", "confusion_matrix.png", "README.md"):
        assert (output_dir / name).is_file(), name
    results = json.loads((output_dir / "results.json").read_text())
    assert results["split_sizes"] == {"train": 12, "validation": 4, "test": 8}
    # 12 training clips, 2 processes x 2 clips a step: 3 optimizer steps an epoch, 2 epochs.
    assert results["global_step"] == 6 and len(results["history"]) == 2
    assert sum(map(sum, results["test"]["confusion_matrix"])) == 8
    checkpoint = output_dir / "checkpoints" / "checkpoint-00000006"
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= {path.name for path in checkpoint.iterdir()}

    # The saved model evaluated on one process (recipes/evaluate.py's code, in this process) gives the test metrics
    # the two processes gathered.
    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    arguments_list = [
        "--config",
        str(config),
        "--model",
        str(output_dir),
        *small_run_overrides(small_corpus, tmp_path / "unused", tmp_path / "cache"),
        "training.per_device_eval_batch_size=3",
    ]
    arguments = parser.parse_args([*arguments_list, "--output", str(tmp_path / "evaluation.json")])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the training processes ran
    try:
        assert evaluate_command.run(arguments) == 0
    finally:
        torch.set_num_threads(threads)
    one_process = json.loads((tmp_path / "evaluation.json").read_text())["runs"][0]
    for key in ("accuracy", "uar", "macro_f1", "confusion_matrix"):
        assert one_process[key] == results["test"][key], key
    assert one_process["loss"] == pytest.approx(results["test"]["loss"], rel=1e-5)

    # recipes/evaluate.py on two processes: the same scores, printed and written once (by the main process).
    evaluation = run_recipe(two_process_launch("evaluate.py", *arguments_list, "--output", str(tmp_path / "two.json")))
    assert evaluation.stdout.count(" fold 0 test: ") == 1, evaluation.stdout
    two_processes = json.loads((tmp_path / "two.json").read_text())["runs"][0]
    for key in ("accuracy", "uar", "macro_f1", "confusion_matrix"):
        assert two_processes[key] == one_process[key], key
    assert two_processes["loss"] == pytest.approx(one_process["loss"], rel=1e-5)
