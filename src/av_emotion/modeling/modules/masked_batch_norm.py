"""Batch normalisation over padded sequences: statistics from the valid time steps only.

Padded clips (a shorter video, an audio track that ends early, a modality dropped for a sample) put zeros
at steps that carry no signal. A plain `nn.BatchNorm1d` counts those zeros in its batch mean and variance,
so the normalisation of a real clip depends on how much padding its batch mates have, and the running
statistics drift towards zero. `MaskedBatchNorm1d` computes the batch statistics over the valid steps alone
and, with every step valid, is exactly `nn.BatchNorm1d` (same outputs, same running-statistic updates, same
state-dict keys, so weights move freely between the two).
"""

from __future__ import annotations

import torch
from torch import nn


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """`nn.BatchNorm1d` over `(batch, channels, length)` whose batch statistics ignore padded steps.

    In training, the mean and (biased) variance used to normalise come from the positions where `mask` is
    true; the running mean and unbiased running variance are updated from the same positions, with the
    momentum rule of `nn.BatchNorm1d`. In evaluation the running statistics are used and the mask changes
    nothing (normalisation is then per position). Outputs at padded positions are computed but meaningless:
    callers zero them. A batch with fewer than two valid positions cannot give a variance: it is normalised
    with the running statistics and leaves them untouched (without running statistics, it is normalised with
    whatever the valid positions give, a variance of zero for a single one).
    """

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalise `(B, C, L)` features; `mask` `(B, L)` bool marks the valid steps (None: all valid)."""
        use_batch_stats = self.training or not self.track_running_stats
        if mask is None or not use_batch_stats:
            return super().forward(hidden_states)
        if hidden_states.ndim != 3 or mask.shape != (hidden_states.shape[0], hidden_states.shape[2]):
            raise ValueError(
                f"MaskedBatchNorm1d expects features (batch, channels, length) and a mask (batch, length); got "
                f"{tuple(hidden_states.shape)} and {tuple(mask.shape)}"
            )
        # Statistics in float32 even under bf16/fp16 autocast: sums over many steps lose precision otherwise.
        features = hidden_states.float()
        weights = mask.unsqueeze(1).to(features.dtype)
        count = weights.sum()
        # Kept on the device (no `.item()`): a batch with < 2 valid steps falls back to the running statistics
        # through `torch.where` instead of a host sync in every layer.
        enough = count >= 2
        batch_mean = (features * weights).sum(dim=(0, 2)) / count.clamp(min=1)
        batch_var = ((features - batch_mean[None, :, None]).square() * weights).sum(dim=(0, 2)) / count.clamp(min=1)
        if self.track_running_stats:
            mean = torch.where(enough, batch_mean, self.running_mean.float())
            var = torch.where(enough, batch_var, self.running_var.float())
            if self.training:
                self._update_running_stats(batch_mean, batch_var, count, enough)
        else:
            mean, var = batch_mean, batch_var
        normalized = (features - mean[None, :, None]) * torch.rsqrt(var[None, :, None] + self.eps)
        if self.affine:
            normalized = normalized * self.weight[None, :, None] + self.bias[None, :, None]
        return normalized.to(hidden_states.dtype)

    @torch.no_grad()
    def _update_running_stats(
        self, mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor, enough: torch.Tensor
    ) -> None:
        self.num_batches_tracked.add_(enough.to(self.num_batches_tracked.dtype))
        # Same factor as nn.BatchNorm1d: `momentum`, or a cumulative average when momentum is None; zero when
        # the batch had too few valid steps, which leaves the statistics as they were.
        if self.momentum is not None:
            factor = enough.float() * self.momentum
        else:
            factor = enough.float() / self.num_batches_tracked.clamp(min=1).float()
        unbiased_var = var * count / (count - 1).clamp(min=1)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor.to(self.running_mean.dtype))
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), factor.to(self.running_var.dtype))
