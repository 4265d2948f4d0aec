"""AVT-CA (2024): audio-video transformer fusion followed by cross-attention, as a `transformers` model.

Data flow (shapes for the default config, B clips, T face frames, L audio frames):

    pixel_values_videos (B, T, 3, 224, 224) --EfficientFace per frame--> (B, 1024, T)
        --video stage 1 (Conv1d blocks)--> (B, 64, T)
    input_features (B, 10, L) --audio stage 1 (Conv1d + max-pool blocks)--> (B, 128, L1)
    intermediate transformer fusion (IT): audio attends to video and video to audio, residual + MLP
        --video stage 2--> (B, 128, T)        --audio stage 2--> (B, 128, L2)
    cross-attention module (CT): self-attention per modality, then audio <-> video cross-attention
    max-pool over valid steps per modality, element-wise add --> embeddings (B, 128) --FC--> logits

Missing data is handled through the masks, never through zero pixels: `video_mask` (B, T) and `audio_mask`
(B, L) mark the valid steps; padded steps are kept at zero, excluded from batch-norm statistics, from
attention keys and from the max-pool. A sample whose mask for one modality is all False runs on the other
alone: attention towards the absent modality leaves its stream unchanged and the absent modality adds
nothing to the pooled sum. Modality dropout (training only) removes one modality of a sample the same way.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer

from av_emotion.modeling.avt_ca.configuration_avt_ca import AVTCAConfig
from av_emotion.modeling.frame_chunks import encode_frames
from av_emotion.modeling.modules.efficientface import EfficientFaceEncoder
from av_emotion.modeling.modules.masked_batch_norm import MaskedBatchNorm1d
from av_emotion.modeling.modules.mini_xception import MiniXceptionEncoder
from av_emotion.modeling.modules.transformers_encoders import (
    TransformersAudioEncoder,
    TransformersFrameEncoder,
    build_with_pretrained_encoders,
)
from av_emotion.modeling.outputs import AVEmotionOutput
from av_emotion.modeling.presence import check_encoder_outputs, fold_presence_flag, fold_presence_flags


class AVTCATemporalConvBlock(nn.Module):
    """Conv1d ("same" padding), masked batch norm, ReLU, and optionally a max-pool over time.

    Input `(B, C_in, L)` with a `(B, L)` bool mask; output `(B, C_out, L')` and its mask, where
    `L' = (L - pool_kernel) // pool_stride + 1` with pooling and `L` without. A pooled step is valid only if
    every step in its window is. Invalid steps are zero on output, so the next convolution sees them as the
    zero padding it would see at a clip boundary.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        pool_kernel_size: int | None = None,
        pool_stride: int = 1,
    ):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = MaskedBatchNorm1d(out_channels)
        self.pool_kernel_size = pool_kernel_size
        self.pool_stride = pool_stride

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C_in, L), (B, L) -> (B, C_out, L'), (B, L')."""
        hidden_states = hidden_states * mask[:, None, :].to(hidden_states.dtype)
        hidden_states = F.relu(self.norm(self.conv(hidden_states), mask))
        if self.pool_kernel_size is not None:
            # max-pool over time written as windows (`unfold`): the same values as `F.max_pool1d` (no padding,
            # floor mode), and the length stays symbolic under torch.export (max_pool1d specialises it)
            hidden_states = hidden_states.unfold(-1, self.pool_kernel_size, self.pool_stride).amax(dim=-1)
            # min-pool of the mask: a window is valid only if all of its steps are
            mask = mask.unfold(-1, self.pool_kernel_size, self.pool_stride).all(dim=-1)
        return hidden_states * mask[:, None, :].to(hidden_states.dtype), mask


class AVTCATemporalStage(nn.Module):
    """A sequence of `AVTCATemporalConvBlock`s with widths `channels` (one block per entry)."""

    def __init__(
        self,
        in_channels: int,
        channels: list[int],
        kernel_size: int,
        pool_kernel_size: int | None = None,
        pool_stride: int = 1,
    ):
        super().__init__()
        widths = [in_channels, *channels]
        self.blocks = nn.ModuleList(
            AVTCATemporalConvBlock(widths[i], widths[i + 1], kernel_size, pool_kernel_size, pool_stride)
            for i in range(len(channels))
        )

    def minimum_input_length(self, output_length: int = 1) -> int:
        """Fewest input steps for which this stage returns at least `output_length` steps."""
        length = output_length
        for block in reversed(self.blocks):
            if block.pool_kernel_size is not None:
                length = (length - 1) * block.pool_stride + block.pool_kernel_size
        return length

    def output_length(self, length: int) -> int:
        """Return the number of steps this stage gives for `length` input steps."""
        for block in self.blocks:
            if block.pool_kernel_size is not None:
                length = (length - block.pool_kernel_size) // block.pool_stride + 1
        return length

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C_in, L), (B, L) -> (B, channels[-1], L'), (B, L')."""
        for block in self.blocks:
            hidden_states, mask = block(hidden_states, mask)
        return hidden_states, mask


class AVTCAAttention(nn.Module):
    """Multi-head attention from a query sequence to a key/value sequence of another width.

    Queries `(B, Lq, query_dim)`, keys/values `(B, Lk, key_dim)`, `key_mask` `(B, Lk)` bool. Keys, values
    and output are projected to `query_dim`, split into `num_heads` heads. Masked keys get no weight. A row
    with no valid key at all (the other modality is absent for that sample) would be an undefined softmax:
    its keys are all unmasked for the computation and `has_keys` tells the caller to discard the result, so
    no NaN is ever produced. Returns the attended values `(B, Lq, query_dim)` and, when asked, the
    probabilities `(B, num_heads, Lq, Lk)` (all zero for samples without valid keys).
    """

    def __init__(self, query_dim: int, key_dim: int, num_heads: int, attention_dropout: float, hidden_dropout: float):
        super().__init__()
        if query_dim % num_heads:
            raise ValueError(f"attention width {query_dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = query_dim // num_heads
        self.q_proj = nn.Linear(query_dim, query_dim)
        self.k_proj = nn.Linear(key_dim, query_dim)
        self.v_proj = nn.Linear(key_dim, query_dim)
        self.out_proj = nn.Linear(query_dim, query_dim)
        self.attention_dropout = attention_dropout
        self.dropout = nn.Dropout(hidden_dropout)

    def _split_heads(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, length, _ = hidden_states.shape
        return hidden_states.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        key_mask: torch.Tensor,
        output_attentions: bool = False,
        attn_implementation: str = "sdpa",
        values: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, Lq, Dq), (B, Lk, Dk), (B, Lk) -> (B, Lq, Dq), probabilities (B, H, Lq, Lk) or None.

        `attn_implementation`: `"sdpa"` (`F.scaled_dot_product_attention`) or `"eager"` (the softmax written out);
        returning the probabilities always takes the eager path.
        `values` (B, Lk, Dk): what the weights average, when not the keys themselves.
        """
        has_keys = key_mask.any(dim=-1)
        # rows without any valid key attend uniformly to garbage instead of producing NaN; callers drop them
        allowed = key_mask | ~has_keys[:, None]
        query = self._split_heads(self.q_proj(queries))
        key = self._split_heads(self.k_proj(keys))
        value = self._split_heads(self.v_proj(keys if values is None else values))
        dropout = self.attention_dropout if self.training else 0.0
        probabilities = None
        if output_attentions or attn_implementation != "sdpa":
            scores = query @ key.transpose(-1, -2) / math.sqrt(self.head_dim)
            scores = scores.masked_fill(~allowed[:, None, None, :], torch.finfo(scores.dtype).min)
            probabilities = scores.softmax(dim=-1)
            attended = F.dropout(probabilities, dropout, self.training) @ value
            probabilities = probabilities * has_keys[:, None, None, None].to(probabilities.dtype)
            if not output_attentions:
                probabilities = None
        else:
            attended = F.scaled_dot_product_attention(
                query, key, value, attn_mask=allowed[:, None, None, :], dropout_p=dropout
            )
        batch, _, length, _ = attended.shape
        attended = attended.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_dim)
        return self.dropout(self.out_proj(attended)), probabilities


class AVTCAAttentionBlock(GradientCheckpointingLayer):
    """Pre-norm transformer block whose attention reads another sequence (or the same one).

    `x <- x + Attention(LN(x), LN(context))`, then `x <- x + MLP(LN(x))` (Vaswani et al. 2017 with the
    pre-norm of ViT; MLP width `mlp_ratio * query_dim`, GELU, as in Chumachenko et al. 2022). For a sample
    whose context has no valid step (its other modality is absent) the block passes `x` through unchanged:
    the update carries information from the context, and there is none. Query steps outside `query_mask`
    stay zero.
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        num_heads: int,
        mlp_ratio: float,
        attention_dropout: float,
        hidden_dropout: float,
        layer_norm_eps: float,
        is_self_attention: bool = False,
        values_from_context: bool = False,
    ):
        super().__init__()
        if is_self_attention and key_dim != query_dim:
            raise ValueError(f"self-attention needs key_dim == query_dim, got {key_dim} and {query_dim}")
        if values_from_context and not is_self_attention:
            raise ValueError("values_from_context applies to a self-attention block (queries and keys from x)")
        self.is_self_attention = is_self_attention
        self.values_from_context = values_from_context
        self.query_norm = nn.LayerNorm(query_dim, eps=layer_norm_eps)
        # self-attention normalises its single input once; a second norm would receive no gradient. With
        # values from the context, the context (the values) gets its own norm.
        self.key_norm = (
            nn.LayerNorm(key_dim, eps=layer_norm_eps) if values_from_context or not is_self_attention else None
        )
        self.attention = AVTCAAttention(query_dim, key_dim, num_heads, attention_dropout, hidden_dropout)
        self.mlp_norm = nn.LayerNorm(query_dim, eps=layer_norm_eps)
        hidden = int(query_dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(query_dim, hidden),
            nn.GELU(),
            nn.Dropout(hidden_dropout),
            nn.Linear(hidden, query_dim),
            nn.Dropout(hidden_dropout),
        )

    def forward(
        self,
        hidden_states: torch.Tensor,
        query_mask: torch.Tensor,
        context: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        attn_implementation: str = "sdpa",
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, Lq, Dq) with mask (B, Lq), context (B, Lk, Dk) with mask (B, Lk) -> (B, Lq, Dq), attention.

        With `values_from_context`, `context` is the other modality already aligned to the query steps
        (B, Lq, Dk) and `key_mask` (B, Lq) marks where it exists; keys are the queries' own steps.
        Recomputed in the backward pass under `gradient_checkpointing_enable()` (a `GradientCheckpointingLayer`).
        """
        queries = self.query_norm(hidden_states)
        values = None
        if self.is_self_attention and not self.values_from_context:
            keys, key_mask = queries, query_mask
            context_present = query_mask.any(dim=-1)
        else:
            if context is None or key_mask is None:
                raise ValueError(
                    "a cross-attention block (or one with values_from_context) needs `context` and `key_mask`"
                )
            context_present = key_mask.any(dim=-1)
            keys = self.key_norm(context)
            if self.values_from_context:
                keys, values, key_mask = queries, keys, query_mask
        attended, probabilities = self.attention(
            queries, keys, key_mask, output_attentions, attn_implementation, values=values
        )
        updated = hidden_states + attended
        updated = updated + self.mlp(self.mlp_norm(updated))
        # the update counts only at valid query steps of samples that have a context; padded steps stay zero
        keep_update = context_present[:, None, None] & query_mask[:, :, None]
        unchanged = hidden_states * query_mask[:, :, None].to(hidden_states.dtype)
        return torch.where(keep_update, updated, unchanged), probabilities


def align_steps(
    source: torch.Tensor, source_mask: torch.Tensor, target_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample each clip's `source` sequence onto its target steps by linear interpolation in clip time.

    Both sequences cover the same clip: step i of a sequence with n valid steps (padding at the end) sits at
    time (i + 0.5) / n. Target step i reads the source at position `(i + 0.5) n_s / n_t - 0.5`, clamped to the
    source's valid range, interpolating linearly between its two neighbours. Tensor arithmetic only.

    Args:
        source: `(B, Ls, D)`, zero at padded steps.
        source_mask: `(B, Ls)` bool, valid source steps.
        target_mask: `(B, Lt)` bool, valid target steps.

    Returns:
        `(B, Lt, D)` aligned values (zero at invalid target steps and for clips without source) and their mask
        `(B, Lt)`: the target step is valid and the clip has a source.
    """
    batch, source_steps, _ = source.shape
    target_steps = target_mask.shape[1]
    device = source.device

    def lengths(mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(1, mask.shape[1] + 1, device=device)
        return (mask.long() * positions).amax(dim=-1)

    source_lengths, target_lengths = lengths(source_mask), lengths(target_mask)
    step = torch.arange(target_steps, device=device, dtype=source.dtype)
    position = (step[None, :] + 0.5) * source_lengths[:, None].to(source.dtype)
    position = position / target_lengths[:, None].clamp_min(1).to(source.dtype) - 0.5
    last = (source_lengths - 1).clamp_min(0)[:, None].to(source.dtype)
    position = torch.minimum(position.clamp_min(0.0), last)
    low = position.floor()
    weight = (position - low)[:, :, None]
    low = low.long().clamp(max=max(source_steps - 1, 0))
    high = torch.minimum(low + 1, last.long())
    gather = lambda index: source.gather(1, index[:, :, None].expand(-1, -1, source.shape[-1]))  # noqa: E731
    aligned = (1.0 - weight) * gather(low) + weight * gather(high)
    aligned_mask = target_mask & (source_lengths > 0)[:, None]
    return aligned * aligned_mask[:, :, None].to(aligned.dtype), aligned_mask


class AVTCAPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading for AVT-CA models."""

    config: AVTCAConfig
    config_class = AVTCAConfig
    base_model_prefix = "avt_ca"
    main_input_name = "pixel_values_videos"
    input_modalities = ("video", "audio")
    # The attention blocks are `GradientCheckpointingLayer`s. The convolution stages are not checkpointed: their
    # batch norm would update its running statistics a second time in the recomputation.
    supports_gradient_checkpointing = True
    # "sdpa" (default) or "eager", read from `config._attn_implementation` at every forward, so
    # `set_attn_implementation` may switch it on a built model (transformers' source heuristic cannot tell).
    _supports_sdpa = True
    _can_set_attn_implementation_cached_value = True

    @classmethod
    def from_encoders_pretrained(
        cls,
        vision_encoder: str | None = None,
        audio_encoder: str | None = None,
        **config_kwargs,
    ) -> AVTCAPreTrainedModel:
        """Build AVT-CA around pretrained transformers encoders (a path or Hub id for each, either optional).

        Like `VisionEncoderDecoderModel.from_encoder_decoder_pretrained`: the checkpoints' configs become
        `vision_encoder_config` / `audio_encoder_config`, their weights are loaded into the encoders, and the
        rest (temporal stages, fusion, cross-attention, head) is freshly initialised. Pair it with
        `AVEmotionProcessor.from_encoders(...)` so the inputs follow each checkpoint's preprocessing.

        Example:
            `AVTCAForEmotionClassification.from_encoders_pretrained("google/vit-base-patch16-224-in21k",
            "facebook/wav2vec2-base", num_frames=8)`
        """
        return build_with_pretrained_encoders(cls, AVTCAConfig, vision_encoder, audio_encoder, **config_kwargs)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Kaiming-normal convolutions (ShuffleNet-V2), truncated-normal linears (ViT), unit norms."""
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.trunc_normal_(module.weight, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if getattr(module, "running_mean", None) is not None:
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)


class AVTCAModel(AVTCAPreTrainedModel):
    """AVT-CA encoder: both branches, the intermediate transformer fusion and the cross-attention module.

    Returns the fused clip embedding `(B, config.hidden_size)` (max-pooled audio + max-pooled video) in
    `AVEmotionOutput.embeddings`; `logits` is None (see `AVTCAForEmotionClassification`).
    """

    def __init__(self, config: AVTCAConfig):
        super().__init__(config)
        if config.vision_encoder_config is not None:
            self.video_encoder = TransformersFrameEncoder(config.vision_encoder_config)
        elif config.visual_backbone == "mini_xception":
            self.video_encoder = MiniXceptionEncoder.from_model_config(config)
        else:
            self.video_encoder = EfficientFaceEncoder(
                in_channels=config.num_channels,
                stage_repeats=config.visual_stage_repeats,
                stage_channels=config.visual_stage_channels,
                local_grid=config.local_feature_grid,
                reduction_ratio=config.modulator_reduction_ratio,
                num_dilated_convs=config.spatial_attention_num_convs,
                dilation=config.spatial_attention_dilation,
            )
        kernel = config.temporal_kernel_size
        self.video_stage1 = AVTCATemporalStage(self.video_encoder.out_channels, config.video_stage1_channels, kernel)
        self.video_stage2 = AVTCATemporalStage(config.video_stage1_channels[-1], config.video_stage2_channels, kernel)
        pool = (config.audio_pool_kernel_size, config.audio_pool_stride)
        self.audio_encoder = None
        if config.audio_encoder_config is not None:
            self.audio_encoder = TransformersAudioEncoder(config.audio_encoder_config)
        audio_width = self.audio_encoder.out_channels if self.audio_encoder is not None else config.num_audio_features
        self.audio_stage1 = AVTCATemporalStage(audio_width, config.audio_stage1_channels, kernel, *pool)
        self.audio_stage2 = AVTCATemporalStage(
            config.audio_stage1_channels[-1], config.audio_stage2_channels, kernel, *pool
        )

        video_dim1, audio_dim1 = config.video_stage1_channels[-1], config.audio_stage1_channels[-1]
        dim2 = config.audio_stage2_channels[-1]
        block_kwargs = {
            "mlp_ratio": config.mlp_ratio,
            "attention_dropout": config.attention_dropout,
            "hidden_dropout": config.hidden_dropout,
            "layer_norm_eps": config.layer_norm_eps,
        }
        # IT: intermediate transformer fusion between stage 1 and stage 2 (both directions)
        heads = config.fusion_num_heads
        self.fusion_audio_to_video = AVTCAAttentionBlock(audio_dim1, video_dim1, heads, **block_kwargs)
        self.fusion_video_to_audio = AVTCAAttentionBlock(video_dim1, audio_dim1, heads, **block_kwargs)
        # CT: cross-attention module after stage 2, preceded by per-modality self-attention
        heads = config.cross_attention_num_heads
        if config.use_self_attention:
            block_kwargs["values_from_context"] = config.pre_cross_attention_values == "other"
            self.self_attention_audio = AVTCAAttentionBlock(dim2, dim2, heads, is_self_attention=True, **block_kwargs)
            self.self_attention_video = AVTCAAttentionBlock(dim2, dim2, heads, is_self_attention=True, **block_kwargs)
            del block_kwargs["values_from_context"]
        else:
            self.self_attention_audio = self.self_attention_video = None
        self.cross_attention_audio_to_video = AVTCAAttentionBlock(dim2, dim2, heads, **block_kwargs)
        self.cross_attention_video_to_audio = AVTCAAttentionBlock(dim2, dim2, heads, **block_kwargs)
        self.post_init()

    # ------------------------------------------------------------------ inputs
    def _video_inputs(
        self, pixel_values_videos: torch.Tensor | None, video_mask: torch.Tensor | None, batch_size: int
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        if pixel_values_videos is None:
            if video_mask is not None and video_mask.any():
                raise ValueError("video_mask marks valid frames but pixel_values_videos is None")
            return None, torch.zeros(batch_size, 1, dtype=torch.bool, device=self.device)
        if pixel_values_videos.ndim != 5 or pixel_values_videos.shape[2] != self.config.num_channels:
            raise ValueError(
                "pixel_values_videos must be (batch, frames, channels, height, width) with "
                f"{self.config.num_channels} channels, got {tuple(pixel_values_videos.shape)}"
            )
        expected = pixel_values_videos.shape[:2]
        if video_mask is None:
            video_mask = torch.ones(expected, dtype=torch.bool, device=pixel_values_videos.device)
        elif video_mask.shape != expected:
            raise ValueError(f"video_mask must be (batch, frames) = {tuple(expected)}, got {tuple(video_mask.shape)}")
        return pixel_values_videos, video_mask.bool()

    def _audio_inputs(
        self, input_features: torch.Tensor | None, audio_mask: torch.Tensor | None, batch_size: int
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        if input_features is None:
            if audio_mask is not None and audio_mask.any():
                raise ValueError("audio_mask marks valid frames but input_features is None")
            return None, torch.zeros(batch_size, 1, dtype=torch.bool, device=self.device)
        if input_features.ndim != 3 or input_features.shape[1] != self.config.num_audio_features:
            raise ValueError(
                f"input_features must be (batch, {self.config.num_audio_features} features, frames) "
                f"(config.num_audio_features), got {tuple(input_features.shape)}"
            )
        if self.audio_encoder is not None:
            # The waveform (B, 1, samples) through the transformers speech model: its frames are the features.
            samples = input_features.shape[-1]
            sample_mask = torch.ones(input_features.shape[0], samples, dtype=torch.bool, device=input_features.device)
            if audio_mask is not None:
                if audio_mask.shape != sample_mask.shape:
                    raise ValueError(
                        f"audio_mask must be (batch, samples) = {tuple(sample_mask.shape)}, got {tuple(audio_mask.shape)}"
                    )
                sample_mask = audio_mask.bool()
            if not sample_mask.any():
                return None, torch.zeros(batch_size, 1, dtype=torch.bool, device=input_features.device)
            input_features, audio_mask = self.audio_encoder(input_features[:, 0].to(self.dtype), sample_mask)
        length = input_features.shape[-1]
        expected = (input_features.shape[0], length)
        if audio_mask is None:
            audio_mask = torch.ones(expected, dtype=torch.bool, device=input_features.device)
        elif audio_mask.shape != expected:
            raise ValueError(f"audio_mask must be (batch, frames) = {expected}, got {tuple(audio_mask.shape)}")
        if length < self.minimum_audio_frames():
            if not audio_mask.any():
                # Only padding (a batch whose clips all lack audio): nothing to encode, as if no audio was given.
                return None, torch.zeros(batch_size, 1, dtype=torch.bool, device=input_features.device)
            raise ValueError(
                f"input_features has {length} frames, fewer than the {self.minimum_audio_frames()} the audio "
                "max-pools need "
                f"(kernel {self.config.audio_pool_kernel_size}, stride {self.config.audio_pool_stride}); "
                "pass a longer clip or pad it and mark the padding in audio_mask"
            )
        return input_features, audio_mask.bool()

    def minimum_audio_frames(self) -> int:
        """Fewest audio frames `input_features` may have (the audio max-pools shorten the sequence)."""
        return self.audio_stage1.minimum_input_length(self.audio_stage2.minimum_input_length())

    def apply_modality_dropout(
        self, video_mask: torch.Tensor, audio_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training only: drop audio or video of some samples (`config.modality_dropout_prob`).

        A sample is eligible only if it has at least one valid step in both modalities; an eligible sample
        is hit with probability `modality_dropout_prob`, and a hit removes its audio or its video with equal
        probability, by clearing that modality's mask row. No sample ever loses both, and no sample that
        already lacks one modality loses the other. In evaluation mode the masks are returned unchanged.

        Args:
            video_mask: `(B, T)` bool.
            audio_mask: `(B, L)` bool.

        Returns:
            The two masks, with the dropped rows set to False.
        """
        probability = self.config.modality_dropout_prob
        if not self.training or probability <= 0:
            return video_mask, audio_mask
        eligible = video_mask.any(dim=-1) & audio_mask.any(dim=-1)
        hit = eligible & (torch.rand(eligible.shape, device=eligible.device) < probability)
        drop_audio = hit & (torch.rand(eligible.shape, device=eligible.device) < 0.5)
        drop_video = hit & ~drop_audio
        return video_mask & ~drop_video[:, None], audio_mask & ~drop_audio[:, None]

    # ------------------------------------------------------------------ branches
    def encode_video(
        self, pixel_values_videos: torch.Tensor, video_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the frame encoder: (B, T, C, H, W), mask (B, T) -> per-frame features (B, T, C_stem), mask (B, T).

        Every frame goes through `video_encoder` (the EfficientFace stem, or the configured frame encoder); masked
        frames get zeros. Pass both to `forward` as `video_encoder_outputs` / `video_encoder_mask` to skip the
        encoder (a frozen encoder's outputs computed once: the recipes' feature cache).
        """
        pixel_values_videos, video_mask = self._video_inputs(
            pixel_values_videos, video_mask, pixel_values_videos.shape[0]
        )
        batch, frames = video_mask.shape
        encoded = self._run_video_encoder(pixel_values_videos).reshape(batch, frames, -1)
        return torch.where(video_mask[:, :, None], encoded, torch.zeros_like(encoded)), video_mask

    def _run_video_encoder(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B * T, C_stem): every frame through the encoder (on CPU at inference, in chunks)."""
        frames = pixel_values_videos.flatten(0, 1).to(self.dtype)
        return encode_frames(self.video_encoder, frames, self.config.video_encoder_chunk_pixels)

    def _precomputed_frames(
        self, outputs: torch.Tensor, mask: torch.Tensor | None, has_video: torch.Tensor | None, batch_size: int
    ) -> torch.Tensor:
        """Check `video_encoder_outputs` (B, T, C_stem) and return their frame mask (B, T), `has_video` folded in."""
        width = self.video_encoder.out_channels
        if outputs.ndim != 3 or outputs.shape[0] != batch_size or outputs.shape[2] != width:
            raise ValueError(
                f"video_encoder_outputs must be (batch, frames, {width}) with batch {batch_size}, got "
                f"{tuple(outputs.shape)}; compute them with encode_video of this model"
            )
        if mask is not None and mask.shape != outputs.shape[:2]:
            raise ValueError(
                f"video_encoder_mask must be (batch, frames) = {tuple(outputs.shape[:2])}, got {tuple(mask.shape)}"
            )
        mask = fold_presence_flag(mask, has_video, outputs, 1, "has_video")
        return torch.ones(outputs.shape[:2], dtype=torch.bool, device=outputs.device) if mask is None else mask.bool()

    def _encode_frames(
        self, pixel_values_videos: torch.Tensor | None, video_mask: torch.Tensor, input_video_mask: torch.Tensor
    ) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, C_stem, T): EfficientFace features of the valid frames, zeros elsewhere.

        Inference encodes every frame and zeroes the padded ones (same values, no data-dependent branch).
        Training: `video_mask` is the mask after modality dropout, `input_video_mask` the one before. Padded and
        dropped frames are neither computed nor allowed into the batch-norm statistics, with one exception: when
        modality dropout removed every frame of the batch, the frames it removed are encoded anyway (and
        their features zeroed), so the encoder stays in the autograd graph and DDP without
        `find_unused_parameters` does not fail on that step.
        """
        batch, frames = video_mask.shape
        width = self.video_encoder.out_channels
        features = torch.zeros(batch, frames, width, device=video_mask.device, dtype=self.dtype)
        if pixel_values_videos is None:
            return features.transpose(1, 2)
        if not self.training:
            # Inference: every frame through the encoder (its batch norm uses running statistics, so a frame's
            # features do not depend on the others), padded ones zeroed. No branch on mask values, so the forward
            # exports (`torch.export`, ONNX) and compiles with `fullgraph=True` for any batch and clip length.
            encoded = self._run_video_encoder(pixel_values_videos)
            encoded = encoded.reshape(batch, frames, width).to(features.dtype)
            return torch.where(video_mask[:, :, None], encoded, features).transpose(1, 2)
        encode_mask = video_mask if video_mask.any() else input_video_mask
        if encode_mask.any():
            encoded = self.video_encoder(pixel_values_videos[encode_mask].to(self.dtype))
            features = features.index_put((encode_mask,), encoded.to(features.dtype))
            features = features * video_mask[:, :, None].to(features.dtype)
        return features.transpose(1, 2)

    @staticmethod
    def _masked_max_pool(hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L, D), (B, L) -> (B, D): max over the valid steps; zeros for a sample with none."""
        filled = hidden_states.masked_fill(~mask[:, :, None], torch.finfo(hidden_states.dtype).min)
        pooled = filled.max(dim=1).values
        return pooled * mask.any(dim=1, keepdim=True).to(pooled.dtype)

    def forward(
        self,
        pixel_values_videos: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        video_mask: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
        return_dict: bool = True,
        has_video: torch.Tensor | None = None,
        has_audio: torch.Tensor | None = None,
        face_found: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        video_encoder_outputs: torch.Tensor | None = None,
        video_encoder_mask: torch.Tensor | None = None,
    ) -> AVEmotionOutput | tuple:
        """Encode a batch of clips into fused embeddings.

        Args:
            pixel_values_videos: `(B, T, C, H, W)` float face frames, H and W divisible by
                `8 * config.local_feature_grid`; None for audio-only input.
            input_features: `(B, config.num_audio_features, L)` float MFCC (or log-mel) frames; None for
                video-only input.
            video_mask: `(B, T)` bool, True at valid frames (default: all valid).
            audio_mask: `(B, L)` bool, True at valid audio frames (default: all valid).
            output_attentions: also return the attention maps.
            return_dict: return an `AVEmotionOutput` (else a tuple).
            has_video: `(B,)` bool from the processor; False clears that clip's `video_mask` row.
            has_audio: `(B,)` bool from the processor; False clears that clip's `audio_mask` row.
            face_found: `(B,)` bool from the processor; accepted so its output feeds the model, not read.
            output_hidden_states: also return the sequences between the stages (default
                `config.output_hidden_states`).
            video_encoder_outputs: `(B, T, C_stem)` per-frame outputs of the frame encoder (`encode_video`), in
                place of `pixel_values_videos` (the encoder is not run; the result is the one the frames give).
            video_encoder_mask: `(B, T)` bool, the frame mask `encode_video` returns with them (default: all valid).

        Returns:
            `AVEmotionOutput` with `embeddings` `(B, config.hidden_size)`; with `output_hidden_states`,
            `hidden_states`, a dict of `(B, steps, width)` sequences: `"stage1_audio"` / `"stage1_video"` (after
            stage 1), `"fusion_audio"` / `"fusion_video"` (after IT), `"stage2_audio"` / `"stage2_video"`,
            `"cross_audio"` / `"cross_video"` (after CT); with `output_attentions`,
            `attentions`, a dict of probabilities `(B, heads, query_steps, key_steps)` where `L1` and `L2` are
            the audio lengths after stage 1 and stage 2 (L - 2 and L - 4 with the default pooling):

            - `"fusion_audio_to_video"` `(B, fusion_num_heads, L1, T)`: audio steps attending to frames (IT);
            - `"fusion_video_to_audio"` `(B, fusion_num_heads, T, L1)`;
            - `"self_audio"` `(B, cross_attention_num_heads, L2, L2)` and `"self_video"`
              `(B, cross_attention_num_heads, T, T)` when `config.use_self_attention`;
            - `"cross_audio_to_video"` `(B, cross_attention_num_heads, L2, T)` (CT) and
              `"cross_video_to_audio"` `(B, cross_attention_num_heads, T, L2)`.

            Rows of a sample whose key modality is absent are all zero.
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        check_encoder_outputs("video", pixel_values_videos, video_mask, video_encoder_outputs, video_encoder_mask)
        video_input = pixel_values_videos if video_encoder_outputs is None else video_encoder_outputs
        if video_input is None and input_features is None:
            raise ValueError("AVT-CA needs pixel_values_videos, input_features, or both; got neither")
        batch_size = (video_input if video_input is not None else input_features).shape[0]
        if video_input is not None and input_features is not None and input_features.shape[0] != batch_size:
            raise ValueError(
                f"pixel_values_videos has {batch_size} clips but input_features has {input_features.shape[0]}"
            )
        video_mask, audio_mask = fold_presence_flags(
            pixel_values_videos, input_features, video_mask, audio_mask, has_video, has_audio
        )
        if video_encoder_outputs is not None:
            video_mask = self._precomputed_frames(video_encoder_outputs, video_encoder_mask, has_video, batch_size)
        else:
            pixel_values_videos, video_mask = self._video_inputs(pixel_values_videos, video_mask, batch_size)
        input_features, audio_mask = self._audio_inputs(input_features, audio_mask, batch_size)
        input_video_mask = video_mask
        video_mask, audio_mask = self.apply_modality_dropout(video_mask, audio_mask)

        # Stage 1 of each branch
        if video_encoder_outputs is not None:
            # Precomputed per-frame features: the frames dropped or masked are zero, as `_encode_frames` leaves them.
            frames = torch.where(video_mask[:, :, None], video_encoder_outputs.to(self.dtype), 0.0).transpose(1, 2)
        else:
            frames = self._encode_frames(pixel_values_videos, video_mask, input_video_mask)
        video, video_mask = self.video_stage1(frames, video_mask)
        if input_features is None:
            audio = torch.zeros(batch_size, self.config.audio_stage1_channels[-1], 1, device=self.device)
            audio = audio.to(video.dtype)
        else:
            audio, audio_mask = self.audio_stage1(input_features.to(video.dtype), audio_mask)

        attentions: dict[str, torch.Tensor] = {}
        hidden_states: dict[str, torch.Tensor] = {}
        implementation = self.config._attn_implementation or "sdpa"

        def record(name: str, probabilities: torch.Tensor | None) -> None:
            if output_attentions:
                attentions[name] = probabilities

        def record_hidden(name: str, sequence: torch.Tensor) -> None:
            if output_hidden_states:
                hidden_states[name] = sequence

        # IT: intermediate transformer fusion; both directions read the stage-1 features
        audio_seq, video_seq = audio.transpose(1, 2), video.transpose(1, 2)
        record_hidden("stage1_audio", audio_seq)
        record_hidden("stage1_video", video_seq)
        fused_audio, probs = self.fusion_audio_to_video(
            audio_seq, audio_mask, video_seq, video_mask, output_attentions, implementation
        )
        record("fusion_audio_to_video", probs)
        fused_video, probs = self.fusion_video_to_audio(
            video_seq, video_mask, audio_seq, audio_mask, output_attentions, implementation
        )
        record("fusion_video_to_audio", probs)
        record_hidden("fusion_audio", fused_audio)
        record_hidden("fusion_video", fused_video)

        # Stage 2 of each branch
        video, video_mask = self.video_stage2(fused_video.transpose(1, 2), video_mask)
        if input_features is None:
            audio = torch.zeros(batch_size, self.config.audio_stage2_channels[-1], 1, device=self.device)
            audio = audio.to(video.dtype)
        else:
            audio, audio_mask = self.audio_stage2(fused_audio.transpose(1, 2), audio_mask)
        audio_seq, video_seq = audio.transpose(1, 2), video.transpose(1, 2)
        record_hidden("stage2_audio", audio_seq)
        record_hidden("stage2_video", video_seq)

        # CT: per-modality self-attention, then cross-attention in both directions
        if self.self_attention_audio is not None and self.config.pre_cross_attention_values == "other":
            # The paper's figure: q, k from the own modality, v from the other, aligned in time per clip.
            video_for_audio, video_for_audio_mask = align_steps(video_seq, video_mask, audio_mask)
            audio_for_video, audio_for_video_mask = align_steps(audio_seq, audio_mask, video_mask)
            audio_seq, probs = self.self_attention_audio(
                audio_seq, audio_mask, video_for_audio, video_for_audio_mask, output_attentions, implementation
            )
            record("self_audio", probs)
            video_seq, probs = self.self_attention_video(
                video_seq, video_mask, audio_for_video, audio_for_video_mask, output_attentions, implementation
            )
            record("self_video", probs)
        elif self.self_attention_audio is not None:
            audio_seq, probs = self.self_attention_audio(
                audio_seq, audio_mask, output_attentions=output_attentions, attn_implementation=implementation
            )
            record("self_audio", probs)
            video_seq, probs = self.self_attention_video(
                video_seq, video_mask, output_attentions=output_attentions, attn_implementation=implementation
            )
            record("self_video", probs)
        crossed_audio, probs = self.cross_attention_audio_to_video(
            audio_seq, audio_mask, video_seq, video_mask, output_attentions, implementation
        )
        record("cross_audio_to_video", probs)
        crossed_video, probs = self.cross_attention_video_to_audio(
            video_seq, video_mask, audio_seq, audio_mask, output_attentions, implementation
        )
        record("cross_video_to_audio", probs)
        record_hidden("cross_audio", crossed_audio)
        record_hidden("cross_video", crossed_video)

        # Max-pool over time per modality, then element-wise addition (paper)
        embeddings = self._masked_max_pool(crossed_audio, audio_mask) + self._masked_max_pool(crossed_video, video_mask)
        output = AVEmotionOutput(
            embeddings=embeddings,
            attentions=attentions if output_attentions else None,
            hidden_states=hidden_states if output_hidden_states else None,
        )
        return output if return_dict else output.to_tuple()

    @property
    def dummy_inputs(self) -> dict[str, torch.Tensor]:
        """Two valid clips at the config's input recipe (frames, size), with 4 audio frames per video frame."""
        config = self.config
        frames, size = config.num_frames, config.image_size
        audio_frames = max(4 * frames, self.minimum_audio_frames())
        if self.audio_encoder is not None:
            # A waveform long enough for the speech model's strided convolutions (320x in wav2vec2) to give them.
            audio_frames = 400 + 320 * (audio_frames + 1)
        if config.vision_encoder_config is not None:
            size = getattr(config.vision_encoder_config, "image_size", size)
        return {
            "pixel_values_videos": torch.randn(2, frames, config.num_channels, size, size, device=self.device),
            "input_features": torch.randn(2, config.num_audio_features, audio_frames, device=self.device),
        }


class AVTCAForEmotionClassification(AVTCAPreTrainedModel):
    """AVT-CA with its fully connected classifier over the fused embedding (categorical emotions).

    `logits = Linear(Dropout(embeddings))`, `(B, config.num_labels)`; with `labels` `(B,)` (class indices),
    `loss` is the cross-entropy.
    """

    def __init__(self, config: AVTCAConfig):
        super().__init__(config)
        self.avt_ca = AVTCAModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @property
    def dummy_inputs(self) -> dict[str, torch.Tensor]:
        """See `AVTCAModel.dummy_inputs`."""
        return self.avt_ca.dummy_inputs

    def forward(
        self,
        pixel_values_videos: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        video_mask: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool = False,
        return_dict: bool = True,
        has_video: torch.Tensor | None = None,
        has_audio: torch.Tensor | None = None,
        face_found: torch.Tensor | None = None,
        output_embeddings: bool = False,
        output_hidden_states: bool | None = None,
        video_encoder_outputs: torch.Tensor | None = None,
        video_encoder_mask: torch.Tensor | None = None,
    ) -> AVEmotionOutput | tuple:
        """Classify a batch of clips; inputs as in `AVTCAModel.forward`, `labels` `(B,)` int class indices.

        Returns:
            `AVEmotionOutput` with `logits` `(B, num_labels)`, `loss` when `labels` are given, `embeddings`
            `(B, hidden_size)` with `output_embeddings=True` and `attentions` (see `AVTCAModel.forward`) with
            `output_attentions=True`. As a tuple: `(loss, logits, ...)`, or `(logits, ...)` without labels.
        """
        outputs = self.avt_ca(
            pixel_values_videos=pixel_values_videos,
            input_features=input_features,
            video_mask=video_mask,
            audio_mask=audio_mask,
            output_attentions=output_attentions,
            has_video=has_video,
            has_audio=has_audio,
            output_hidden_states=output_hidden_states,
            video_encoder_outputs=video_encoder_outputs,
            video_encoder_mask=video_encoder_mask,
        )
        logits = self.classifier(self.dropout(outputs.embeddings))
        loss = None
        if labels is not None:
            if labels.shape != (logits.shape[0],):
                raise ValueError(
                    f"labels must be class indices of shape ({logits.shape[0]},), got {tuple(labels.shape)}"
                )
            loss = F.cross_entropy(logits, labels.to(logits.device).long())
        output = AVEmotionOutput(
            loss=loss,
            logits=logits,
            embeddings=outputs.embeddings if output_embeddings else None,
            attentions=outputs.attentions,
            hidden_states=outputs.hidden_states,
        )
        return output if return_dict else output.to_tuple()


__all__ = ["AVTCAForEmotionClassification", "AVTCAModel", "AVTCAPreTrainedModel"]
