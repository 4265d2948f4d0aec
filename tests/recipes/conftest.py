"""Helpers for the recipe tests: a small RAVDESS-named corpus and launching the recipes as real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.fake_media import write_small_corpus

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "recipes" / "configs"
ACCELERATE = Path(sys.executable).with_name("accelerate")


def recipe_env() -> dict[str, str]:
    """Environment of a recipe process: this checkout's sources, one thread, offline, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def accelerate_command(script: str, *args: str) -> list[str]:
    """`accelerate launch` on one CPU process (explicit flags: no accelerate config file needed)."""
    launcher = [str(ACCELERATE)] if ACCELERATE.exists() else [sys.executable, "-m", "accelerate.commands.launch"]
    return [
        *launcher,
        *(["launch"] if ACCELERATE.exists() else []),
        "--cpu",
        "--num_processes",
        "1",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(REPO / "recipes" / script),
        *args,
    ]


def run_recipe(command: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a recipe command to completion; fail the test with its output when it fails."""
    result = subprocess.run(command, env=recipe_env(), cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """6 actors x 2 emotions x 2 repetitions of 1-s RAVDESS-named clips at 64x64 (read as the synthetic corpus)."""
    return write_small_corpus(tmp_path_factory.mktemp("small_corpus"))


def small_run_overrides(corpus: Path, output_dir: Path, cache_dir: Path, **extra: object) -> list[str]:
    """Overrides that turn a shipped synthetic recipe into a seconds-long run on `small_corpus`."""
    overrides = {
        "data.root": str(corpus),
        "data.generate": "null",
        # 6 actors in 3 sorted blocks (the shipped recipes cut their 16-actor corpus into 8 blocks of 2).
        "data.num_folds": 3,
        "data.validation_speakers": 1,
        "data.cache_dir": str(cache_dir),
        "training.output_dir": str(output_dir),
        "training.num_epochs": 2,
        "training.per_device_train_batch_size": 4,
        "training.checkpoint_every_steps": 2,
        "training.report_to": "none",
        **extra,
    }
    return [f"{key}={value}" for key, value in overrides.items()]


def copy_tree(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination)
    return destination
