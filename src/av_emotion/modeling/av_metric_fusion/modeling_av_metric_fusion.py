"""Audio-video metric fusion (Mocanu, Tapu & Zaharia 2023): attention 3D-CNN + audio 2D-CNN + cross-attention.

Data flow for a batch of B clips, S snippets, hidden size D (see `AVMetricFusionConfig` for every choice):

    video (B, S·F, C, H, W) -> S snippets (B·S, C, F, H, W) -> 3D ResNet -> channel attention (SE)
        -> mean over the snippet's time -> spatial attention pooling -> Linear -> (B, S, D)
    log-mel (B, n_mels, frames) -> each clip's own frames cut into S spans (B·S, 1, n_mels, ceil(frames/S))
        -> 2D ResNet (padding ignored) -> mean -> Linear -> (B, S, D)
    each sequence: + snippet position embedding -> temporal self-attention (masked)
    bidirectional cross-attention (audio <-> video, masked) -> masked mean per modality
    -> concatenate (B, 2D) -> Linear + GELU -> fused embedding (B, fusion_hidden_size) -> classifier

Missing data: snippets whose frames are all masked are not encoded at all (their vectors are zero and
they are masked in every attention), so a sample without audio (or video) runs through the other branch
only, and a missing branch never touches the batch-norm statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from av_emotion.modeling.av_metric_fusion.configuration_av_metric_fusion import AVMetricFusionConfig
from av_emotion.modeling.losses import EmotionRelationMetric, circumplex_positions
from av_emotion.modeling.modules.attention import (
    BidirectionalCrossAttention,
    ChannelAttention,
    SpatialAttentionPooling,
    TemporalAttention,
)
from av_emotion.modeling.modules.pooling import masked_mean
from av_emotion.modeling.modules.resnet import ResNet2dEncoder, ResNet3dEncoder, masked_feature_mean
from av_emotion.modeling.modules.subclips import split_audio_into_subclips
from av_emotion.modeling.outputs import AVEmotionOutput
from av_emotion.modeling.presence import check_encoder_outputs, fold_presence_flag, fold_presence_flags


@dataclass
class AVMetricFusionModelOutput(AVEmotionOutput):
    """Output of [`AVMetricFusionModel`]: the fused embedding plus what the heads need.

    Args:
        embeddings (`torch.FloatTensor` of shape `(batch_size, fusion_hidden_size)`):
            Fused clip embedding.
        audio_embeddings (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
            Masked mean of the audio snippets after temporal attention, before any cross-modal exchange
            (zeros for a sample without audio).
        video_embeddings (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
            The same for the video branch.
        audio_present (`torch.BoolTensor` of shape `(batch_size,)`):
            Whether the sample has at least one valid audio snippet.
        video_present (`torch.BoolTensor` of shape `(batch_size,)`):
            Whether the sample has at least one valid video snippet.
        attentions (`dict[str, torch.FloatTensor]`, *optional*):
            See [`AVMetricFusionModel.forward`].
    """

    audio_embeddings: torch.FloatTensor | None = None
    video_embeddings: torch.FloatTensor | None = None
    audio_present: torch.BoolTensor | None = None
    video_present: torch.BoolTensor | None = None


def _strided_size(size: int, strides: int) -> int:
    """Size after `strides` convolutions of stride 2 with 'same' padding (odd kernels): ceil halving."""
    for _ in range(strides):
        size = (size - 1) // 2 + 1
    return size


class AVMetricFusionVideoEncoder(nn.Module):
    """One snippet of video to one vector: 3D ResNet, channel attention, spatial attention pooling.

    Shapes: `snippets (N, C, F, H, W)` -> `features (N, hidden_size)`, `spatial (N, H', W')` (softmax
    over the positions of the last feature map), `channel (N, widths[-1])` (SE gates in (0, 1)).
    """

    def __init__(self, config: AVMetricFusionConfig):
        super().__init__()
        self.backbone = ResNet3dEncoder(
            in_channels=config.num_channels,
            depth=config.video_resnet_depth,
            widths=config.video_resnet_widths,
            conv_type=config.video_conv_type,
            temporal_downsample=config.video_temporal_downsample,
            layout=config.video_backbone_layout,
        )
        channels = self.backbone.out_channels
        self.channel_attention = ChannelAttention(channels, reduction=config.channel_attention_reduction)
        self.spatial_attention = SpatialAttentionPooling(channels, config.spatial_attention_hidden_size)
        self.projection = nn.Linear(channels, config.hidden_size)

    @staticmethod
    def feature_map_size(height: int, width: int) -> tuple[int, int]:
        """Spatial size of the backbone's last feature map: the stem and stages 2-4 each halve space."""
        return _strided_size(height, 4), _strided_size(width, 4)

    def forward(self, snippets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode `(N, C, F, H, W)` snippets; see the class docstring for the outputs."""
        return self.attend(self.backbone(snippets))

    def attend(self, feature_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the part after the backbone: `(N, channels, F', H', W')` feature maps to the `forward` outputs."""
        feature_map, channel_weights = self.channel_attention(feature_map)
        # Time inside a snippet is short after the strided stages; temporal attention works across snippets.
        pooled, spatial_weights = self.spatial_attention(feature_map.mean(dim=2))
        return self.projection(pooled), spatial_weights, channel_weights


class AVMetricFusionAudioEncoder(nn.Module):
    """One snippet of log-mel spectrogram to one vector: 2D ResNet, global mean, projection.

    Shapes: `snippets (N, 1, n_mels, frames_per_snippet)` -> `(N, hidden_size)`.
    """

    def __init__(self, config: AVMetricFusionConfig):
        super().__init__()
        self.backbone = ResNet2dEncoder(
            in_channels=1,
            depth=config.audio_resnet_depth,
            widths=config.audio_resnet_widths,
            stem_pool=config.audio_stem_pool,
        )
        self.projection = nn.Linear(self.backbone.out_channels, config.hidden_size)

    def forward(self, snippets: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Encode `(N, 1, n_mels, frames)` snippets to `(N, hidden_size)`.

        `lengths` `(N,)`: valid frames of each snippet (the rest is padding, ignored); None: all valid.
        """
        feature_map = self.backbone(snippets, lengths)
        output_lengths = None if lengths is None else self.backbone.output_lengths(lengths)
        return self.projection(masked_feature_mean(feature_map, output_lengths))


class AVMetricFusionPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading glue shared by the base model and the heads."""

    config: AVMetricFusionConfig
    config_class = AVMetricFusionConfig
    base_model_prefix = "av_metric_fusion"
    main_input_name = "pixel_values_videos"
    input_modalities = ("video", "audio")
    # The temporal and cross-modal attention blocks are `GradientCheckpointingLayer`s. The 3D/2D ResNets are not
    # checkpointed: their batch norm would update its running statistics a second time in the recomputation.
    supports_gradient_checkpointing = True
    # "sdpa" (default) or "eager", read from `config._attn_implementation` at every forward (so
    # `set_attn_implementation` works on a built model); the attention maps always come from the eager path.
    _supports_sdpa = True
    _can_set_attn_implementation_cached_value = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # Through `transformers.initialization`, so weights loaded by `from_pretrained` are left alone.
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            # He et al. 2015 fan-out init, as torchvision initialises its ResNets.
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, AVMetricFusionModel) and module.video_position_embeddings is not None:
            init.normal_(module.video_position_embeddings, mean=0.0, std=self.config.initializer_range)
            init.normal_(module.audio_position_embeddings, mean=0.0, std=self.config.initializer_range)
        elif isinstance(module, EmotionRelationMetric):
            init.copy_(module.pair_logits, module.prior_pair_logits())
        else:
            # Batch and layer norms: weight 1, bias 0, fresh running statistics.
            super()._init_weights(module)

    @property
    def dummy_inputs(self) -> dict[str, torch.Tensor]:
        """A batch of one clip sized from the config: 32x32 frames, 32 log-mel frames per snippet.

        Any frame size the ResNet can downsample works; 32 pixels keep tests fast.
        """
        config = self.config
        generator = torch.Generator().manual_seed(0)
        frames = config.num_snippets * config.frames_per_snippet
        return {
            "pixel_values_videos": torch.randn(1, frames, config.num_channels, 32, 32, generator=generator),
            "input_features": torch.randn(1, config.num_mel_bins, config.num_snippets * 32, generator=generator),
        }


class AVMetricFusionModel(AVMetricFusionPreTrainedModel):
    """The two encoders, temporal and cross-modal attention, and the fusion layer; returns embeddings."""

    def __init__(self, config: AVMetricFusionConfig):
        super().__init__(config)
        self.config = config
        self.video_encoder = AVMetricFusionVideoEncoder(config)
        self.audio_encoder = AVMetricFusionAudioEncoder(config)
        if config.use_position_embeddings:
            self.video_position_embeddings = nn.Parameter(torch.zeros(1, config.num_snippets, config.hidden_size))
            self.audio_position_embeddings = nn.Parameter(torch.zeros(1, config.num_snippets, config.hidden_size))
        else:
            self.video_position_embeddings = None
            self.audio_position_embeddings = None
        attention_args = (
            config.hidden_size,
            config.num_attention_heads,
            config.attention_dropout,
            config.hidden_dropout,
        )
        self.video_temporal_attention = TemporalAttention(*attention_args)
        self.audio_temporal_attention = TemporalAttention(*attention_args)
        self.cross_attention = BidirectionalCrossAttention(*attention_args)
        self.fusion = nn.Linear(2 * config.hidden_size, config.fusion_hidden_size)
        self.fusion_activation = nn.GELU()
        self.post_init()

    # ----------------------------------------------------------------------------------------------
    # Input checks and snippet splitting
    # ----------------------------------------------------------------------------------------------

    def _batch_size(self, pixel_values_videos: torch.Tensor | None, input_features: torch.Tensor | None) -> int:
        if pixel_values_videos is None and input_features is None:
            raise ValueError("pass pixel_values_videos, input_features, or both")
        if pixel_values_videos is not None and input_features is not None:
            if pixel_values_videos.shape[0] != input_features.shape[0]:
                raise ValueError(
                    "pixel_values_videos and input_features have different batch sizes: "
                    f"{pixel_values_videos.shape[0]} and {input_features.shape[0]}"
                )
        return (pixel_values_videos if pixel_values_videos is not None else input_features).shape[0]

    @staticmethod
    def _frame_mask(
        mask: torch.Tensor | None, batch: int, length: int, name: str, device: torch.device
    ) -> torch.Tensor:
        if mask is None:
            return torch.ones(batch, length, dtype=torch.bool, device=device)
        if mask.shape != (batch, length):
            raise ValueError(f"{name} must have shape (batch, {length}) = ({batch}, {length}), got {tuple(mask.shape)}")
        return mask.to(device=device, dtype=torch.bool)

    def _encode_snippets(self, encoder: nn.Module, snippets: torch.Tensor, snippet_mask: torch.Tensor, *extra):
        """Run `encoder` on the snippets; return its outputs for all `B·S` snippets, zero at the invalid ones.

        `extra`: further per-snippet tensors `(B·S, ...)` passed to the encoder. Training encodes the valid snippets
        only (padding stays out of the batch-norm statistics) and returns None when there is none. Inference
        encodes every snippet (batch norm then uses its running statistics, so a snippet's features do not depend
        on the others) and zeroes the invalid ones: no branch on mask values, so the forward exports and compiles.
        """
        flat_mask = snippet_mask.reshape(-1)
        if not self.training:
            encoded = encoder(snippets, *extra)
            outputs = encoded if isinstance(encoded, tuple) else (encoded,)
            outputs = tuple(
                torch.where(flat_mask.view(-1, *[1] * (value.ndim - 1)), value, torch.zeros_like(value))
                for value in outputs
            )
            return outputs if isinstance(encoded, tuple) else outputs[0]
        index = flat_mask.nonzero().squeeze(1)
        if index.numel() == 0:
            return None
        encoded = encoder(snippets.index_select(0, index), *(value.index_select(0, index) for value in extra))
        outputs = encoded if isinstance(encoded, tuple) else (encoded,)
        outputs = tuple(
            value.new_zeros((flat_mask.shape[0], *value.shape[1:])).index_copy(0, index, value) for value in outputs
        )
        return outputs if isinstance(encoded, tuple) else outputs[0]

    def _video_snippets(self, pixel_values_videos: torch.Tensor, video_mask: torch.Tensor | None):
        """(B, S F, C, H, W), mask (B, S F) -> snippets (B S, C, F, H, W) with masked frames zeroed, mask (B, S)."""
        config = self.config
        snippets_per_clip, frames_per_snippet = config.num_snippets, config.frames_per_snippet
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                "pixel_values_videos must have shape (batch, frames, channels, height, width), got "
                f"{tuple(pixel_values_videos.shape)}"
            )
        batch, frames, num_channels, height, width = pixel_values_videos.shape
        if frames != snippets_per_clip * frames_per_snippet:
            raise ValueError(
                f"pixel_values_videos has {frames} frames but the model reads num_snippets ({snippets_per_clip}) x "
                f"frames_per_snippet ({frames_per_snippet}) = {snippets_per_clip * frames_per_snippet}; sample that "
                "many frames in the processor or change the config"
            )
        if num_channels != config.num_channels:
            raise ValueError(
                f"pixel_values_videos has {num_channels} channels, the config expects {config.num_channels}"
            )
        frame_mask = self._frame_mask(video_mask, batch, frames, "video_mask", pixel_values_videos.device)
        # Masked frames inside a valid snippet are zeroed (our choice), so padding never leaks in.
        pixels = pixel_values_videos * frame_mask[:, :, None, None, None].to(pixel_values_videos.dtype)
        snippets = pixels.view(batch, snippets_per_clip, frames_per_snippet, num_channels, height, width)
        snippets = snippets.transpose(2, 3).reshape(
            batch * snippets_per_clip, num_channels, frames_per_snippet, height, width
        )
        return snippets, frame_mask.view(batch, snippets_per_clip, frames_per_snippet).any(dim=-1)

    def encode_video(
        self, pixel_values_videos: torch.Tensor, video_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the video backbone: (B, S F, C, H, W), mask (B, S F) -> feature maps (B, S, C', F', H', W'), mask (B, S).

        The maps are the 3D ResNet's last feature maps per snippet (masked frames zeroed first), before the channel
        and spatial attention, which train; the mask is True for snippets with a valid frame. Pass both to
        `forward` as `video_encoder_outputs` / `video_encoder_mask` to skip the backbone (a frozen backbone's
        outputs computed once: the recipes' feature cache).
        """
        snippets, snippet_mask = self._video_snippets(pixel_values_videos, video_mask)
        maps = self.video_encoder.backbone(snippets)
        maps = maps * snippet_mask.reshape(-1, *[1] * (maps.ndim - 1)).to(maps.dtype)
        return maps.reshape(*snippet_mask.shape, *maps.shape[1:]), snippet_mask

    def _encode_video(
        self, pixel_values_videos, video_mask, batch, device, dtype, encoder_outputs=None, encoder_mask=None
    ):
        config = self.config
        snippets_per_clip = config.num_snippets
        channels = self.video_encoder.backbone.out_channels
        hidden = torch.zeros(batch * snippets_per_clip, config.hidden_size, device=device, dtype=dtype)
        channel = torch.zeros(batch * snippets_per_clip, channels, device=device, dtype=dtype)
        if encoder_outputs is not None:
            if encoder_outputs.ndim != 6 or encoder_outputs.shape[:3] != (batch, snippets_per_clip, channels):
                raise ValueError(
                    f"video_encoder_outputs must be (batch, num_snippets, {channels}, frames, height, width) = "
                    f"({batch}, {snippets_per_clip}, {channels}, ...), got {tuple(encoder_outputs.shape)}; compute "
                    "them with encode_video of this model"
                )
            snippet_mask = self._frame_mask(encoder_mask, batch, snippets_per_clip, "video_encoder_mask", device)
            map_height, map_width = encoder_outputs.shape[-2:]
            encoded = self._encode_snippets(
                self.video_encoder.attend, encoder_outputs.flatten(0, 1).to(dtype), snippet_mask
            )
        elif pixel_values_videos is None:
            snippet_mask = torch.zeros(batch, snippets_per_clip, dtype=torch.bool, device=device)
            return hidden.view(batch, snippets_per_clip, -1), snippet_mask, None, channel
        else:
            snippets, snippet_mask = self._video_snippets(pixel_values_videos, video_mask)
            encoded = self._encode_snippets(self.video_encoder, snippets, snippet_mask)
            map_height, map_width = self.video_encoder.feature_map_size(*pixel_values_videos.shape[-2:])
        spatial = torch.zeros(batch * snippets_per_clip, map_height, map_width, device=device, dtype=dtype)
        if encoded is not None:
            features, spatial_weights, channel_weights = encoded
            hidden, spatial, channel = features.to(dtype), spatial_weights.to(dtype), channel_weights.to(dtype)
        return (
            hidden.view(batch, snippets_per_clip, -1),
            snippet_mask,
            spatial.view(batch, snippets_per_clip, map_height, map_width),
            channel.view(batch, snippets_per_clip, channels),
        )

    def _encode_audio(self, input_features, audio_mask, batch, device, dtype):
        config = self.config
        snippets_per_clip = config.num_snippets
        hidden = torch.zeros(batch * snippets_per_clip, config.hidden_size, device=device, dtype=dtype)
        if input_features is None:
            snippet_mask = torch.zeros(batch, snippets_per_clip, dtype=torch.bool, device=device)
            return hidden.view(batch, snippets_per_clip, -1), snippet_mask
        if input_features.ndim != 3 or input_features.shape[1] != config.num_mel_bins:
            raise ValueError(
                f"input_features must have shape (batch, num_mel_bins={config.num_mel_bins}, frames), got "
                f"{tuple(input_features.shape)}; match the processor's mel bins to the config"
            )
        frames = input_features.shape[2]
        if frames < snippets_per_clip:
            raise ValueError(
                f"input_features has {frames} frames, fewer than num_snippets ({snippets_per_clip}); pass a longer clip"
            )
        frame_mask = self._frame_mask(audio_mask, batch, frames, "audio_mask", device)
        # Each clip's own audio (up to its last valid frame) is cut into S snippets covering the spans of its
        # video snippets; masked frames are zeroed (our choice) and each snippet's padding is ignored.
        segments, lengths, segment_mask = split_audio_into_subclips(input_features, frame_mask, snippets_per_clip)
        per_snippet = segments.shape[-1]
        snippets = segments.reshape(batch * snippets_per_clip, 1, config.num_mel_bins, per_snippet)
        snippet_mask = segment_mask.any(dim=-1)
        encoded = self._encode_snippets(self.audio_encoder, snippets, snippet_mask, lengths.reshape(-1))
        if encoded is not None:
            hidden = encoded.to(dtype)
        return hidden.view(batch, snippets_per_clip, -1), snippet_mask

    # ----------------------------------------------------------------------------------------------

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
    ) -> AVMetricFusionModelOutput | tuple:
        r"""Encode a batch of clips into fused embeddings.

        Args:
            pixel_values_videos (`torch.FloatTensor` of shape `(batch, S * F, num_channels, height, width)`):
                Video frames from the processor, `S = num_snippets`, `F = frames_per_snippet`. Optional.
            input_features (`torch.FloatTensor` of shape `(batch, num_mel_bins, frames)`):
                Log-mel spectrogram. Each clip's own frames (up to its last frame marked in `audio_mask`) are
                split into S consecutive parts, frames `[floor(s n / S), floor((s + 1) n / S))` for n frames,
                the spans of its video snippets whatever the batch padding. Optional.
            video_mask (`torch.BoolTensor` of shape `(batch, S * F)`):
                True for real frames, all False for a sample without video. A snippet with no real frame is
                skipped. Optional (all True).
            audio_mask (`torch.BoolTensor` of shape `(batch, frames)`):
                The same for the spectrogram frames. Optional (all True).
            output_attentions (`bool`, *optional*): Return the attention maps, by name:

                - `"spatial"` `(batch, S, H', W')`: softmax over the last video feature map's positions per
                  snippet (`H' = ceil(H / 16)`, same for W), zeros for a skipped snippet, and of shape
                  `(batch, S, 0, 0)` when `pixel_values_videos` is not passed at all;
                - `"channel"` `(batch, S, widths[-1])`: squeeze-excitation gates per snippet, zeros for a
                  skipped snippet;
                - `"temporal_video"`, `"temporal_audio"` `(batch, heads, S, S)`: self-attention over
                  snippets (query snippet, key snippet);
                - `"cross_audio_to_video"` `(batch, heads, S, S)`: audio snippets (rows) attending to video
                  snippets (columns); `"cross_video_to_audio"` the reverse. A row is all zeros where the
                  other modality is missing.
            return_dict (`bool`, *optional*): Return an `AVMetricFusionModelOutput` (else a tuple).
            has_video (`torch.BoolTensor` of shape `(batch,)`, *optional*): The processor's presence flag;
                False clears that sample's `video_mask` row.
            has_audio (`torch.BoolTensor` of shape `(batch,)`, *optional*): The same for `audio_mask`.
            face_found (`torch.BoolTensor` of shape `(batch,)`, *optional*): The processor's face flag; accepted
                so that the processor's output feeds the model, not read.
            output_hidden_states (`bool`, *optional*): Also return `hidden_states`, `(batch, S, hidden_size)`
                snippet sequences by name: `"video_snippets"` / `"audio_snippets"` (encoder outputs, with position
                embeddings when configured), `"temporal_video"` / `"temporal_audio"` (after temporal attention),
                `"cross_audio"` / `"cross_video"` (after cross-attention). Default `config.output_hidden_states`.
            video_encoder_outputs (`torch.FloatTensor` of shape `(batch, S, channels, F', H', W')`, *optional*):
                Precomputed outputs of the video backbone (`encode_video`), in place of `pixel_values_videos` (the
                backbone is not run; the channel and spatial attention are). The result is the one the frames give.
            video_encoder_mask (`torch.BoolTensor` of shape `(batch, S)`, *optional*): The snippet mask
                `encode_video` returns with them, in place of `video_mask` (default: every snippet valid).
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        implementation = "eager" if output_attentions else (self.config._attn_implementation or "sdpa")
        check_encoder_outputs("video", pixel_values_videos, video_mask, video_encoder_outputs, video_encoder_mask)
        video_input = pixel_values_videos if video_encoder_outputs is None else video_encoder_outputs
        batch = self._batch_size(video_input, input_features)
        video_mask, audio_mask = fold_presence_flags(
            pixel_values_videos, input_features, video_mask, audio_mask, has_video, has_audio
        )
        if video_encoder_outputs is not None:
            video_encoder_mask = fold_presence_flag(
                video_encoder_mask, has_video, video_encoder_outputs, 1, "has_video"
            )
        reference = video_input if video_input is not None else input_features
        device, dtype = reference.device, self.fusion.weight.dtype

        video, video_snippet_mask, spatial, channel = self._encode_video(
            pixel_values_videos, video_mask, batch, device, dtype, video_encoder_outputs, video_encoder_mask
        )
        audio, audio_snippet_mask = self._encode_audio(input_features, audio_mask, batch, device, dtype)
        video_present = video_snippet_mask.any(dim=1)
        audio_present = audio_snippet_mask.any(dim=1)
        # A value check, skipped while torch.export / torch.compile trace the graph (it would be a data-dependent
        # branch there); eager calls keep the clear error.
        if not torch.compiler.is_compiling() and not bool((video_present | audio_present).all()):
            missing = (~(video_present | audio_present)).nonzero().flatten().tolist()
            raise ValueError(f"samples {missing} have neither video nor audio (both masks all False)")

        if self.video_position_embeddings is not None:
            video = video + self.video_position_embeddings
            audio = audio + self.audio_position_embeddings
        hidden_states = {"video_snippets": video, "audio_snippets": audio}
        video, temporal_video = self.video_temporal_attention(video, video_snippet_mask, implementation)
        audio, temporal_audio = self.audio_temporal_attention(audio, audio_snippet_mask, implementation)
        hidden_states.update(temporal_video=video, temporal_audio=audio)
        video_embeddings = masked_mean(video, video_snippet_mask)
        audio_embeddings = masked_mean(audio, audio_snippet_mask)

        audio_fused, video_fused, audio_to_video, video_to_audio = self.cross_attention(
            audio, video, audio_snippet_mask, video_snippet_mask, implementation
        )
        hidden_states.update(cross_audio=audio_fused, cross_video=video_fused)
        pooled = torch.cat(
            [masked_mean(audio_fused, audio_snippet_mask), masked_mean(video_fused, video_snippet_mask)], dim=-1
        )
        embeddings = self.fusion_activation(self.fusion(pooled))

        attentions = None
        if output_attentions:
            if spatial is None:
                # No video input at all: the map has no size to report; keep the key with an empty map.
                spatial = torch.zeros(batch, self.config.num_snippets, 0, 0, device=device, dtype=dtype)
            attentions = {
                "spatial": spatial,
                "channel": channel,
                "temporal_video": temporal_video,
                "temporal_audio": temporal_audio,
                "cross_audio_to_video": audio_to_video,
                "cross_video_to_audio": video_to_audio,
            }
        output = AVMetricFusionModelOutput(
            embeddings=embeddings,
            audio_embeddings=audio_embeddings,
            video_embeddings=video_embeddings,
            audio_present=audio_present,
            video_present=video_present,
            attentions=attentions,
            hidden_states=hidden_states if output_hidden_states else None,
        )
        return output if return_dict else output.to_tuple()


class AVMetricFusionForEmotionClassification(AVMetricFusionPreTrainedModel):
    """Categorical emotion head: fused logits, per-modality logits, and the emotional-metric loss.

    Loss (when `labels` are given): `cross_entropy(logits) + metric_loss_weight · EmotionRelationMetric`
    (triplet loss on the fused embeddings with margins from the learnable class relations, plus the term
    that keeps them near the valence-arousal prior), plus the per-modality heads' cross-entropy (see
    `AVMetricFusionConfig.auxiliary_loss_weight`), averaged over the samples that have that modality.
    """

    def __init__(self, config: AVMetricFusionConfig):
        super().__init__(config)
        self.config = config
        self.num_labels = config.num_labels
        self.av_metric_fusion = AVMetricFusionModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.fusion_hidden_size, config.num_labels)
        self.audio_classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.video_classifier = nn.Linear(config.hidden_size, config.num_labels)
        labels = [config.id2label[index] for index in range(config.num_labels)]
        self.emotion_metric = EmotionRelationMetric(
            circumplex_positions(labels, config.emotion_circumplex),
            margin=config.metric_margin,
            mining=config.metric_mining,
            normalize_embeddings=config.metric_normalize_embeddings,
            prior_weight=config.metric_prior_weight,
        )
        self.post_init()

    def emotion_relation_matrix(self) -> torch.Tensor:
        """Learned semantic distance between the emotions, `(num_labels, num_labels)`, detached.

        Symmetric, zero diagonal, off-diagonal mean 1; ordered as `config.id2label`. The triplet margin
        between classes i and j is `config.metric_margin` times entry (i, j).
        """
        with torch.no_grad():
            return self.emotion_metric.relation_matrix().detach().clone()

    def _branch_loss(self, head: nn.Linear, features: torch.Tensor, labels: torch.Tensor, present: torch.Tensor):
        weight = float(self.config.auxiliary_loss_weight)
        if weight == 0.0:
            # Probe: only the head learns; the encoders see no per-modality loss.
            features, weight = features.detach(), 1.0
        per_sample = nn.functional.cross_entropy(head(features), labels, reduction="none")
        present = present.to(per_sample.dtype)
        return weight * (per_sample * present).sum() / present.sum().clamp_min(1.0)

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
        r"""Classify a batch of clips.

        Args:
            pixel_values_videos (`torch.FloatTensor`): As in [`AVMetricFusionModel.forward`].
            input_features (`torch.FloatTensor`): As in [`AVMetricFusionModel.forward`].
            video_mask (`torch.BoolTensor`): As in [`AVMetricFusionModel.forward`].
            audio_mask (`torch.BoolTensor`): As in [`AVMetricFusionModel.forward`].
            output_attentions (`bool`): Return the attention maps documented in
                [`AVMetricFusionModel.forward`].
            labels (`torch.LongTensor` of shape `(batch,)`, *optional*): Class indices in
                `[0, num_labels)`; when given, `loss` is returned.
            return_dict (`bool`, *optional*): Return an `AVEmotionOutput` (else a tuple).
            has_video (`torch.BoolTensor`, *optional*): As in [`AVMetricFusionModel.forward`].
            has_audio (`torch.BoolTensor`, *optional*): As in [`AVMetricFusionModel.forward`].
            face_found (`torch.BoolTensor`, *optional*): As in [`AVMetricFusionModel.forward`].
            output_embeddings (`bool`, *optional*): Also return the fused `embeddings`.
            output_hidden_states (`bool`, *optional*): As in [`AVMetricFusionModel.forward`].
            video_encoder_outputs (`torch.FloatTensor`, *optional*): Precomputed backbone outputs, as in
                [`AVMetricFusionModel.forward`].
            video_encoder_mask (`torch.BoolTensor`, *optional*): As in [`AVMetricFusionModel.forward`].

        Returns:
            `AVEmotionOutput` with `logits (batch, num_labels)`, `audio_logits` and `video_logits`
            `(batch, num_labels)` from each branch alone (before cross-attention), `embeddings (batch,
            fusion_hidden_size)` when asked, `attentions` when asked, and `loss` when `labels` are given. As a
            tuple: `(loss, logits, ...)`, or `(logits, ...)` without labels.
        """
        outputs = self.av_metric_fusion(
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
        audio_logits = self.audio_classifier(outputs.audio_embeddings)
        video_logits = self.video_classifier(outputs.video_embeddings)

        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:1]:
                raise ValueError(f"labels must have shape (batch,) = ({logits.shape[0]},), got {tuple(labels.shape)}")
            labels = labels.to(device=logits.device, dtype=torch.long)
            if bool(((labels < 0) | (labels >= self.num_labels)).any()):
                raise ValueError(f"labels must be class indices in [0, {self.num_labels}), got {labels.tolist()}")
            loss = nn.functional.cross_entropy(logits, labels)
            if self.config.metric_loss_weight:
                loss = loss + self.config.metric_loss_weight * self.emotion_metric(outputs.embeddings, labels)
            loss = loss + self._branch_loss(
                self.audio_classifier, outputs.audio_embeddings, labels, outputs.audio_present
            )
            loss = loss + self._branch_loss(
                self.video_classifier, outputs.video_embeddings, labels, outputs.video_present
            )

        output = AVEmotionOutput(
            loss=loss,
            logits=logits,
            audio_logits=audio_logits,
            video_logits=video_logits,
            embeddings=outputs.embeddings if output_embeddings else None,
            attentions=outputs.attentions,
            hidden_states=outputs.hidden_states,
        )
        return output if return_dict else output.to_tuple()


__all__ = [
    "AVMetricFusionForEmotionClassification",
    "AVMetricFusionModel",
    "AVMetricFusionModelOutput",
    "AVMetricFusionPreTrainedModel",
]
