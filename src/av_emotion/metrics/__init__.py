"""Evaluation metrics shipped inside the package as `evaluate.Metric` modules, loaded by path.

`evaluate.load("accuracy")` fetches its script from the Hub and fails offline; these modules live in
`av_emotion/metrics/<name>/<name>.py` and load from there, so evaluation works without a network:

    >>> from av_emotion.metrics import load_metric
    >>> metric = load_metric("emotion_classification")
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0], num_labels=2)["uar"]
    0.75

- `emotion_classification`: accuracy (weighted average recall, WAR), unweighted average recall (UAR),
  macro-F1, per-class recall and the confusion matrix.
- `ccc`: Lin's concordance correlation coefficient, per output and averaged (valence/arousal).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

METRICS_DIR = Path(__file__).resolve().parent


def available_metrics() -> list[str]:
    """Names of the metric modules shipped with av_emotion."""
    return sorted(path.parent.name for path in METRICS_DIR.glob("*/*.py") if path.stem == path.parent.name)


def metric_path(name: str) -> Path:
    """Path of the packaged metric script `name` (raises `ValueError` naming the available ones)."""
    path = METRICS_DIR / name / f"{name}.py"
    if not path.is_file():
        raise ValueError(f"no packaged metric {name!r}; available: {available_metrics()}")
    return path


def load_metric(name: str, config_name: str | None = None, *, keep_in_memory: bool = True, **kwargs: Any):
    """Load the packaged metric `name` through `evaluate.load` (offline; no Hub access).

    Args:
        name: One of `available_metrics()`.
        config_name: Metric configuration (`"multioutput"` for `ccc` on (N, D) inputs).
        keep_in_memory: Keep predictions in memory rather than in evaluate's cache files (our default:
            the recipes gather predictions across processes with Accelerate before computing).
        **kwargs: Passed to `evaluate.load` (e.g. `experiment_id`, `num_process`, `process_id`).

    Returns:
        An `evaluate.EvaluationModule`; call `.compute(predictions=..., references=...)`.
    """
    import evaluate  # imported on use: it pulls in much of `datasets`

    return evaluate.load(str(metric_path(name)), config_name, keep_in_memory=keep_in_memory, **kwargs)


def compute_metrics_for_trainer(task: str = "classification", num_labels: int | None = None):
    """Return a `compute_metrics` callable for `transformers.Trainer`, backed by the packaged metrics.

    Args:
        task: `"classification"` (argmax of the logits; returns `accuracy`, `uar`, `macro_f1`) or `"regression"`
            (returns `ccc`, the mean over outputs, and `ccc_<i>` per output).
        num_labels: Number of classes (classification; default: the width of the logits).

    Returns:
        A function of an `EvalPrediction` returning a dict of floats, which `Trainer.evaluate` reports with its
        `eval_` prefix (`eval_uar`, ...). `predictions` may be a tuple (a model returning more than its logits):
        the first element is the logits, as in every av_emotion model output.
    """
    import numpy as np

    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', not {task!r}")
    metric = load_metric(
        "emotion_classification" if task == "classification" else "ccc",
        None if task == "classification" else "multioutput",
    )

    def compute_metrics(prediction) -> dict[str, float]:
        logits = prediction.predictions
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        logits, references = np.asarray(logits), np.asarray(prediction.label_ids)
        if task == "classification":
            width = num_labels or logits.shape[-1]
            scores = metric.compute(predictions=logits.argmax(-1), references=references, num_labels=width)
            return {name: scores[name] for name in ("accuracy", "uar", "macro_f1")}
        scores = metric.compute(
            predictions=logits.reshape(len(logits), -1), references=references.reshape(len(references), -1)
        )
        return {"ccc": scores["ccc"], **{f"ccc_{i}": value for i, value in enumerate(scores["ccc_per_output"])}}

    return compute_metrics


__all__ = ["METRICS_DIR", "available_metrics", "compute_metrics_for_trainer", "load_metric", "metric_path"]
