"""Losses shared by the architectures.

- Emotional-metric loss (Mocanu et al. 2023): triplet-style loss whose class margins follow a learnable
  relation matrix between emotions.
- Concordance correlation coefficient loss (Praveen et al. 2022): 1 - CCC per dimension.
"""

from __future__ import annotations

import torch  # noqa: F401

# ---------------------------------------------------------------------------------------------------
# Emotional-metric loss (Mocanu et al. 2023)
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# Concordance correlation coefficient (Praveen et al. 2022)
# ---------------------------------------------------------------------------------------------------
# Lin's concordance correlation coefficient, CCC = 2 s_xy / (s_x^2 + s_y^2 + (mu_x - mu_y)^2), with population
# (1/N) moments as in Lin 1989 and the ABAW challenges. It is written without the correlation coefficient rho,
# whose sqrt(var) factors give NaN gradients for constant inputs (the authors' loss has that form); here a
# constant prediction gives a zero numerator and a denominator of at least `eps`, so CCC = 0 and finite
# gradients.

CCC_EPSILON = 1e-8
"""Added to the CCC denominator: CCC of a constant prediction against a constant target is 0, not NaN. It
shifts a non-degenerate CCC by about eps / (var_x + var_y), negligible for affect values in [-1, 1]."""


def concordance_correlation_coefficient(
    pred: torch.Tensor,
    target: torch.Tensor,
    dim: int | tuple[int, ...] | None = None,
    mask: torch.Tensor | None = None,
    eps: float = CCC_EPSILON,
) -> torch.Tensor:
    """Lin's concordance correlation coefficient between predictions and targets, in [-1, 1].

    Args:
        pred: predictions, any shape.
        target: targets, same shape as `pred`.
        dim: the dimension(s) the coefficient is computed over (the samples); the others are kept, so
            `pred` (N, 2) with `dim=0` gives one CCC per column (valence, arousal). `None`: all elements.
        mask: optional bool tensor broadcastable to `pred`; False entries are left out of every moment (their
            values, NaN included, are ignored). A reduction with no valid entry gives CCC 0.
        eps: added to the denominator (see `CCC_EPSILON`).

    Returns:
        The CCC with the `dim` dimensions reduced (a 0-d tensor for `dim=None`).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if dim is None:
        dim = tuple(range(pred.ndim))
    pred = pred.float()
    target = target.float()
    if mask is None:
        weight = torch.ones_like(pred)
    else:
        weight = torch.broadcast_to(mask.to(torch.bool), pred.shape).to(pred.dtype)
        # torch.where, not multiplication: a masked-out NaN must not turn the sums into NaN.
        pred = torch.where(weight > 0, pred, torch.zeros_like(pred))
        target = torch.where(weight > 0, target, torch.zeros_like(target))
    count = weight.sum(dim=dim, keepdim=True).clamp(min=1.0)
    mean_pred = (weight * pred).sum(dim=dim, keepdim=True) / count
    mean_target = (weight * target).sum(dim=dim, keepdim=True) / count
    centred_pred = weight * (pred - mean_pred)
    centred_target = weight * (target - mean_target)
    count = count.squeeze(dim)
    covariance = (centred_pred * centred_target).sum(dim=dim) / count
    var_pred = centred_pred.square().sum(dim=dim) / count
    var_target = centred_target.square().sum(dim=dim) / count
    mean_gap = (mean_pred - mean_target).squeeze(dim).square()
    return 2.0 * covariance / (var_pred + var_target + mean_gap + eps)


class CCCLoss(torch.nn.Module):
    """Sum (or mean) over targets of 1 - CCC, the training loss of Praveen et al. 2022: (1 - CCC_v) + (1 - CCC_a).

    `forward(pred, target, mask=None)`: `pred` and `target` of shape (..., K) with the K targets last (for
    example (B, 2) clip-level or (B, L, 2) per sub-clip); the CCC of each target is computed over all leading
    dimensions together (every sub-clip of every clip in the batch, as the paper's loss over the batch).
    `mask` (...,) or (..., K) bool marks the entries to use; NaN targets are always left out (a missing
    annotation). Returns a 0-d tensor in [0, 2K] (sum) or [0, 2] (mean). Note that with one valid entry the
    variances are 0 and the CCC is 0 (loss 1 per target): use batches, or per-step labels.
    """

    def __init__(self, reduction: str = "sum", eps: float = CCC_EPSILON):
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(
                f"reduction must be 'sum' (the paper: summed over valence and arousal) or 'mean', got {reduction!r}"
            )
        self.reduction = reduction
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(..., K), (..., K), optional bool (...,) or (..., K) -> 0-d loss."""
        if pred.shape != target.shape or pred.ndim < 1:
            raise ValueError(
                f"pred and target must both be (..., K), got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        valid = ~torch.isnan(target)
        if mask is not None:
            if mask.shape == pred.shape[:-1]:
                mask = mask.unsqueeze(-1)
            valid = valid & torch.broadcast_to(mask.to(torch.bool), pred.shape)
        num_targets = pred.shape[-1]
        ccc = concordance_correlation_coefficient(
            pred.reshape(-1, num_targets),
            target.reshape(-1, num_targets),
            dim=0,
            mask=valid.reshape(-1, num_targets),
            eps=self.eps,
        )
        loss = (1.0 - ccc).sum()
        return loss / num_targets if self.reduction == "mean" else loss


def smooth_sequence(values: torch.Tensor, window: int, method: str = "median") -> torch.Tensor:
    """Smooth a per-frame sequence along its first axis with a centred sliding window.

    Args:
        values: (N,) or (N, K) per-frame predictions of one video, in frame order.
        window: odd window length in frames; 1 returns the input. The ends are padded by repeating the
            first / last frame, so the output has N frames.
        method: `"median"` (robust to single-frame spikes) or `"mean"`.

    Returns:
        Tensor of the shape of `values`.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing window must be a positive odd number of frames, got {window}")
    if method not in ("median", "mean"):
        raise ValueError(f"smoothing method must be 'median' or 'mean', got {method!r}")
    if window == 1 or values.shape[0] == 0:
        return values
    squeeze = values.ndim == 1
    columns = values.reshape(values.shape[0], -1).T.unsqueeze(0)  # (1, K, N)
    half = window // 2
    padded = torch.nn.functional.pad(columns.float(), (half, half), mode="replicate")[0]  # (K, N + 2 half)
    windows = padded.unfold(dimension=1, size=window, step=1)  # (K, N, window)
    smoothed = windows.median(dim=-1).values if method == "median" else windows.mean(dim=-1)
    smoothed = smoothed.T.to(values.dtype)
    return smoothed.reshape(-1) if squeeze else smoothed


def per_video_ccc(
    predictions: dict[str, torch.Tensor | list],
    targets: dict[str, torch.Tensor | list],
    smoothing_window: int | None = None,
    smoothing: str = "median",
    invalid_value: float | None = -5.0,
    target_names: tuple[str, ...] | list[str] = ("valence", "arousal"),
    eps: float = CCC_EPSILON,
) -> dict[str, float]:
    """Score per-frame predictions with the per-video protocol of Praveen et al. 2022: smooth, then one global CCC.

    Each video's per-frame predictions are optionally smoothed along time (within the video only), then the
    frames of all videos are concatenated and one CCC per target is computed over all of them (a global CCC,
    not an average of per-video CCCs). Frames whose target is NaN or `invalid_value` (-5 in Aff-Wild2) are
    left out after smoothing, so smoothing still sees every predicted frame.

    Args:
        predictions: video id -> (N_i, K) per-frame predictions (tensor, numpy array or nested list).
        targets: video id -> (N_i, K) per-frame targets; the same ids and frame counts as `predictions`.
        smoothing_window: odd window in frames, or None / 1 for no smoothing.
        smoothing: `"median"` or `"mean"` (see `smooth_sequence`).
        invalid_value: target value marking an unannotated frame, or None.
        target_names: names of the K columns, used in the result keys.
        eps: CCC denominator epsilon.

    Returns:
        `{"ccc_<name>": float for each target, "ccc_mean": their mean, "num_frames": frames evaluated}`.
    """
    missing = sorted(set(predictions) ^ set(targets))
    if missing:
        raise ValueError(
            f"predictions and targets must cover the same videos; these ids are in only one of them: {missing[:10]}"
        )
    if not predictions:
        raise ValueError("per_video_ccc needs at least one video")
    all_pred, all_target = [], []
    for video_id in sorted(predictions):
        pred = torch.as_tensor(predictions[video_id], dtype=torch.float32)
        target = torch.as_tensor(targets[video_id], dtype=torch.float32)
        pred = pred.unsqueeze(-1) if pred.ndim == 1 else pred
        target = target.unsqueeze(-1) if target.ndim == 1 else target
        if pred.shape != target.shape or pred.shape[-1] != len(target_names):
            raise ValueError(
                f"video {video_id!r}: predictions {tuple(pred.shape)} and targets {tuple(target.shape)} must both be "
                f"(frames, {len(target_names)}) for targets {tuple(target_names)}"
            )
        if smoothing_window is not None and smoothing_window > 1:
            pred = smooth_sequence(pred, smoothing_window, smoothing)
        all_pred.append(pred)
        all_target.append(target)
    pred = torch.cat(all_pred)
    target = torch.cat(all_target)
    valid = ~torch.isnan(target)
    if invalid_value is not None:
        valid &= target != invalid_value
    ccc = concordance_correlation_coefficient(pred, target, dim=0, mask=valid, eps=eps)
    result = {f"ccc_{name}": float(value) for name, value in zip(target_names, ccc)}
    result["ccc_mean"] = float(ccc.mean())
    result["num_frames"] = int(valid.all(dim=-1).sum())
    return result
