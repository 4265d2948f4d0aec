"""Attention blocks shared by the architectures: channel, spatial, temporal and cross-modal attention.

Conventions for every block here:

- Sequences are `(batch, length, features)`; a boolean mask `(batch, length)` is True at the steps to
  keep. Attention never reads a masked step, and a query whose keys are all masked (the other modality
  is missing from that sample) gets an all-zero attention row and a zero update, never NaN.
- Feature maps are `(batch, channels, *positions)` with any number of position axes (2D or 3D maps).
- Every block returns its attention weights next to its output so models can expose them with
  `output_attentions=True`. Returned weights are taken before dropout. With `attn_implementation="sdpa"` the
  output is computed by `F.scaled_dot_product_attention` and the weights are None.
- `TemporalAttention` and `CrossModalAttention` are `GradientCheckpointingLayer`s: recomputed in the backward
  pass once a model calls `gradient_checkpointing_enable()`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from av_emotion.modeling.modules.pooling import AttentionPooling, masked_softmax


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention (Vaswani et al. 2017) with a key mask, returning its weights.

    Written out instead of `torch.nn.MultiheadAttention` so that fully-masked rows give zeros instead of
    NaN, and so that the per-head weights are always available.

    Args:
        hidden_size: width of the queries and of the output.
        num_heads: number of heads; must divide `hidden_size`.
        dropout: dropout on the attention weights (training only).
        key_value_size: width of the key/value inputs, if different from `hidden_size`.

    Shapes:
        `query (batch, query_length, hidden_size)`, `key_value (batch, key_length, key_value_size)`,
        `key_mask (batch, key_length)` bool or None -> `output (batch, query_length, hidden_size)`,
        `weights (batch, num_heads, query_length, key_length)`.
    """

    def __init__(
        self, hidden_size: int, num_heads: int, dropout: float = 0.0, key_value_size: int | None = None
    ) -> None:
        super().__init__()
        if hidden_size % num_heads != 0:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        key_value_size = hidden_size if key_value_size is None else key_value_size
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(key_value_size, hidden_size)
        self.value = nn.Linear(key_value_size, hidden_size)
        self.output = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def _split_heads(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, length, _ = hidden_states.shape
        return hidden_states.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key_value: torch.Tensor,
        key_mask: torch.Tensor | None = None,
        attn_implementation: str = "eager",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from `query` to `key_value`; see the class docstring for shapes.

        `attn_implementation="sdpa"` computes the same output with `F.scaled_dot_product_attention` and returns
        None for the weights (ask for `"eager"` to get them).
        """
        if query.ndim != 3 or key_value.ndim != 3 or query.shape[0] != key_value.shape[0]:
            raise ValueError(
                "expected query (batch, query_length, features) and key_value (batch, key_length, features) "
                f"with the same batch, got {tuple(query.shape)} and {tuple(key_value.shape)}"
            )
        if key_mask is not None and key_mask.shape != key_value.shape[:2]:
            raise ValueError(
                f"key_mask must have shape (batch, key_length) = {tuple(key_value.shape[:2])}, got {tuple(key_mask.shape)}"
            )
        q = self._split_heads(self.query(query))
        k = self._split_heads(self.key(key_value))
        v = self._split_heads(self.value(key_value))
        if attn_implementation == "sdpa":
            weights = None
            allowed = None
            if key_mask is not None:
                # a row without any valid key would be NaN: let it read everything; its update is zeroed below
                allowed = (key_mask | ~key_mask.any(dim=-1, keepdim=True))[:, None, None, :]
            dropout = self.dropout.p if self.training else 0.0
            context = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout)
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_size)
            mask = None if key_mask is None else key_mask[:, None, None, :]
            weights = masked_softmax(scores, mask, dim=-1)
            context = self.dropout(weights) @ v
        batch, _, query_length, _ = context.shape
        context = context.transpose(1, 2).reshape(batch, query_length, self.num_heads * self.head_size)
        output = self.output(context)
        if key_mask is not None:
            # A query with no valid key has nothing to read: its update is zero, not the output bias.
            output = output * key_mask.any(dim=-1)[:, None, None].to(output.dtype)
        return output, weights


class TemporalAttention(GradientCheckpointingLayer):
    """Masked multi-head self-attention over the time steps of one modality, with residual and LayerNorm.

    `output = LayerNorm(x + dropout(SelfAttention(x)))` (post-norm, as in Vaswani et al. 2017); masked
    steps are set to zero in the output so they stay inert downstream, and their rows and columns of the
    returned weights are zero.

    Shapes:
        `hidden_states (batch, length, hidden_size)`, `mask (batch, length)` bool or None ->
        `output (batch, length, hidden_size)`, `weights (batch, num_heads, length, length)`.
    """

    def __init__(
        self, hidden_size: int, num_heads: int, attention_dropout: float = 0.0, hidden_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(hidden_size, num_heads, attention_dropout)
        self.dropout = nn.Dropout(hidden_dropout)
        self.layer_norm = nn.LayerNorm(hidden_size)

    def forward(
        self, hidden_states: torch.Tensor, mask: torch.Tensor | None = None, attn_implementation: str = "eager"
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Self-attend over time; see the class docstring for shapes (weights None with `"sdpa"`)."""
        update, weights = self.attention(hidden_states, hidden_states, mask, attn_implementation)
        output = self.layer_norm(hidden_states + self.dropout(update))
        if mask is not None:
            output = output * mask.unsqueeze(-1).to(output.dtype)
            if weights is not None:
                weights = weights * mask[:, None, :, None].to(weights.dtype)
        return output, weights


class CrossModalAttention(GradientCheckpointingLayer):
    """One modality (the query) attends to another (the context), with residual and LayerNorm.

    `output = LayerNorm(query + dropout(Attention(query, context)))`. A sample whose context is fully
    masked gets a zero update, so its output is `LayerNorm(query)`: the missing modality contributes
    nothing. Query steps that are masked are zero in the output and have all-zero weight rows.

    Shapes:
        `query (batch, query_length, hidden_size)`, `context (batch, context_length, context_size)`,
        `query_mask (batch, query_length)`, `context_mask (batch, context_length)` bool or None ->
        `output (batch, query_length, hidden_size)`, `weights (batch, num_heads, query_length,
        context_length)`.
    """

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        attention_dropout: float = 0.0,
        hidden_dropout: float = 0.0,
        context_size: int | None = None,
    ) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(hidden_size, num_heads, attention_dropout, key_value_size=context_size)
        self.dropout = nn.Dropout(hidden_dropout)
        self.layer_norm = nn.LayerNorm(hidden_size)

    def forward(
        self,
        query: torch.Tensor,
        context: torch.Tensor,
        query_mask: torch.Tensor | None = None,
        context_mask: torch.Tensor | None = None,
        attn_implementation: str = "eager",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from `query` to `context`; see the class docstring for shapes (weights None with `"sdpa"`)."""
        update, weights = self.attention(query, context, context_mask, attn_implementation)
        output = self.layer_norm(query + self.dropout(update))
        if query_mask is not None:
            output = output * query_mask.unsqueeze(-1).to(output.dtype)
            if weights is not None:
                weights = weights * query_mask[:, None, :, None].to(weights.dtype)
        return output, weights


class BidirectionalCrossAttention(nn.Module):
    """Audio attends to video and video attends to audio, in parallel, from the same inputs.

    Two independent `CrossModalAttention` blocks: `audio_output = CrossModalAttention(audio -> video)` and
    `video_output = CrossModalAttention(video -> audio)`. Both read the inputs as given (not each
    other's outputs), so the two directions are symmetric.

    Shapes:
        `audio (batch, audio_length, hidden_size)`, `video (batch, video_length, hidden_size)`,
        `audio_mask (batch, audio_length)`, `video_mask (batch, video_length)` bool or None ->
        `audio_output (batch, audio_length, hidden_size)`, `video_output (batch, video_length,
        hidden_size)`, `audio_to_video (batch, num_heads, audio_length, video_length)` (audio queries over
        video keys), `video_to_audio (batch, num_heads, video_length, audio_length)`.
    """

    def __init__(
        self, hidden_size: int, num_heads: int, attention_dropout: float = 0.0, hidden_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.audio_to_video = CrossModalAttention(hidden_size, num_heads, attention_dropout, hidden_dropout)
        self.video_to_audio = CrossModalAttention(hidden_size, num_heads, attention_dropout, hidden_dropout)

    def forward(
        self,
        audio: torch.Tensor,
        video: torch.Tensor,
        audio_mask: torch.Tensor | None = None,
        video_mask: torch.Tensor | None = None,
        attn_implementation: str = "eager",
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Cross-attend both ways; see the class docstring for shapes (weights None with `"sdpa"`)."""
        audio_output, audio_to_video = self.audio_to_video(audio, video, audio_mask, video_mask, attn_implementation)
        video_output, video_to_audio = self.video_to_audio(video, audio, video_mask, audio_mask, attn_implementation)
        return audio_output, video_output, audio_to_video, video_to_audio


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (Hu et al. 2018) for 2D or 3D feature maps.

    Squeeze: average each channel over all positions. Excite: `sigmoid(W2 ReLU(W1 s))` with a bottleneck
    of `max(channels // reduction, min_hidden)` units. The feature map is rescaled channel by channel.

    Args:
        channels: number of channels `C`.
        reduction: bottleneck ratio `r` (Hu et al. 2018 use 16).
        min_hidden: lower bound on the bottleneck width, so narrow test models keep a usable bottleneck.

    Shapes:
        `features (batch, channels, *positions)` -> `output` of the same shape, `weights (batch, channels)`
        in (0, 1).
    """

    def __init__(self, channels: int, reduction: int = 16, min_hidden: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, min_hidden)
        self.squeeze_to_hidden = nn.Linear(channels, hidden)
        self.hidden_to_gates = nn.Linear(hidden, channels)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rescale each channel of `(batch, channels, *positions)`; also return the `(batch, channels)` gates."""
        if features.ndim < 3 or features.shape[1] != self.hidden_to_gates.out_features:
            raise ValueError(
                f"expected features of shape (batch, {self.hidden_to_gates.out_features}, *positions), "
                f"got {tuple(features.shape)}"
            )
        squeezed = features.flatten(2).mean(dim=-1)
        gates = torch.sigmoid(self.hidden_to_gates(torch.relu(self.squeeze_to_hidden(squeezed))))
        output = features * gates.view(*gates.shape, *([1] * (features.ndim - 2)))
        return output, gates


class SpatialAttentionPooling(nn.Module):
    """Spatial attention: a softmax over the positions of a feature map, then the weighted mean.

    Each position's channel vector is scored by `AttentionPooling` (`w^T tanh(W x + b)`); the weights
    sum to 1 over the (valid) positions and say where the model looked.

    Args:
        channels: number of channels `C` of the feature map.
        hidden_size: width of the scoring layer.

    Shapes:
        `features (batch, channels, *positions)`, `mask (batch, *positions)` bool or None ->
        `pooled (batch, channels)`, `weights (batch, *positions)`.
    """

    def __init__(self, channels: int, hidden_size: int) -> None:
        super().__init__()
        self.channels = channels
        self.pooling = AttentionPooling(channels, hidden_size)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool `(batch, channels, *positions)` to `(batch, channels)`; also return the weights."""
        if features.ndim < 3 or features.shape[1] != self.channels:
            raise ValueError(
                f"expected features of shape (batch, {self.channels}, *positions), got {tuple(features.shape)}"
            )
        positions = features.shape[2:]
        sequence = features.flatten(2).transpose(1, 2)
        flat_mask = None if mask is None else mask.reshape(mask.shape[0], -1)
        pooled, weights = self.pooling(sequence, flat_mask)
        return pooled, weights.view(features.shape[0], *positions)
