"""Concordance correlation coefficient, CCC loss and the per-video evaluation protocol, against numpy."""

import numpy as np
import pytest
import torch

from av_emotion.modeling.losses import (
    CCC_EPSILON,
    CCCLoss,
    concordance_correlation_coefficient,
    per_video_ccc,
    smooth_sequence,
)


def numpy_ccc(x, y):
    """Lin 1989, population moments, float64."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    sxy = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_matches_numpy_on_random_data():
    rng = np.random.default_rng(0)
    for n in (2, 7, 500):
        x = rng.normal(0.2, 0.5, n)
        y = 0.6 * x + rng.normal(-0.1, 0.4, n)
        got = concordance_correlation_coefficient(torch.tensor(x), torch.tensor(y))
        assert got.ndim == 0
        assert got.item() == pytest.approx(numpy_ccc(x, y), abs=1e-6)


def test_dim_gives_one_value_per_column():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    x[:, 1] += y[:, 1]
    got = concordance_correlation_coefficient(torch.tensor(x), torch.tensor(y), dim=0)
    assert got.shape == (2,)
    np.testing.assert_allclose(got.numpy(), [numpy_ccc(x[:, 0], y[:, 0]), numpy_ccc(x[:, 1], y[:, 1])], atol=1e-6)
    # Reducing two dims of (B, L, 2) equals flattening them.
    z, w = torch.randn(4, 5, 2), torch.randn(4, 5, 2)
    torch.testing.assert_close(
        concordance_correlation_coefficient(z, w, dim=(0, 1)),
        concordance_correlation_coefficient(z.reshape(-1, 2), w.reshape(-1, 2), dim=0),
    )


def test_perfect_agreement_and_anti_agreement():
    x = torch.linspace(-1, 1, 101)
    assert concordance_correlation_coefficient(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert concordance_correlation_coefficient(x, -x).item() == pytest.approx(-1.0, abs=1e-6)
    # Perfect correlation with a bias or a scale is not perfect concordance.
    assert concordance_correlation_coefficient(x + 0.5, x).item() == pytest.approx(numpy_ccc(x + 0.5, x), abs=1e-6)
    assert concordance_correlation_coefficient(x + 0.5, x).item() < 0.9


def test_constant_predictions_give_zero_without_nan():
    target = torch.linspace(-1, 1, 20)
    pred = torch.full((20,), 0.3, requires_grad=True)
    ccc = concordance_correlation_coefficient(pred, target)
    assert ccc.item() == pytest.approx(0.0, abs=1e-7)
    ccc.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0  # still a useful gradient
    # Both constant (and equal): 0 / eps = 0.
    assert concordance_correlation_coefficient(torch.zeros(5), torch.zeros(5)).item() == 0.0
    # A single sample.
    assert concordance_correlation_coefficient(torch.tensor([0.4]), torch.tensor([0.1])).item() == 0.0
    assert CCC_EPSILON == 1e-8


def test_mask_leaves_entries_out_even_when_nan():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=30), rng.normal(size=30)
    keep = rng.random(30) > 0.3
    y_with_nan = y.copy()
    y_with_nan[~keep] = np.nan
    got = concordance_correlation_coefficient(torch.tensor(x), torch.tensor(y_with_nan), mask=torch.tensor(keep))
    assert got.item() == pytest.approx(numpy_ccc(x[keep], y[keep]), abs=1e-6)
    empty = concordance_correlation_coefficient(
        torch.tensor(x), torch.tensor(y), mask=torch.zeros(30, dtype=torch.bool)
    )
    assert empty.item() == 0.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        concordance_correlation_coefficient(torch.zeros(3), torch.zeros(4))


def test_ccc_loss_sums_one_minus_ccc_over_targets():
    rng = np.random.default_rng(3)
    pred, target = rng.normal(size=(4, 6, 2)), rng.normal(size=(4, 6, 2))
    target[0, 2, 1] = np.nan  # missing arousal annotation
    loss = CCCLoss()(torch.tensor(pred), torch.tensor(target))
    p, t = pred.reshape(-1, 2), target.reshape(-1, 2)
    keep = ~np.isnan(t[:, 1])
    expected = (1 - numpy_ccc(p[:, 0], t[:, 0])) + (1 - numpy_ccc(p[keep, 1], t[keep, 1]))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert CCCLoss(reduction="mean")(torch.tensor(pred), torch.tensor(target)).item() == pytest.approx(
        expected / 2, abs=1e-6
    )
    same = torch.tensor(pred)
    assert CCCLoss()(same, same).item() == pytest.approx(0.0, abs=1e-6)
    # A (B, L) step mask applies to both targets.
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1] = False
    masked = CCCLoss()(torch.tensor(pred), torch.tensor(target), mask=mask)
    keep_rows = mask.reshape(-1).numpy()
    keep_v, keep_a = keep_rows, keep_rows & keep
    expected = (1 - numpy_ccc(p[keep_v, 0], t[keep_v, 0])) + (1 - numpy_ccc(p[keep_a, 1], t[keep_a, 1]))
    assert masked.item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        CCCLoss(reduction="none")


def numpy_median_filter(values, window):
    half = window // 2
    padded = np.concatenate([np.repeat(values[:1], half, axis=0), values, np.repeat(values[-1:], half, axis=0)])
    return np.stack([np.median(padded[i : i + window], axis=0) for i in range(len(values))])


def test_smoothing():
    rng = np.random.default_rng(4)
    values = rng.normal(size=(40, 2))
    np.testing.assert_allclose(
        smooth_sequence(torch.tensor(values), 5).numpy(), numpy_median_filter(values, 5), atol=1e-6
    )
    mean = smooth_sequence(torch.tensor(values), 3, method="mean").numpy()
    np.testing.assert_allclose(mean[5], values[4:7].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(mean[0], (2 * values[0] + values[1]) / 3, atol=1e-6)
    spike = torch.zeros(9)
    spike[4] = 1.0
    assert smooth_sequence(spike, 3).abs().max() == 0.0
    assert torch.equal(smooth_sequence(spike, 1), spike)
    with pytest.raises(ValueError, match="odd"):
        smooth_sequence(spike, 4)


def test_per_video_ccc_is_a_global_ccc_over_smoothed_frames():
    rng = np.random.default_rng(5)
    predictions, targets = {}, {}
    for name, n in (("video_a", 30), ("video_b", 45), ("video_c_left", 12)):
        t = rng.uniform(-1, 1, size=(n, 2))
        predictions[name] = (0.7 * t + rng.normal(0, 0.3, size=(n, 2))).astype(np.float32)
        targets[name] = t.astype(np.float32)
    targets["video_a"][3] = -5.0  # unannotated frame
    result = per_video_ccc(predictions, targets, smoothing_window=5)
    smoothed = {k: numpy_median_filter(v, 5) for k, v in predictions.items()}
    pred = np.concatenate([smoothed[k] for k in sorted(smoothed)])
    target = np.concatenate([targets[k] for k in sorted(targets)])
    keep = target[:, 0] != -5.0
    assert result["num_frames"] == keep.sum() == 86
    assert result["ccc_valence"] == pytest.approx(numpy_ccc(pred[keep, 0], target[keep, 0]), abs=1e-5)
    assert result["ccc_arousal"] == pytest.approx(numpy_ccc(pred[keep, 1], target[keep, 1]), abs=1e-5)
    assert result["ccc_mean"] == pytest.approx((result["ccc_valence"] + result["ccc_arousal"]) / 2)
    # It is not the mean of per-video CCCs.
    unsmoothed = per_video_ccc(predictions, targets)
    assert unsmoothed["ccc_valence"] != pytest.approx(result["ccc_valence"], abs=1e-4)


def test_per_video_ccc_errors():
    with pytest.raises(ValueError, match=r"only one of them: \['b'\]"):
        per_video_ccc({"a": [[0.0, 0.0]]}, {"a": [[0.0, 0.0]], "b": [[0.0, 0.0]]})
    with pytest.raises(ValueError, match="video 'a'"):
        per_video_ccc({"a": np.zeros((3, 2))}, {"a": np.zeros((4, 2))})
