import numpy as np
import pytest

from av_emotion.metrics import available_metrics, load_metric, metric_path


@pytest.fixture(scope="module")
def metric():
    return load_metric("emotion_classification")


def reference_scores(predictions, references, num_labels):
    """Independent computation: explicit loops over classes and examples."""
    matrix = [[0] * num_labels for _ in range(num_labels)]
    for p, r in zip(predictions, references):
        matrix[r][p] += 1
    recalls, f1s = [], []
    for c in range(num_labels):
        tp = sum(1 for p, r in zip(predictions, references) if p == c and r == c)
        fp = sum(1 for p, r in zip(predictions, references) if p == c and r != c)
        fn = sum(1 for p, r in zip(predictions, references) if p != c and r == c)
        if tp + fn:
            recalls.append(tp / (tp + fn))
        if tp + fp + fn:
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1s.append(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    accuracy = sum(p == r for p, r in zip(predictions, references)) / len(references)
    return accuracy, sum(recalls) / len(recalls), sum(f1s) / len(f1s), matrix


@pytest.mark.parametrize("seed", range(5))
def test_against_independent_computation(metric, seed):
    rng = np.random.default_rng(seed)
    num_labels = 8
    references = rng.integers(0, num_labels, 200)
    # Imbalanced, partly correct predictions, with one class never predicted.
    predictions = np.where(rng.random(200) < 0.6, references, rng.integers(0, num_labels - 1, 200))
    references[:50] = 0
    result = metric.compute(predictions=predictions.tolist(), references=references.tolist(), num_labels=num_labels)
    accuracy, uar, macro_f1, matrix = reference_scores(predictions.tolist(), references.tolist(), num_labels)
    assert result["accuracy"] == pytest.approx(accuracy)
    assert result["uar"] == pytest.approx(uar)
    assert result["macro_f1"] == pytest.approx(macro_f1)
    assert result["confusion_matrix"] == matrix
    assert uar != pytest.approx(accuracy)  # imbalance makes WAR and UAR differ


def test_absent_class_and_hand_values(metric):
    result = metric.compute(predictions=[0, 1, 1, 2], references=[0, 1, 0, 2], num_labels=4)
    assert result["accuracy"] == 0.75
    assert result["uar"] == pytest.approx((0.5 + 1 + 1) / 3)  # class 3 has no reference: left out
    assert result["per_class_recall"] == [0.5, 1.0, 1.0, None]
    assert result["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert len(result["confusion_matrix"]) == 4 and result["confusion_matrix"][3] == [0, 0, 0, 0]


def test_errors(metric):
    with pytest.raises(ValueError, match="out of range"):
        metric.compute(predictions=[0, 5], references=[0, 1], num_labels=3)
    with pytest.raises(ValueError, match="-100"):
        metric.compute(predictions=[0, 1], references=[0, -100])


def test_packaged_paths():
    assert set(available_metrics()) >= {"emotion_classification", "ccc"}
    assert metric_path("ccc").is_file()
    with pytest.raises(ValueError, match="available"):
        metric_path("accuracy")
