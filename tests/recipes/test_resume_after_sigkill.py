"""A training process killed with SIGKILL after a checkpoint resumes to the weights of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import torch
from safetensors.torch import load_file

from tests.recipes.conftest import CONFIGS, REPO, recipe_env, run_recipe, small_run_overrides

CONFIG = CONFIGS / "avt_ca_synthetic.yaml"


def train_command(output_dir, corpus, cache_dir, *extra):
    # 3 epochs of 3 steps; a checkpoint every 2 steps (steps 2, 4, 6, 8) and at every epoch end (3, 6, 9).
    overrides = small_run_overrides(corpus, output_dir, cache_dir, **{"training.num_epochs": 3})
    return [sys.executable, str(REPO / "recipes" / "train.py"), "--config", str(CONFIG), *overrides, *extra]


# Three training processes: about 35 s on 2 cores (2 minutes when they are busy with other work).
def test_sigkill_then_resume_matches_uninterrupted(small_corpus, tmp_path):
    # modality dropout and dropout draw from the RNG: a resume that lost the RNG state would diverge.
    dropout = ["model.config.modality_dropout_prob=0.3", "model.config.hidden_dropout=0.2"]
    cache = tmp_path / "cache"
    reference = tmp_path / "uninterrupted"
    run_recipe(train_command(reference, small_corpus, cache, *dropout))

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        train_command(killed, small_corpus, cache, *dropout),
        env=recipe_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill reaches every process of the run
    )
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            # The mid-epoch checkpoint of epoch 2 (after 4 of 9 steps).
            if "checkpoint saved:" in line and line.rstrip().endswith("checkpoint-00000004"):
                os.killpg(process.pid, signal.SIGKILL)
                break
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL, "".join(seen[-30:])
    assert not (killed / "model.safetensors").exists(), "the run finished before it was killed"
    assert (killed / "checkpoints" / "checkpoint-00000004").is_dir()

    result = run_recipe(train_command(killed, small_corpus, cache, *dropout, "--resume"))
    assert "resumed from" in result.stdout + result.stderr and "checkpoint-00000004" in result.stdout + result.stderr

    for relative in ("checkpoints/checkpoint-00000009/model.safetensors", "model.safetensors"):
        expected, resumed = load_file(reference / relative), load_file(killed / relative)
        assert expected.keys() == resumed.keys()
        different = [key for key in expected if not torch.equal(expected[key], resumed[key])]
        assert not different, f"{relative}: {different[:5]}"
    expected, resumed = (json.loads((run / "results.json").read_text()) for run in (reference, killed))
    assert resumed["test"] == expected["test"] and resumed["history"] == expected["history"]
