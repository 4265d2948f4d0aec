"""Masked pooling over a sequence (time steps, snippets, or flattened feature-map positions).

Every function here takes `hidden_states` of shape `(batch, length, features)` and an optional boolean
`mask` of shape `(batch, length)` that is True at the steps to keep. A row whose mask is all False (a
modality missing from that sample) pools to a vector of zeros, never NaN, and passes no gradient to the
masked steps.
"""

from __future__ import annotations

import torch
from torch import nn


def _check_mask(hidden_states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if hidden_states.ndim != 3:
        raise ValueError(f"expected hidden_states of shape (batch, length, features), got {tuple(hidden_states.shape)}")
    if mask is None:
        return torch.ones(hidden_states.shape[:2], dtype=torch.bool, device=hidden_states.device)
    if mask.shape != hidden_states.shape[:2]:
        raise ValueError(
            f"mask must have shape (batch, length) = {tuple(hidden_states.shape[:2])}, got {tuple(mask.shape)}"
        )
    return mask.to(device=hidden_states.device, dtype=torch.bool)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None, dim: int = -1) -> torch.Tensor:
    """Softmax of `scores` along `dim` over the entries where `mask` is True.

    `mask` must broadcast to `scores`. Masked entries get weight 0; a slice with no True entry gets all
    zeros instead of the NaN a plain `softmax` of `-inf` would give.
    """
    if mask is None:
        return torch.softmax(scores, dim=dim)
    mask = mask.to(torch.bool)
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=dim)
    # Rows with no valid entry came out uniform over masked entries: zero them.
    return weights * mask.to(weights.dtype)


def masked_mean(hidden_states: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the valid steps: `(batch, length, features)`, `(batch, length)` -> `(batch, features)`."""
    mask = _check_mask(hidden_states, mask)
    weights = mask.to(hidden_states.dtype).unsqueeze(-1)
    total = (hidden_states * weights).sum(dim=1)
    return total / weights.sum(dim=1).clamp_min(1.0)


def masked_max(hidden_states: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Maximum over the valid steps: `(batch, length, features)`, `(batch, length)` -> `(batch, features)`."""
    mask = _check_mask(hidden_states, mask)
    filled = hidden_states.masked_fill(~mask.unsqueeze(-1), torch.finfo(hidden_states.dtype).min)
    pooled = filled.max(dim=1).values
    return torch.where(mask.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))


class AttentionPooling(nn.Module):
    """Additive attention pooling (Bahdanau-style scoring): a learned weighted mean over the steps.

    Each step gets the score `w^T tanh(W x + b)`; the scores are soft-maxed over the valid steps and the
    steps are averaged with these weights.

    Args:
        features: width of the input vectors.
        hidden_size: width of the scoring layer `W`.

    Shapes:
        `hidden_states (batch, length, features)`, `mask (batch, length)` bool or None ->
        `pooled (batch, features)`, `weights (batch, length)` (sum to 1 over valid steps; all zero for a
        row with no valid step).
    """

    def __init__(self, features: int, hidden_size: int):
        super().__init__()
        self.projection = nn.Linear(features, hidden_size)
        self.score = nn.Linear(hidden_size, 1, bias=False)

    def forward(
        self, hidden_states: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool `(batch, length, features)` to `(batch, features)`; also return the `(batch, length)` weights."""
        mask = _check_mask(hidden_states, mask)
        scores = self.score(torch.tanh(self.projection(hidden_states))).squeeze(-1)
        weights = masked_softmax(scores, mask, dim=-1)
        pooled = torch.einsum("bl,blf->bf", weights, hidden_states)
        return pooled, weights
