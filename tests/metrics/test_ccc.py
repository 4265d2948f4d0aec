import numpy as np
import pytest

from av_emotion.metrics import load_metric


def reference_ccc(x, y):
    """Independent computation through Pearson's r: CCC = 2 r sx sy / (sx^2 + sy^2 + (mx - my)^2)."""
    r = np.corrcoef(x, y)[0, 1]
    sx, sy = np.std(x), np.std(y)
    return 2 * r * sx * sy / (sx**2 + sy**2 + (np.mean(x) - np.mean(y)) ** 2)


@pytest.mark.parametrize("seed", range(4))
def test_single_output_against_pearson_form(seed):
    rng = np.random.default_rng(seed)
    y = rng.uniform(-1, 1, 300)
    x = 0.7 * y + 0.2 + 0.3 * rng.normal(size=300)  # correlated, biased, rescaled
    result = load_metric("ccc").compute(predictions=x.tolist(), references=y.tolist())
    assert result["ccc"] == pytest.approx(reference_ccc(x, y), rel=1e-9)


def test_multioutput_and_names():
    rng = np.random.default_rng(0)
    y = rng.uniform(-1, 1, (100, 2))
    x = y * np.array([0.9, -0.5]) + rng.normal(scale=0.1, size=(100, 2))
    metric = load_metric("ccc", "multioutput")
    result = metric.compute(predictions=x.tolist(), references=y.tolist(), names=["valence", "arousal"])
    expected = [reference_ccc(x[:, 0], y[:, 0]), reference_ccc(x[:, 1], y[:, 1])]
    assert result["ccc_per_output"] == pytest.approx(expected)
    assert result["ccc_valence"] == pytest.approx(expected[0]) and result["ccc_arousal"] < 0
    assert result["ccc"] == pytest.approx(np.mean(expected))


def test_limits_and_errors():
    metric = load_metric("ccc")
    values = [0.1, -0.4, 0.8]
    assert metric.compute(predictions=values, references=values)["ccc"] == pytest.approx(1.0)
    negated = [-v for v in values]
    assert metric.compute(predictions=negated, references=values)["ccc"] == pytest.approx(
        reference_ccc(np.array(negated), np.array(values))
    )
    assert metric.compute(predictions=[0.5, 0.5], references=[0.5, 0.5])["ccc"] == 1.0
    with pytest.raises(ValueError, match="at least 2"):
        metric.compute(predictions=[0.1], references=[0.2])
    with pytest.raises(ValueError, match="unknown configuration"):
        load_metric("ccc", "nope")
