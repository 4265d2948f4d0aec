"""Evaluate saved models on speaker-independent folds and summarise them as mean ± std.

The library side of `recipes/evaluate.py`: a saved model folder (weights + its own processor, as
`train` leaves it) is scored on one split of one fold of the corpus named in a recipe config; several
models (one per fold, and per seed) are summarised metric by metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from accelerate import Accelerator

from av_emotion.data.affwild2 import AFFWILD2_OFFICIAL_PROTOCOL
from av_emotion.data.collate import AVEmotionCollator
from av_emotion.data.corpus import CorpusBuild
from av_emotion.data.folds import FOLD_PROTOCOLS
from av_emotion.modeling import AutoModelForAudioVideoClassification, AutoModelForAudioVideoRegression
from av_emotion.training.config import RecipeConfig
from av_emotion.training.data import prepare_data
from av_emotion.training.loop import build_dataloader, evaluate_model


def fold_count(config: RecipeConfig) -> int:
    """Count the folds of the config's protocol (or `data.num_folds` without one)."""
    if config.data.fold_protocol == AFFWILD2_OFFICIAL_PROTOCOL:
        return 1  # the official train / validation split
    if config.data.fold_protocol:
        return len(FOLD_PROTOCOLS[config.data.fold_protocol])
    return config.data.num_folds


def load_saved(model_dir: str | Path, head: str):
    """Load a saved model and its processor from a folder (or Hub repo id)."""
    from av_emotion.processing import AVEmotionProcessor

    auto_class = AutoModelForAudioVideoClassification if head == "classification" else AutoModelForAudioVideoRegression
    return auto_class.from_pretrained(str(model_dir)), AVEmotionProcessor.from_pretrained(str(model_dir))


def evaluate_saved_model(
    model_dir: str | Path,
    config: RecipeConfig,
    *,
    split: str = "test",
    accelerator: Accelerator | None = None,
    log: Callable[[str], None] = print,
    corpus: CorpusBuild | None = None,
) -> dict[str, Any]:
    """Score the model saved in `model_dir` on `split` of fold `config.data.fold`.

    The clips go through the model's own saved processor (not the config's preset). Returns the metrics
    plus `model`, `fold` and `split`. Raises `ValueError` when the model's labels differ from the corpus'.
    `corpus` reuses a corpus built once (`build_corpus_of`) across folds and models.
    """
    accelerator = accelerator or Accelerator()
    model, processor = load_saved(model_dir, config.model.head)
    data = prepare_data(config, processor, main_process_first=accelerator.main_process_first, log=log, corpus=corpus)
    model_labels = [model.config.id2label[index] for index in range(len(model.config.id2label))]
    if config.model.head == "classification" and model_labels != data.label_names:
        raise ValueError(
            f"{model_dir} predicts {model_labels} but {config.data.corpus} has labels {data.label_names}; "
            "evaluate on the corpus it was trained for (see av_emotion.data.labels.label_index_map)"
        )
    if split not in data.splits:
        raise ValueError(f"fold {data.fold.index} has no {split!r} split; it has {list(data.splits)}")
    collator = AVEmotionCollator(
        processor=processor if config.data.preprocessing == "on_the_fly" else None,
        label_column=config.data.label_column,
        target_columns=config.data.target_columns if config.model.head == "regression" else None,
        on_media_error=config.data.on_media_error,
        drop_modality=config.data.drop_modality,
    )
    loader = build_dataloader(
        data.splits[split],
        config.training.per_device_eval_batch_size,
        shuffle=False,
        collator=collator,
        workers=config.training.dataloader_num_workers,
        seed=config.training.seed,
    )
    model = accelerator.prepare(model)  # the loader stays unprepared: evaluate_model shares it out
    result = evaluate_model(
        model, loader, accelerator, label_names=data.label_names, head=config.model.head, desc=split
    )
    return {"model": str(model_dir), "fold": data.fold.index, "split": split, **result.metrics}


def summarize_runs(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and standard deviation of every scalar metric over runs (folds x seeds).

    The standard deviation is the sample one (ddof=1), 0 for a single run. Returns
    `{metric: {"mean", "std", "n", "values"}}`.
    """
    keys = [key for key, value in runs[0].items() if isinstance(value, (int, float)) and key != "fold"]
    summary = {}
    for key in keys:
        values = np.array([float(run[key]) for run in runs], dtype=np.float64)
        summary[key] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "n": len(values),
            "values": values.tolist(),
        }
    return summary


def format_summary(summary: dict[str, dict[str, Any]], *, percent: bool = True) -> str:
    """Lines like `uar  81.23 ± 2.10  (n=6)`; losses and CCC are shown as raw values."""
    lines = []
    for key, entry in summary.items():
        scale = 100.0 if percent and key in ("accuracy", "uar", "macro_f1") else 1.0
        mean, std = entry["mean"] * scale, entry["std"] * scale
        if math.isnan(mean):
            continue
        lines.append(f"{key:<12} {mean:8.3f} ± {std:.3f}  (n={entry['n']})")
    return "\n".join(lines)
