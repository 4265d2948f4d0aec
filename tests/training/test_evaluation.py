import numpy as np
import pytest

from av_emotion.training.config import config_from_dict
from av_emotion.training.evaluation import fold_count, format_summary, summarize_runs


def test_summary_mean_and_sample_std():
    runs = [
        {"model": "a", "fold": 0, "accuracy": 0.5, "uar": 0.4, "confusion_matrix": [[1]]},
        {"model": "a", "fold": 1, "accuracy": 0.7, "uar": 0.6, "confusion_matrix": [[1]]},
        {"model": "b", "fold": 0, "accuracy": 0.9, "uar": 0.5, "confusion_matrix": [[1]]},
    ]
    summary = summarize_runs(runs)
    assert set(summary) == {"accuracy", "uar"}  # scalar metrics only; the fold number is not a metric
    assert summary["accuracy"]["mean"] == pytest.approx(0.7)
    assert summary["accuracy"]["std"] == pytest.approx(np.std([0.5, 0.7, 0.9], ddof=1))
    assert summary["uar"]["n"] == 3 and summary["uar"]["values"] == [0.4, 0.6, 0.5]
    text = format_summary(summary)
    assert "accuracy" in text and "70.000 ± 20.000" in text
    assert summarize_runs(runs[:1])["accuracy"]["std"] == 0.0


def test_fold_count():
    base = {"model": {"model_type": "x"}, "data": {"corpus": "ravdess"}}
    assert fold_count(config_from_dict({**base, "data": {"corpus": "ravdess", "fold_protocol": "ravdess_6fold"}})) == 6
    assert fold_count(config_from_dict({**base, "data": {"corpus": "cremad", "fold_protocol": "cremad_5fold"}})) == 5
    assert fold_count(config_from_dict({**base, "data": {"corpus": "synthetic", "num_folds": 3}})) == 3
