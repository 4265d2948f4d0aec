"""Saved tiny models laid out as a training run leaves them (weights, config, results.json, recipe.yaml, picture)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from av_emotion.modeling import ARCHITECTURES
from tests.modeling.tiny_configs import TINY_CONFIGS

MODEL_TYPES = sorted(ARCHITECTURES)

# A tiny but valid PNG (1x1 pixel), standing in for the confusion matrix the recipes draw.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def build_tiny_model(model_type: str, head: str = "classification"):
    """A tiny model of a registered architecture, seeded, in eval mode."""
    architecture = ARCHITECTURES[model_type]
    if model_type not in TINY_CONFIGS:
        pytest.fail(f"registered architecture {model_type!r} has no entry in tests/modeling/tiny_configs.py")
    config = architecture.config_class(**TINY_CONFIGS[model_type])
    head_class = architecture.regression_class if head == "regression" else architecture.classification_class
    torch.manual_seed(0)
    return head_class(config).eval()


def run_results(model, *, corpus: str = "ravdess", global_step: int = 120) -> dict:
    """A results record shaped exactly as `av_emotion.training.loop._finish` writes `results.json`."""
    labels = [model.config.id2label[index] for index in range(len(model.config.id2label))]
    regression = getattr(model.config, "problem_type", None) == "regression"
    if regression:
        test = {"loss": 0.8123, "ccc_valence": 0.4123, "ccc_arousal": 0.3311, "ccc": 0.3717}
    else:
        k = len(labels)
        matrix = [[(3 if i == j else 1) for j in range(k)] for i in range(k)]
        test = {
            "loss": 1.6021,
            "accuracy": 0.4583333333333333,
            "uar": 0.4409722222222222,
            "macro_f1": 0.4187,
            "per_class_recall": [round(0.3 + 0.05 * i, 4) for i in range(k - 1)] + [None],
            "confusion_matrix": matrix,
        }
    return {
        "model_type": model.config.model_type,
        "corpus": corpus,
        "fold_protocol": "ravdess_6fold" if corpus == "ravdess" else None,
        "fold": 0,
        "speakers": {"train": list(range(5, 21)), "validation": [21, 22, 23, 24], "test": [1, 2, 3, 4]},
        "split_sizes": {"train": 960, "validation": 240, "test": 240},
        "label_names": labels,
        "seed": 42,
        "global_step": global_step,
        "epochs": 3,
        "stopped_early": False,
        "metric_for_best": "ccc" if regression else "uar",
        "best_validation": 0.5123,
        "best_epoch": 2,
        "history": [{"epoch": 1, "step": 40, "uar": 0.3}],
        "test": test,
        "corpus_report": {"corpus": corpus, "root": "/home/someone/data", "found": 1440, "kept": 1440},
        "skipped_media": [],
    }


def recipe(model_type: str, corpus: str = "ravdess", head: str = "classification") -> dict:
    """A recipe config dict as `RecipeConfig.to_dict()` gives it (the sections the card reads)."""
    return {
        "model": {"model_type": model_type, "head": head, "config": dict(TINY_CONFIGS[model_type]), "pretrained": None},
        "processor": {"preset": "cpu_small", "overrides": {}, "pretrained": None},
        "data": {
            "corpus": corpus,
            "root": "/home/someone/data",
            "fold_protocol": "ravdess_6fold",
            "fold": 0,
            "num_folds": 5,
            "max_clips_per_split": None,
        },
        "optimizer": {"name": "adamw", "lr": 0.001, "weight_decay": 0.01},
        "scheduler": {"name": "cosine", "warmup_steps": None, "warmup_ratio": 0.1, "kwargs": {}},
        "augmentation": {"video_flip_prob": 0.5, "freq_mask_param": 0, "time_mask_param": 0},
        "training": {
            "seed": 42,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "mixed_precision": "no",
            "push_to_hub": None,
        },
    }


def save_run(
    directory: Path,
    model_type: str,
    *,
    head: str = "classification",
    corpus: str = "ravdess",
    with_results: bool = True,
    with_picture: bool = True,
    training_leftovers: bool = False,
):
    """Save a tiny model into `directory` as a finished training run; returns (model, results or None)."""
    model = build_tiny_model(model_type, head)
    model.save_pretrained(directory)
    results = None
    if with_results:
        results = run_results(model, corpus=corpus)
        (directory / "results.json").write_text(json.dumps(results, indent=2))
        (directory / "recipe.yaml").write_text(yaml.safe_dump(recipe(model_type, corpus, head), sort_keys=False))
    if with_picture:
        (directory / "confusion_matrix.png").write_bytes(PNG_1X1)
    if training_leftovers:
        # What a run keeps besides its final model: none of it may be uploaded.
        for folder in ("checkpoints/checkpoint-40", "best_model", "logs"):
            (directory / folder).mkdir(parents=True)
        (directory / "checkpoints/checkpoint-40/optimizer.bin").write_bytes(b"\x80\x04pickle")
        (directory / "checkpoints/checkpoint-40/model.safetensors").write_bytes(b"stale")
        (directory / "best_model/model.safetensors").write_bytes(b"stale")
        (directory / "logs/events.out.tfevents").write_bytes(b"log")
    return model, results


def save_processor(directory: Path) -> None:
    """Save a real processor matching the tiny AVT-CA (4 frames of 16x16, 4 log-mel bands) into `directory`."""
    from av_emotion.processing import AVEmotionProcessor

    processor = AVEmotionProcessor.from_preset("cpu_small", num_frames=4, size={"height": 16, "width": 16}, n_mels=4)
    processor.save_pretrained(directory)


def python_blocks(card_text: str, section: str = "## How to use") -> list[str]:
    """The ```python blocks of one section of a card."""
    start = card_text.index(section)
    end = card_text.find("\n## ", start + len(section))
    body = card_text[start : end if end != -1 else None]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


@pytest.fixture(params=MODEL_TYPES)
def model_type(request) -> str:
    """Every registered architecture."""
    return request.param
