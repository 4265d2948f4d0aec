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


__all__ = ["METRICS_DIR", "available_metrics", "load_metric", "metric_path"]
