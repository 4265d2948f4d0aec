"""Lin's concordance correlation coefficient (CCC), the metric of dimensional emotion recognition.

An `evaluate.Metric` module shipped inside av_emotion and loaded by path
(`av_emotion.metrics.load_metric("ccc")`), so it works offline.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """
Concordance correlation coefficient (Lin 1989), as used for valence and arousal in the AVEC and ABAW
challenges and by Praveen et al. 2022:

    CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)

with population (1/N) moments over every prediction of the evaluation set ("global" CCC). It is 1 for
perfect agreement, 0 for none, -1 for perfect inverse agreement. When both series are constant and equal
the formula is 0/0; we return 1.0 (perfect agreement) in that case.

Configurations: "default" takes one value per example; "multioutput" takes a vector per example (for
instance [valence, arousal]) and returns the CCC of each output and their mean.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`, or of `list` of `float` for "multioutput"): Predicted values.
    references: Reference values, same shape.
    names (`list` of `str`, *optional*, "multioutput" only): One name per output (e.g. ["valence",
        "arousal"]); adds `ccc_<name>` keys.
Returns:
    "default": {"ccc": float}. "multioutput": {"ccc": mean over outputs, "ccc_per_output": [float, ...]}
    plus `ccc_<name>` for each name.
Example:
    >>> metric = evaluate.load("av_emotion/metrics/ccc")
    >>> round(metric.compute(predictions=[0.1, 0.5, 0.9], references=[0.0, 0.5, 1.0])["ccc"], 4)
    0.9756
"""

_CITATION = """
@article{lin1989concordance,
  title={A concordance correlation coefficient to evaluate reproducibility},
  author={Lin, Lawrence I-Kuei},
  journal={Biometrics}, volume={45}, number={1}, pages={255--268}, year={1989}
}
"""


def _ccc(x, y):
    x_mean, y_mean = x.mean(), y.mean()
    covariance = ((x - x_mean) * (y - y_mean)).mean()
    denominator = x.var() + y.var() + (x_mean - y_mean) ** 2
    if denominator == 0:
        return 1.0
    return float(2 * covariance / denominator)


class ConcordanceCorrelationCoefficient(evaluate.Metric):
    """Lin's CCC over a whole evaluation set, for one output or several."""

    def _info(self):
        if self.config_name == "multioutput":
            value = datasets.Sequence(datasets.Value("float64"))
        elif self.config_name == "default":
            value = datasets.Value("float64")
        else:
            raise ValueError(f"ccc: unknown configuration {self.config_name!r}; use 'default' or 'multioutput'")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": value, "references": value}),
            reference_urls=["https://en.wikipedia.org/wiki/Concordance_correlation_coefficient"],
        )

    def _compute(self, predictions, references, names=None):
        predictions = np.asarray(predictions, dtype=np.float64)
        references = np.asarray(references, dtype=np.float64)
        if predictions.shape != references.shape:
            raise ValueError(f"ccc: predictions {predictions.shape} and references {references.shape} differ in shape")
        if predictions.shape[0] < 2:
            raise ValueError("ccc: needs at least 2 examples")
        if self.config_name == "default":
            return {"ccc": _ccc(predictions, references)}
        per_output = [_ccc(predictions[:, k], references[:, k]) for k in range(predictions.shape[1])]
        result = {"ccc": float(np.mean(per_output)), "ccc_per_output": per_output}
        if names is not None:
            if len(names) != len(per_output):
                raise ValueError(f"ccc: {len(names)} names for {len(per_output)} outputs")
            result.update({f"ccc_{name}": value for name, value in zip(names, per_output)})
        return result
