"""Emotion classification metrics: accuracy (WAR), UAR, macro-F1, per-class recall, confusion matrix.

An `evaluate.Metric` module shipped inside av_emotion and loaded by path
(`av_emotion.metrics.load_metric("emotion_classification")`), so it works offline.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """
Metrics reported by audio-visual emotion recognition papers on RAVDESS and CREMA-D:

- accuracy: share of correct predictions. Emotion papers call it weighted average recall (WAR): the mean
  of per-class recalls weighted by class support, which equals plain accuracy.
- uar: unweighted average recall, the mean of per-class recalls over the classes present in the
  references (a class absent from the references has no recall and is left out).
- macro_f1: mean F1 over the classes present in the references or the predictions (scikit-learn's
  `f1_score(average="macro")` convention); F1 = 2 TP / (2 TP + FP + FN).
- per_class_recall: recall of each class 0..num_labels-1 (None where the class has no reference).
- confusion_matrix: counts, rows = reference class, columns = predicted class, num_labels x num_labels.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted class indices.
    references (`list` of `int`): Reference class indices.
    num_labels (`int`, *optional*): Number of classes; defaults to 1 + the largest index seen. Give it so
        the confusion matrix has one row per class even when a class is absent.
Returns:
    dict with `accuracy`, `uar`, `macro_f1` (floats in [0, 1]), `per_class_recall` (list) and
    `confusion_matrix` (list of lists of int).
Example:
    >>> metric = evaluate.load("av_emotion/metrics/emotion_classification")
    >>> metric.compute(predictions=[0, 1, 1, 2], references=[0, 1, 0, 2], num_labels=3)["uar"]
    0.8333333333333334
"""

_CITATION = """
@article{livingstone2018ravdess,
  title={The Ryerson Audio-Visual Database of Emotional Speech and Song (RAVDESS)},
  author={Livingstone, Steven R and Russo, Frank A},
  journal={PLoS ONE}, volume={13}, number={5}, pages={e0196391}, year={2018}
}
"""


class EmotionClassification(evaluate.Metric):
    """Accuracy (WAR), UAR, macro-F1 and confusion matrix for categorical emotion recognition."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
            reference_urls=["https://en.wikipedia.org/wiki/Confusion_matrix"],
        )

    def _compute(self, predictions, references, num_labels=None):
        predictions = np.asarray(predictions, dtype=np.int64)
        references = np.asarray(references, dtype=np.int64)
        if predictions.size == 0:
            raise ValueError("emotion_classification: no predictions to score")
        if predictions.min() < 0 or references.min() < 0:
            raise ValueError(
                "emotion_classification: class indices must be >= 0 (drop ignored labels such as -100 first)"
            )
        seen = int(max(predictions.max(), references.max())) + 1
        if num_labels is None:
            num_labels = seen
        elif seen > num_labels:
            raise ValueError(
                f"emotion_classification: class index {seen - 1} is out of range for num_labels={num_labels}"
            )
        matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
        np.add.at(matrix, (references, predictions), 1)
        true_positive = np.diag(matrix).astype(np.float64)
        support = matrix.sum(axis=1).astype(np.float64)
        predicted = matrix.sum(axis=0).astype(np.float64)
        present = support > 0
        recall = np.divide(true_positive, support, out=np.zeros_like(true_positive), where=present)
        denominator = support + predicted  # = 2 TP + FP + FN
        f1_classes = denominator > 0
        f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=f1_classes)
        return {
            "accuracy": float(true_positive.sum() / matrix.sum()),
            "uar": float(recall[present].mean()),
            "macro_f1": float(f1[f1_classes].mean()),
            "per_class_recall": [float(r) if p else None for r, p in zip(recall, present)],
            "confusion_matrix": matrix.tolist(),
        }
