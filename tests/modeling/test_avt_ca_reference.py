"""AVT-CA after the frame encoder against a float64 reference written from the equations, clip by clip.

The reference runs each clip alone on its own valid steps (no masks, no padding), with explicit loops over
heads and plain formulas: temporal convolution blocks (Conv1d "same", batch norm with running statistics,
ReLU, max-pool), pre-norm attention blocks (Vaswani et al. 2017; `x + Attn(LN(x), LN(c))`, then
`x + MLP(LN(x))` with exact GELU), the intermediate transformer fusion (IT: each modality's stage-1 steps
attend to the other's), per-modality self-attention and the final cross-attention (CT), max-pool over time,
element-wise addition and the linear classifier. The model runs the clips batched and padded, in float64.
"""

from __future__ import annotations

import math

import pytest
import torch

from av_emotion import AVTCAConfig, AVTCAForEmotionClassification
from tests.modeling.tiny_configs import TINY_CONFIGS


def _linear(x, layer):
    return x @ layer.weight.T + layer.bias


def _layer_norm(x, norm):
    mean = x.mean(dim=-1, keepdim=True)
    variance = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + norm.eps) * norm.weight + norm.bias


def _gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _softmax(scores):
    exponentials = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
    return exponentials / exponentials.sum(dim=-1, keepdim=True)


def _attention(queries, keys, values, attention):
    """Multi-head attention: per head h, softmax(q_h k_h^T / sqrt(d_h)) v_h; heads concatenated, projected."""
    q, k, v = _linear(queries, attention.q_proj), _linear(keys, attention.k_proj), _linear(values, attention.v_proj)
    d_h = attention.head_dim
    heads = []
    for h in range(attention.num_heads):
        part = slice(h * d_h, (h + 1) * d_h)
        heads.append(_softmax(q[:, part] @ k[:, part].T / math.sqrt(d_h)) @ v[:, part])
    return _linear(torch.cat(heads, dim=-1), attention.out_proj)


def _block(x, context, block, values=None):
    """Pre-norm transformer block: x + Attn(LN_q(x), LN_k(c), LN_k(c)), then + MLP(LN(.)).

    Self-attention blocks (context None) read LN_q(x) for keys and values; with `values` (already on x's
    steps, the paper's figure) they read LN_q(x) for keys and LN_k(values) for values.
    """
    queries = _layer_norm(x, block.query_norm)
    keys = queries if context is None else _layer_norm(context, block.key_norm)
    attended_values = keys if values is None else _layer_norm(values, block.key_norm)
    x = x + _attention(queries, keys, attended_values, block.attention)
    fc1, fc2 = block.mlp[0], block.mlp[3]
    return x + _linear(_gelu(_linear(_layer_norm(x, block.mlp_norm), fc1)), fc2)


def _temporal_stage(x, stage):
    """x (C, n) -> (C', n'): per block Conv1d (zero "same" padding), BN (running stats), ReLU, max-pool."""
    for block in stage.blocks:
        weight, bias = block.conv.weight, block.conv.bias
        kernel = weight.shape[-1]
        padded = torch.nn.functional.pad(x, (kernel // 2, kernel // 2))
        length = x.shape[-1]
        x = bias[:, None] + sum(weight[:, :, j] @ padded[:, j : j + length] for j in range(kernel))
        norm = block.norm
        x = (x - norm.running_mean[:, None]) / torch.sqrt(norm.running_var[:, None] + norm.eps)
        x = torch.relu(x * norm.weight[:, None] + norm.bias[:, None])
        if block.pool_kernel_size is not None:
            size, stride = block.pool_kernel_size, block.pool_stride
            steps = (x.shape[-1] - size) // stride + 1
            x = torch.stack([x[:, t * stride : t * stride + size].amax(dim=-1) for t in range(steps)], dim=-1)
    return x


def _resample(source, steps):
    """Source (n_s, D) onto `steps` steps of the same clip: step i at clip time (i + 0.5) / steps, linear."""
    n_s = source.shape[0]
    rows = []
    for i in range(steps):
        position = min(max((i + 0.5) / steps * n_s - 0.5, 0.0), n_s - 1)
        low = math.floor(position)
        high = min(low + 1, n_s - 1)
        rows.append((1 - (position - low)) * source[low] + (position - low) * source[high])
    return torch.stack(rows)


def _reference_logits(model, frames, audio):
    """One clip: frames (T, C, H, W) and audio (F, n), all valid -> logits (num_labels,)."""
    avt = model.avt_ca
    video = avt.video_encoder(frames).T  # (C_stem, T): the frame encoder is checked by its own tests
    video1 = _temporal_stage(video, avt.video_stage1).T  # (T, D1)
    audio1 = _temporal_stage(audio, avt.audio_stage1).T  # (n1, D1a)
    # IT: both directions read the stage-1 features.
    fused_audio = _block(audio1, video1, avt.fusion_audio_to_video)
    fused_video = _block(video1, audio1, avt.fusion_video_to_audio)
    video2 = _temporal_stage(fused_video.T, avt.video_stage2).T
    audio2 = _temporal_stage(fused_audio.T, avt.audio_stage2).T
    # CT: self-attention per modality, then cross-attention both ways from the self-attended streams.
    if model.config.pre_cross_attention_values == "other":
        audio_self = _block(audio2, None, avt.self_attention_audio, values=_resample(video2, audio2.shape[0]))
        video_self = _block(video2, None, avt.self_attention_video, values=_resample(audio2, video2.shape[0]))
    else:
        audio_self = _block(audio2, None, avt.self_attention_audio)
        video_self = _block(video2, None, avt.self_attention_video)
    crossed_audio = _block(audio_self, video_self, avt.cross_attention_audio_to_video)
    crossed_video = _block(video_self, audio_self, avt.cross_attention_video_to_audio)
    embedding = crossed_audio.amax(dim=0) + crossed_video.amax(dim=0)
    return _linear(embedding, model.classifier)


def _tiny_model(**overrides) -> AVTCAForEmotionClassification:
    torch.manual_seed(0)
    model = AVTCAForEmotionClassification(AVTCAConfig(**{**TINY_CONFIGS["avt_ca"], **overrides})).double()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 2.0)
            if isinstance(module, (torch.nn.LayerNorm, torch.nn.modules.batchnorm._BatchNorm)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, 0.3)  # larger than the init, so attention is far from uniform
                module.bias.uniform_(-0.1, 0.1)
    return model.eval()


@pytest.mark.parametrize("values", ["own", "other"])
def test_fusion_and_cross_attention_match_the_float64_reference_clip_by_clip(values):
    model = _tiny_model(pre_cross_attention_values=values)
    features = TINY_CONFIGS["avt_ca"]["num_audio_features"]
    # Two clips of different lengths, padded in the batch: 5 and 3 frames, 19 and 11 audio frames.
    frame_counts, audio_counts = [5, 3], [19, 11]
    generator = torch.Generator().manual_seed(1)
    frames = torch.randn(2, 5, 3, 16, 16, generator=generator, dtype=torch.float64)
    audio = torch.randn(2, features, 19, generator=generator, dtype=torch.float64)
    video_mask = torch.arange(5)[None, :] < torch.tensor(frame_counts)[:, None]
    audio_mask = torch.arange(19)[None, :] < torch.tensor(audio_counts)[:, None]
    with torch.no_grad():
        logits = model(
            pixel_values_videos=frames, input_features=audio, video_mask=video_mask, audio_mask=audio_mask
        ).logits
        for index in range(2):
            expected = _reference_logits(
                model, frames[index, : frame_counts[index]], audio[index, :, : audio_counts[index]]
            )
            torch.testing.assert_close(logits[index], expected, rtol=1e-9, atol=1e-9)
        assert logits.std(dim=0).min() > 1e-3  # the two clips do differ: the comparison is not vacuous


def test_every_attention_block_changes_the_output():
    # Each block of IT and CT matters to the logits (a block whose update were lost would not).
    model = _tiny_model()
    inputs = {
        "pixel_values_videos": torch.randn(2, 4, 3, 16, 16, dtype=torch.float64),
        "input_features": torch.randn(2, TINY_CONFIGS["avt_ca"]["num_audio_features"], 12, dtype=torch.float64),
    }
    with torch.no_grad():
        reference = model(**inputs).logits
        for name in (
            "fusion_audio_to_video",
            "fusion_video_to_audio",
            "self_attention_audio",
            "self_attention_video",
            "cross_attention_audio_to_video",
            "cross_attention_video_to_audio",
        ):
            out_proj = getattr(model.avt_ca, name).attention.out_proj
            saved = out_proj.weight.clone()
            out_proj.weight.zero_()
            changed = model(**inputs).logits
            out_proj.weight.copy_(saved)
            assert (changed - reference).abs().max() > 1e-4, f"{name} does not affect the logits"
