"""Joint Cross-Attention model (Praveen et al., CVPRW 2022) for audio-visual emotion recognition.

A clip is L sub-clips. Each sub-clip's F face frames go through an R(2+1)D-18, its log-mel segment through a
1-channel ResNet-18; global pooling gives one vector per sub-clip and modality, projected to d:
Xa, Xv (L x d). The joint cross-attention then fuses the two sequences with the paper's equations
(section 3, "joint cross-attentional fusion"), written here with time along the rows (L x d):

    J      = [Xa ; Xv]                                 (L x 2d)   joint representation
    Ca     = tanh(Xa^T W_ja J / sqrt(2d))              (d x 2d)   W_ja (L x L) acts on the time axis, so
    Cv     = tanh(Xv^T W_jv J / sqrt(2d))              (d x 2d)   the correlation is channel-to-channel
    Ha     = ReLU(W_a Xa + W_ca Ca^T)                  (k x d)    W_a (k x L), W_ca (k x 2d), k = 32
    Hv     = ReLU(W_v Xv + W_cv Cv^T)                  (k x d)
    Xatt_a = W_ha Ha + Xa,  Xatt_v = W_hv Hv + Xv      (L x d)    W_ha, W_hv (L x k), residual

and separate valence and arousal heads read [Xatt_a ; Xatt_v] (L x 2d) at every sub-clip. Everything is
batched: no loop over the batch (the authors' code fuses one sample at a time).

Not copied from the authors' code (DESIGN 4.2): their regressors are 640 wide and read the raw 512-d visual
features with the attended visual ones (fed the paper's 256-wide [Xatt_a ; Xatt_v] they crash); here the
heads read [Xatt_a ; Xatt_v], 2d wide, with a ReLU between their two linear layers (the CVPRW heads have
none, so they collapse to one linear map; their later code adds it). Their CCC goes through
rho = cov / (std std), whose gradient is NaN for constant predictions (see
`losses.concordance_correlation_coefficient`). Their `.view(-1, 49, 512)` of a channel-major feature map
mixes channels and positions: here each sub-clip's feature map is pooled over (time, height, width) per
channel. Sub-clips and their audio segments are cut along the time axis of each tensor (never the mel axis).

Missing modalities: a sub-clip counts as present in a modality if any of its frames is unmasked. The
projected features of absent sub-clips are set to zero before fusion. The fusion weights have no bias, so a
modality that is absent from a whole clip contributes exactly zero to the correlations, and its own attended
features are exactly zero: the clip is predicted from the other modality alone (through the joint
correlation, which then holds only that modality). Clip-level outputs average the sub-clips where at least
one modality is present; a clip with neither modality gets 0 (neutral affect / uniform class scores).
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_layers import GradientCheckpointingLayer

from av_emotion.modeling.losses import CCCLoss
from av_emotion.modeling.modules.mini_xception import MiniXceptionEncoder
from av_emotion.modeling.modules.resnet import ResNet2dEncoder, ResNet3dEncoder, masked_feature_mean
from av_emotion.modeling.modules.subclips import split_audio_into_subclips
from av_emotion.modeling.modules.transformers_encoders import (
    TransformersAudioEncoder,
    TransformersClipEncoder,
    TransformersFrameEncoder,
    build_with_pretrained_encoders,
    is_video_model_config,
)
from av_emotion.modeling.outputs import AVEmotionOutput
from av_emotion.modeling.presence import check_encoder_outputs, fold_presence_flag, fold_presence_flags

from .configuration_joint_cross_attention import REGRESSION_TARGETS, JointCrossAttentionConfig

logger = logging.getLogger(__name__)


@dataclass
class JointCrossAttentionOutput(AVEmotionOutput):
    """[`AVEmotionOutput`] plus the per-sub-clip results of the Joint Cross-Attention model.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Regression: (1 - CCC_valence) + (1 - CCC_arousal); classification: cross-entropy.
        logits (`torch.FloatTensor` of shape `(batch_size, num_outputs)`):
            Clip-level outputs: the mean of `step_logits` over the sub-clips where `step_mask` is true.
            Regression: (valence, arousal) in [-1, 1]; classification: class scores before softmax.
            `None` from the base model.
        embeddings (`torch.FloatTensor` of shape `(batch_size, 2 * fusion_hidden_size)`):
            Mean of `last_hidden_state` over the valid sub-clips.
        attentions (`dict[str, torch.FloatTensor]`, *optional*):
            With `output_attentions=True`: `"audio_attention"` H_a and `"video_attention"` H_v, each
            `(batch_size, attention_hidden_size, fusion_hidden_size)` (k x d per clip), and
            `"audio_correlation"` C_a and `"video_correlation"` C_v, each
            `(batch_size, fusion_hidden_size, 2 * fusion_hidden_size)` (d x 2d per clip).
        step_logits (`torch.FloatTensor` of shape `(batch_size, num_subclips, num_outputs)`):
            Per-sub-clip outputs (the paper predicts per sub-clip / frame). Each sub-clip covers
            `frames_per_subclip` input frames; see `JointCrossAttentionForEmotionRegression.frame_predictions`.
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_subclips, 2 * fusion_hidden_size)`):
            The attended features [Xatt_a ; Xatt_v] of every sub-clip.
        step_mask (`torch.BoolTensor` of shape `(batch_size, num_subclips)`):
            True where the sub-clip has at least one modality present.
    """

    step_logits: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    step_mask: torch.BoolTensor | None = None


class JointCrossAttentionPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading conventions shared by the Joint Cross-Attention classes."""

    config: JointCrossAttentionConfig
    config_class = JointCrossAttentionConfig
    base_model_prefix = "joint_cross_attention"
    main_input_name = "pixel_values_videos"
    input_modalities = ("video", "audio")
    # The fusion is a `GradientCheckpointingLayer`; the ResNet backbones are not checkpointed (their batch norm
    # would update its running statistics a second time in the recomputation). JCA has no dot-product attention
    # (its maps come from correlation matrices), so there is no attention implementation to choose.
    supports_gradient_checkpointing = True

    @classmethod
    def from_encoders_pretrained(
        cls, vision_encoder: str | None = None, audio_encoder: str | None = None, **config_kwargs
    ) -> JointCrossAttentionPreTrainedModel:
        """Build JCA around pretrained transformers encoders (path or Hub id each, either optional).

        The checkpoints' configs become `vision_encoder_config` / `audio_encoder_config` and their weights are
        loaded; projections, fusion and heads are freshly initialised. Pair with `AVEmotionProcessor.from_encoders`.
        """
        return build_with_pretrained_encoders(
            cls, JointCrossAttentionConfig, vision_encoder, audio_encoder, **config_kwargs
        )

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # Through `transformers.initialization`, so loading a checkpoint does not overwrite loaded weights.
        gain = self.config.initializer_gain
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            # He initialisation, fan-out, as in standard ResNets / R(2+1)D.
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            # Authors' code: Xavier uniform weights, zero biases.
            init.xavier_uniform_(module.weight, gain=gain)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)
        elif isinstance(module, JointCrossAttentionFusion):
            for weight in module.parameters(recurse=False):
                init.xavier_uniform_(weight, gain=gain)

    @property
    def dummy_inputs(self) -> dict[str, torch.Tensor]:
        """Inputs of the right shapes for this config: 2 clips, `num_frames` frames, 4 log-mel frames a sub-clip."""
        config = self.config
        audio_frames = 4 * config.num_subclips
        size = config.image_size
        if config.audio_encoder_config is not None:
            audio_frames = 400 + 320 * 2 * config.num_subclips  # two speech-model frames a sub-clip (wav2vec2: 320x)
        if config.vision_encoder_config is not None:
            size = getattr(config.vision_encoder_config, "image_size", size)
        return {
            "pixel_values_videos": torch.randn(2, config.num_frames, config.num_channels, size, size),
            "input_features": torch.randn(2, config.num_mel_bins, audio_frames),
            "video_mask": torch.ones(2, config.num_frames, dtype=torch.bool),
            "audio_mask": torch.ones(2, audio_frames, dtype=torch.bool),
        }


class JointCrossAttentionFusion(GradientCheckpointingLayer):
    """The joint cross-attention fusion of Praveen et al. 2022, batched over clips.

    The parameters carry the paper's names and shapes (L = `num_subclips`, d = `fusion_hidden_size`,
    k = `attention_hidden_size`): `w_ja`, `w_jv` (L x L), `w_a`, `w_v` (k x L), `w_ca`, `w_cv` (k x 2d),
    `w_ha`, `w_hv` (L x k). No biases, as in the paper's equations and the authors' code.
    """

    def __init__(self, num_subclips: int, hidden_size: int, attention_hidden_size: int):
        super().__init__()
        length, d, k = num_subclips, hidden_size, attention_hidden_size
        self.num_subclips = length
        self.hidden_size = d
        self.w_ja = nn.Parameter(torch.empty(length, length))
        self.w_jv = nn.Parameter(torch.empty(length, length))
        self.w_a = nn.Parameter(torch.empty(k, length))
        self.w_v = nn.Parameter(torch.empty(k, length))
        self.w_ca = nn.Parameter(torch.empty(k, 2 * d))
        self.w_cv = nn.Parameter(torch.empty(k, 2 * d))
        self.w_ha = nn.Parameter(torch.empty(length, k))
        self.w_hv = nn.Parameter(torch.empty(length, k))
        for weight in self.parameters():
            nn.init.xavier_uniform_(weight)

    def forward(
        self, audio_features: torch.Tensor, video_features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Fuse Xa, Xv (B, L, d) into Xatt_a, Xatt_v (B, L, d); also returns {H_a, H_v (B, k, d), C_a, C_v (B, d, 2d)}."""
        expected = (self.num_subclips, self.hidden_size)
        if audio_features.shape[1:] != expected or video_features.shape != audio_features.shape:
            raise ValueError(
                f"fusion expects audio and video features of shape (batch, {expected[0]}, {expected[1]}), got "
                f"{tuple(audio_features.shape)} and {tuple(video_features.shape)}"
            )
        joint = torch.cat([audio_features, video_features], dim=-1)  # J: (B, L, 2d)
        # The 1/sqrt(2d) scale is applied to W J (B, L, 2d), the smaller factor of the product.
        scale = 1.0 / math.sqrt(joint.shape[-1])
        audio_t = audio_features.transpose(1, 2)  # Xa^T: (B, d, L)
        video_t = video_features.transpose(1, 2)
        # (L x L) @ (B, L, 2d) broadcasts the time-axis weights over the batch.
        audio_correlation = torch.tanh(audio_t @ (self.w_ja @ joint * scale))  # C_a: (B, d, 2d)
        video_correlation = torch.tanh(video_t @ (self.w_jv @ joint * scale))  # C_v: (B, d, 2d)
        # H^T = ReLU(C W_c^T + X^T W^T), (B, d, k): a (B, d, .) @ (., k) product runs as one matrix product
        # over all clips; H = (H^T)^T is the paper's k x d map.
        audio_attention_t = torch.relu(audio_correlation @ self.w_ca.T + audio_t @ self.w_a.T)
        video_attention_t = torch.relu(video_correlation @ self.w_cv.T + video_t @ self.w_v.T)
        # X_att = W_h H + X = (H^T W_h^T)^T + X, (B, L, d).
        attended_audio = (audio_attention_t @ self.w_ha.T).transpose(1, 2) + audio_features
        attended_video = (video_attention_t @ self.w_hv.T).transpose(1, 2) + video_features
        audio_attention = audio_attention_t.transpose(1, 2)  # H_a: (B, k, d)
        video_attention = video_attention_t.transpose(1, 2)  # H_v: (B, k, d)
        maps = {
            "audio_attention": audio_attention,
            "video_attention": video_attention,
            "audio_correlation": audio_correlation,
            "video_correlation": video_correlation,
        }
        return attended_audio, attended_video, maps


class JointCrossAttentionModel(JointCrossAttentionPreTrainedModel):
    """Backbones, projections and joint cross-attention fusion; returns the attended sub-clip features.

    Inputs (the av_emotion model contract, DESIGN section 3):
        pixel_values_videos (`torch.FloatTensor` of shape `(batch, T, channels, height, width)`), T =
            `num_subclips * frames_per_subclip`; frame t belongs to sub-clip t // frames_per_subclip.
        input_features (`torch.FloatTensor` of shape `(batch, num_mel_bins, frames)`): log-mel of the same clip.
            Each clip's own audio (up to its last frame marked in `audio_mask`) is cut into `num_subclips`
            consecutive segments, frames `[floor(l n / L), floor((l + 1) n / L))` for a clip of n frames, so
            audio sub-clip l covers the same span of the clip as video sub-clip l whatever the padding.
        video_mask (`torch.BoolTensor` of shape `(batch, T)`) and audio_mask (`(batch, frames)`): True for real
            frames. A missing tensor means the modality is absent from every clip.

    Returns a [`JointCrossAttentionOutput`] with `last_hidden_state`, `embeddings`, `step_mask` and, when
    asked, `attentions`; `logits` is None.
    """

    def __init__(self, config: JointCrossAttentionConfig):
        super().__init__(config)
        if config.vision_encoder_config is not None:
            if is_video_model_config(config.vision_encoder_config):
                self.video_encoder = TransformersClipEncoder(config.vision_encoder_config)
            else:
                self.video_encoder = TransformersFrameEncoder(config.vision_encoder_config)
        elif config.visual_backbone == "mini_xception":
            self.video_encoder = MiniXceptionEncoder.from_model_config(config)
        else:
            self.video_encoder = ResNet3dEncoder(
                in_channels=config.num_channels,
                depth=config.visual_depth,
                widths=config.visual_widths,
                conv_type=config.visual_conv_type,
                temporal_downsample=config.visual_temporal_downsample,
                layout=config.visual_backbone_layout,
            )
        if config.audio_encoder_config is not None:
            self.audio_encoder = TransformersAudioEncoder(config.audio_encoder_config)
        else:
            self.audio_encoder = ResNet2dEncoder(
                in_channels=1, depth=config.audio_depth, widths=config.audio_widths, stem_pool=config.audio_stem_pool
            )
        self.video_projection = nn.Linear(self.video_encoder.out_channels, config.fusion_hidden_size)
        self.audio_projection = nn.Linear(self.audio_encoder.out_channels, config.fusion_hidden_size)
        self.fusion = JointCrossAttentionFusion(
            config.num_subclips, config.fusion_hidden_size, config.attention_hidden_size
        )
        self.post_init()

    def encode_video(
        self, pixel_values_videos: torch.Tensor, video_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the video encoder: (B, T, C, H, W), mask (B, T) -> pooled outputs (B, L, C_v) and presence (B, L).

        The outputs are the encoder's pooled features of each sub-clip, before `video_projection` (masked frames
        are zeroed first); presence is True for sub-clips with at least one valid frame. Pass both to `forward` as
        `video_encoder_outputs` / `video_encoder_mask` to skip the encoder (a frozen encoder's outputs computed
        once: the recipes' feature cache).
        """
        config = self.config
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                f"pixel_values_videos must be (batch, frames, channels, height, width), got {tuple(pixel_values_videos.shape)}"
            )
        batch, frames, channels, height, width = pixel_values_videos.shape
        if frames != config.num_frames or channels != config.num_channels:
            raise ValueError(
                f"pixel_values_videos has {frames} frames of {channels} channels; this model needs "
                f"{config.num_frames} frames ({config.num_subclips} sub-clips x {config.frames_per_subclip}) of "
                f"{config.num_channels} channels. Use the processor saved with the model."
            )
        presence = self._step_mask(video_mask, batch, frames, "video_mask", pixel_values_videos.device)
        if isinstance(self.video_encoder, TransformersClipEncoder):
            # A transformers video model on each sub-clip; masked frames are zero, as for the 3D CNN.
            if video_mask is not None and video_mask.shape == (batch, frames):
                pixel_values_videos = pixel_values_videos * video_mask[:, :, None, None, None].to(
                    pixel_values_videos.dtype
                )
            subclips = pixel_values_videos.reshape(
                batch * config.num_subclips, config.frames_per_subclip, channels, height, width
            )
            pooled = self.video_encoder(subclips)
            return pooled.reshape(batch, config.num_subclips, -1), presence
        if isinstance(self.video_encoder, (MiniXceptionEncoder, TransformersFrameEncoder)):
            # A frame encoder: every frame, then the mean over each sub-clip's valid frames.
            frame_features = self.video_encoder(pixel_values_videos.reshape(batch * frames, channels, height, width))
            frame_features = frame_features.reshape(batch * config.num_subclips, config.frames_per_subclip, -1)
            if video_mask is not None and video_mask.shape == (batch, frames):
                weights = video_mask.reshape(batch * config.num_subclips, config.frames_per_subclip, 1)
                weights = weights.to(frame_features.dtype)
                pooled = (frame_features * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            else:
                pooled = frame_features.mean(dim=1)
            return pooled.reshape(batch, config.num_subclips, -1), presence
        if video_mask is not None and video_mask.shape == (batch, frames):
            # Masked frames inside a present sub-clip are zero, so padding never reaches the encoder.
            pixel_values_videos = pixel_values_videos * video_mask[:, :, None, None, None].to(pixel_values_videos.dtype)
        subclips = pixel_values_videos.reshape(
            batch * config.num_subclips, config.frames_per_subclip, channels, height, width
        ).transpose(1, 2)  # (B L, C, F, H, W)
        feature_map = self.video_encoder(subclips)
        pooled = feature_map.mean(dim=(2, 3, 4))  # global pooling per sub-clip
        return pooled.reshape(batch, config.num_subclips, -1), presence

    def encode_audio(
        self, input_features: torch.Tensor, audio_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the audio encoder: (B, n_mels, N), mask (B, N) -> pooled outputs (B, L, C_a) and presence (B, L).

        Each clip's own audio (up to its last valid frame) is cut into L sub-clips covering the same spans as
        its video sub-clips (`split_audio_into_subclips`); the ResNet ignores each segment's padding, so a
        clip's features do not depend on how long its batch-mates are. The outputs come before
        `audio_projection`; pass them to `forward` as `audio_encoder_outputs` / `audio_encoder_mask` to skip the
        encoder.
        """
        config = self.config
        if input_features.ndim != 3 or input_features.shape[1] != config.num_mel_bins:
            raise ValueError(
                f"input_features must be (batch, {config.num_mel_bins} mel bins, frames), got "
                f"{tuple(input_features.shape)}. Use the processor saved with the model."
            )
        batch, n_mels, frames = input_features.shape
        if frames < config.num_subclips:
            raise ValueError(
                f"input_features has {frames} frames, fewer than the {config.num_subclips} sub-clips it is cut into"
            )
        if audio_mask is not None and audio_mask.shape != (batch, frames):
            raise ValueError(f"audio_mask must be (batch, frames) = {(batch, frames)}, got {tuple(audio_mask.shape)}")
        if isinstance(self.audio_encoder, TransformersAudioEncoder):
            # The speech model on the whole waveform, then its frames cut into the L sub-clips and averaged.
            sample_mask = (
                torch.ones(batch, frames, dtype=torch.bool, device=input_features.device)
                if audio_mask is None
                else audio_mask.bool()
            )
            hidden, hidden_mask = self.audio_encoder(input_features[:, 0], sample_mask)
            if hidden.shape[-1] < config.num_subclips:
                raise ValueError(
                    f"the audio encoder gives {hidden.shape[-1]} frames for {frames} samples, fewer than the "
                    f"{config.num_subclips} sub-clips; pass a longer clip"
                )
            segments, _, frame_mask = split_audio_into_subclips(hidden, hidden_mask, config.num_subclips)
            weights = frame_mask[:, :, None, :].to(segments.dtype)  # (B, L, 1, W)
            pooled = (segments * weights).sum(dim=-1) / weights.sum(dim=-1).clamp(min=1.0)
            return pooled, frame_mask.any(dim=-1)
        segments, lengths, frame_mask = split_audio_into_subclips(input_features, audio_mask, config.num_subclips)
        width = segments.shape[-1]
        lengths = lengths.reshape(batch * config.num_subclips)
        feature_map = self.audio_encoder(segments.reshape(batch * config.num_subclips, 1, n_mels, width), lengths)
        pooled = masked_feature_mean(feature_map, self.audio_encoder.output_lengths(lengths))
        return pooled.reshape(batch, config.num_subclips, -1), frame_mask.any(dim=-1)

    def _step_mask(self, mask: torch.Tensor | None, batch: int, frames: int, name: str, device) -> torch.Tensor:
        """Frame mask (B, N) -> sub-clip presence (B, L): a sub-clip is present if any of its frames is."""
        length = self.config.num_subclips
        if mask is None:
            return torch.ones(batch, length, dtype=torch.bool, device=device)
        if mask.shape != (batch, frames):
            raise ValueError(f"{name} must be (batch, frames) = {(batch, frames)}, got {tuple(mask.shape)}")
        per_step = frames // length
        return mask[:, : per_step * length].reshape(batch, length, per_step).to(torch.bool).any(dim=-1)

    def _encoder_output_mask(
        self,
        modality: str,
        outputs: torch.Tensor,
        mask: torch.Tensor | None,
        present: torch.Tensor | None,
        batch: int,
        projection: nn.Linear,
    ) -> torch.Tensor:
        """Check precomputed `<modality>_encoder_outputs` (B, L, C) and return their sub-clip presence (B, L)."""
        expected = (batch, self.config.num_subclips, projection.in_features)
        if tuple(outputs.shape) != expected:
            raise ValueError(
                f"{modality}_encoder_outputs must be (batch, num_subclips, encoder width) = {expected}, got "
                f"{tuple(outputs.shape)}; compute them with encode_{modality} of this model"
            )
        if mask is not None and tuple(mask.shape) != expected[:2]:
            raise ValueError(
                f"{modality}_encoder_mask must be (batch, num_subclips) = {expected[:2]}, got {tuple(mask.shape)}"
            )
        flag_name = f"has_{modality}"
        steps = fold_presence_flag(mask, present, outputs, 1, flag_name)
        if steps is None:
            return torch.ones(expected[:2], dtype=torch.bool, device=outputs.device)
        return steps.to(torch.bool)

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
        output_hidden_states: bool | None = None,
        video_encoder_outputs: torch.Tensor | None = None,
        video_encoder_mask: torch.Tensor | None = None,
        audio_encoder_outputs: torch.Tensor | None = None,
        audio_encoder_mask: torch.Tensor | None = None,
    ) -> JointCrossAttentionOutput | tuple:
        """Encode both modalities per sub-clip and fuse them; `labels` is accepted and ignored here.

        `has_video` / `has_audio` `(batch,)` bool (the processor's flags): False clears that clip's mask row.
        `face_found` is accepted so that the processor's output feeds the model, and not read.
        `output_hidden_states` (default `config.output_hidden_states`) also returns `hidden_states`:
        `"video_features"` X_v and `"audio_features"` X_a `(batch, L, d)` (projected, absent sub-clips zero) and
        `"attended"` [Xatt_a ; Xatt_v] `(batch, L, 2d)`.

        Precomputed encoder outputs (the way transformers models take `encoder_outputs`): `video_encoder_outputs`
        `(batch, L, C_v)` and `video_encoder_mask` `(batch, L)` bool, as `encode_video` returns them, replace
        `pixel_values_videos` and `video_mask` (the video encoder is not run); `audio_encoder_outputs` /
        `audio_encoder_mask` (`encode_audio`) replace `input_features` and `audio_mask`. A missing
        `*_encoder_mask` means every sub-clip is present. The result is the one the raw inputs give.
        """
        config = self.config
        if output_hidden_states is None:
            output_hidden_states = config.output_hidden_states
        check_encoder_outputs("video", pixel_values_videos, video_mask, video_encoder_outputs, video_encoder_mask)
        check_encoder_outputs("audio", input_features, audio_mask, audio_encoder_outputs, audio_encoder_mask)
        video_mask, audio_mask = fold_presence_flags(
            pixel_values_videos, input_features, video_mask, audio_mask, has_video, has_audio
        )
        references = [
            tensor
            for tensor in (pixel_values_videos, video_encoder_outputs, input_features, audio_encoder_outputs)
            if tensor is not None
        ]
        if not references:
            raise ValueError("pass pixel_values_videos, input_features or both (or their *_encoder_outputs)")
        reference = references[0]
        batch, device = reference.shape[0], reference.device
        length, d = config.num_subclips, config.fusion_hidden_size

        if pixel_values_videos is not None:
            video, video_steps = self.encode_video(pixel_values_videos, video_mask)
        elif video_encoder_outputs is not None:
            video = video_encoder_outputs
            video_steps = self._encoder_output_mask(
                "video", video, video_encoder_mask, has_video, batch, self.video_projection
            )
        else:
            video = None
        if video is not None:
            video = self.video_projection(video)
        else:
            video = torch.zeros(batch, length, d, device=device, dtype=reference.dtype)
            video_steps = torch.zeros(batch, length, dtype=torch.bool, device=device)
        if input_features is not None:
            if input_features.shape[0] != batch:
                raise ValueError(
                    f"pixel_values_videos has {batch} clips but input_features has {input_features.shape[0]}"
                )
            audio, audio_steps = self.encode_audio(input_features, audio_mask)
        elif audio_encoder_outputs is not None:
            audio = audio_encoder_outputs
            audio_steps = self._encoder_output_mask(
                "audio", audio, audio_encoder_mask, has_audio, batch, self.audio_projection
            )
        else:
            audio = None
        if audio is not None:
            audio = self.audio_projection(audio)
        else:
            audio = torch.zeros(batch, length, d, device=device, dtype=video.dtype)
            audio_steps = torch.zeros(batch, length, dtype=torch.bool, device=device)

        # Absent sub-clips are zero before fusion (see the module docstring).
        video = video * video_steps.unsqueeze(-1).to(video.dtype)
        audio = audio * audio_steps.unsqueeze(-1).to(audio.dtype)
        attended_audio, attended_video, maps = self.fusion(audio, video)
        hidden = torch.cat([attended_audio, attended_video], dim=-1)  # (B, L, 2d)
        step_mask = video_steps | audio_steps
        hidden_states = None
        if output_hidden_states:
            hidden_states = {"video_features": video, "audio_features": audio, "attended": hidden}
        output = JointCrossAttentionOutput(
            embeddings=masked_mean(hidden, step_mask),
            attentions=maps if output_attentions else None,
            hidden_states=hidden_states,
            last_hidden_state=hidden,
            step_mask=step_mask,
        )
        return output if return_dict else output.to_tuple()


def _with_problem_type(config: JointCrossAttentionConfig, problem_type: str) -> JointCrossAttentionConfig:
    """Return `config` when its problem_type fits the head, else a copy with `problem_type` set.

    Copying leaves the caller's config untouched, so one config can build both heads, and a checkpoint of
    one head loads into the other (the new head's weights are then reported as newly initialised).
    """
    if config.problem_type == problem_type:
        return config
    if config.problem_type is not None:
        logger.info("problem_type %r replaced by %r for this head", config.problem_type, problem_type)
    config = copy.deepcopy(config)
    config.problem_type = problem_type
    return config


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of (B, L, C) over the L steps where mask (B, L) is True; (B, C), zeros for a row with none."""
    weights = mask.to(values.dtype).unsqueeze(-1)
    return (values * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class JointCrossAttentionHead(nn.Sequential):
    """Linear(2d, h) - ReLU - Dropout - Linear(h, outputs), applied to every sub-clip's [Xatt_a ; Xatt_v]."""

    def __init__(self, in_features: int, hidden_size: int, dropout: float, out_features: int):
        super().__init__(
            nn.Linear(in_features, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, out_features),
        )


class JointCrossAttentionForEmotionRegression(JointCrossAttentionPreTrainedModel):
    """Joint Cross-Attention with separate valence and arousal heads and the CCC loss.

    Outputs pass `config.regression_output_activation` (tanh by default: in [-1, 1]); the loss trains the
    dimensions in `config.regression_loss_targets` (both by default).

    `logits` (B, 2) holds the clip-level (valence, arousal): the mean over valid sub-clips of `step_logits`
    (B, L, 2), the per-sub-clip predictions of the paper. `labels` may be clip-level (B, 2) or per sub-clip
    (B, L, 2); NaN marks a missing annotation (for example an Aff-Wild2 frame annotated -5). The loss is
    (1 - CCC_valence) + (1 - CCC_arousal), each CCC computed over the whole batch: over clips for (B, 2)
    labels, over every valid sub-clip of every clip for (B, L, 2) labels.
    """

    def __init__(self, config: JointCrossAttentionConfig):
        config = _with_problem_type(config, "regression")
        super().__init__(config)
        width = 2 * config.fusion_hidden_size
        self.joint_cross_attention = JointCrossAttentionModel(config)
        self.valence_head = JointCrossAttentionHead(width, config.head_hidden_size, config.head_dropout, 1)
        self.arousal_head = JointCrossAttentionHead(width, config.head_hidden_size, config.head_dropout, 1)
        self.ccc_loss = CCCLoss(reduction="sum", eps=config.ccc_epsilon)
        self.post_init()

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
        audio_encoder_outputs: torch.Tensor | None = None,
        audio_encoder_mask: torch.Tensor | None = None,
    ) -> JointCrossAttentionOutput | tuple:
        """Predict valence and arousal per sub-clip and per clip; the CCC loss when `labels` are given.

        `has_video`, `has_audio`, `face_found`: the processor's flags, and `*_encoder_outputs` / `*_encoder_mask`:
        precomputed encoder outputs (`encode_video` / `encode_audio`), as in `JointCrossAttentionModel.forward`.
        `embeddings` is returned with `output_embeddings=True`. As a tuple: `(loss, logits, ...)`, or
        `(logits, ...)` without labels.
        """
        base = self.joint_cross_attention(
            pixel_values_videos,
            input_features,
            video_mask,
            audio_mask,
            output_attentions=output_attentions,
            has_video=has_video,
            has_audio=has_audio,
            output_hidden_states=output_hidden_states,
            video_encoder_outputs=video_encoder_outputs,
            video_encoder_mask=video_encoder_mask,
            audio_encoder_outputs=audio_encoder_outputs,
            audio_encoder_mask=audio_encoder_mask,
        )
        hidden = base.last_hidden_state
        step_logits = torch.cat([self.valence_head(hidden), self.arousal_head(hidden)], dim=-1)
        if self.config.regression_output_activation == "tanh":
            step_logits = torch.tanh(step_logits)
        logits = masked_mean(step_logits, base.step_mask)
        loss = None
        if labels is not None:
            loss = self._loss(logits, step_logits, base.step_mask, labels)
        output = JointCrossAttentionOutput(
            loss=loss,
            logits=logits,
            embeddings=base.embeddings if output_embeddings else None,
            attentions=base.attentions,
            hidden_states=base.hidden_states,
            step_logits=step_logits,
            last_hidden_state=hidden,
            step_mask=base.step_mask,
        )
        return output if return_dict else output.to_tuple()

    def _loss(
        self, logits: torch.Tensor, step_logits: torch.Tensor, step_mask: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        labels = labels.to(logits.dtype)
        # Only the dimensions in `regression_loss_targets` are trained (the authors train one per model).
        columns = [REGRESSION_TARGETS.index(name) for name in self.config.regression_loss_targets]
        if labels.shape == logits.shape:
            return self.ccc_loss(logits[..., columns], labels[..., columns], mask=step_mask.any(dim=1))
        if labels.shape == step_logits.shape:
            return self.ccc_loss(step_logits[..., columns], labels[..., columns], mask=step_mask)
        raise ValueError(
            f"labels must be (batch, 2) clip-level or (batch, {self.config.num_subclips}, 2) per sub-clip "
            f"[{', '.join(REGRESSION_TARGETS)}], got {tuple(labels.shape)}"
        )

    def frame_predictions(self, step_logits: torch.Tensor) -> torch.Tensor:
        """Expand per-sub-clip predictions (B, L, 2) to per input frame (B, L * frames_per_subclip, 2).

        Each sub-clip's value is repeated over its frames, for the per-frame evaluation protocol
        (`losses.per_video_ccc`).
        """
        return step_logits.repeat_interleave(self.config.frames_per_subclip, dim=1)


class JointCrossAttentionForEmotionClassification(JointCrossAttentionPreTrainedModel):
    """Joint Cross-Attention with a categorical head (`config.id2label`, default the 8 RAVDESS emotions).

    The head scores every sub-clip (`step_logits`, (B, L, num_labels)); `logits` (B, num_labels) is their mean
    over the valid sub-clips. `labels` (B,) class indices; the loss is cross-entropy.
    """

    def __init__(self, config: JointCrossAttentionConfig):
        config = _with_problem_type(config, "single_label_classification")
        super().__init__(config)
        self.joint_cross_attention = JointCrossAttentionModel(config)
        self.classifier = JointCrossAttentionHead(
            2 * config.fusion_hidden_size, config.head_hidden_size, config.head_dropout, config.num_labels
        )
        self.post_init()

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
        audio_encoder_outputs: torch.Tensor | None = None,
        audio_encoder_mask: torch.Tensor | None = None,
    ) -> JointCrossAttentionOutput | tuple:
        """Score the emotions per sub-clip and per clip; cross-entropy when `labels` (B,) are given.

        `has_video`, `has_audio`, `face_found`: the processor's flags, and `*_encoder_outputs` / `*_encoder_mask`:
        precomputed encoder outputs (`encode_video` / `encode_audio`), as in `JointCrossAttentionModel.forward`.
        `embeddings` is returned with `output_embeddings=True`. As a tuple: `(loss, logits, ...)`, or
        `(logits, ...)` without labels.
        """
        base = self.joint_cross_attention(
            pixel_values_videos,
            input_features,
            video_mask,
            audio_mask,
            output_attentions=output_attentions,
            has_video=has_video,
            has_audio=has_audio,
            output_hidden_states=output_hidden_states,
            video_encoder_outputs=video_encoder_outputs,
            video_encoder_mask=video_encoder_mask,
            audio_encoder_outputs=audio_encoder_outputs,
            audio_encoder_mask=audio_encoder_mask,
        )
        step_logits = self.classifier(base.last_hidden_state)
        logits = masked_mean(step_logits, base.step_mask)
        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:1]:
                raise ValueError(f"labels must be (batch,) class indices, got {tuple(labels.shape)}")
            loss = nn.functional.cross_entropy(logits, labels.long())
        output = JointCrossAttentionOutput(
            loss=loss,
            logits=logits,
            embeddings=base.embeddings if output_embeddings else None,
            attentions=base.attentions,
            hidden_states=base.hidden_states,
            step_logits=step_logits,
            last_hidden_state=base.last_hidden_state,
            step_mask=base.step_mask,
        )
        return output if return_dict else output.to_tuple()


__all__ = [
    "JointCrossAttentionForEmotionClassification",
    "JointCrossAttentionForEmotionRegression",
    "JointCrossAttentionFusion",
    "JointCrossAttentionModel",
    "JointCrossAttentionOutput",
    "JointCrossAttentionPreTrainedModel",
]
