"""Joint Cross-Attention (Praveen et al. 2022): the fusion against the paper's equations, the heads, masks,
save/load, and learning on synthetic valence/arousal targets."""

import math

import numpy as np
import pytest
import torch

from av_emotion import (
    ARCHITECTURES,
    AutoModelForAudioVideoClassification,
    AutoModelForAudioVideoRegression,
    JointCrossAttentionConfig,
    JointCrossAttentionForEmotionClassification,
    JointCrossAttentionForEmotionRegression,
    JointCrossAttentionModel,
)
from av_emotion.modeling.joint_cross_attention import JointCrossAttentionFusion
from av_emotion.modeling.losses import concordance_correlation_coefficient
from tests.modeling.tiny_configs import TINY_CONFIGS

TINY = TINY_CONFIGS["joint_cross_attention"]


def tiny_config(**overrides) -> JointCrossAttentionConfig:
    return JointCrossAttentionConfig(**{**TINY, **overrides})


def make_inputs(config: JointCrossAttentionConfig, batch: int, audio_frames_per_subclip: int = 4) -> dict:
    audio_frames = audio_frames_per_subclip * config.num_subclips
    return {
        "pixel_values_videos": torch.randn(batch, config.num_frames, 3, config.image_size, config.image_size),
        "input_features": torch.randn(batch, config.num_mel_bins, audio_frames),
        "video_mask": torch.ones(batch, config.num_frames, dtype=torch.bool),
        "audio_mask": torch.ones(batch, audio_frames, dtype=torch.bool),
    }


# --------------------------------------------------------------------------------------------------
# The fusion against a per-sample implementation of the paper's equations
# --------------------------------------------------------------------------------------------------


def paper_fusion_one_clip(xa, xv, w):
    """The paper's equations for one clip, in float64 numpy, with the correlation written as explicit sums.

    xa, xv: (L, d) with time along the rows. Ca[i, j] = tanh(sum_{l,m} Xa[l, i] W_ja[l, m] J[m, j] / sqrt(2d)).
    """
    length, d = xa.shape
    joint = np.concatenate([xa, xv], axis=1)  # (L, 2d)
    correlations = {}
    for name, x, w_j in (("a", xa, w["w_ja"]), ("v", xv, w["w_jv"])):
        c = np.zeros((d, 2 * d))
        for i in range(d):
            for j in range(2 * d):
                total = 0.0
                for t in range(length):
                    for s in range(length):
                        total += x[t, i] * w_j[t, s] * joint[s, j]
                c[i, j] = math.tanh(total / math.sqrt(2 * d))
        correlations[name] = c
    ha = np.maximum(np.matmul(w["w_a"], xa) + np.matmul(w["w_ca"], correlations["a"].T), 0.0)  # (k, d)
    hv = np.maximum(np.matmul(w["w_v"], xv) + np.matmul(w["w_cv"], correlations["v"].T), 0.0)
    att_a = np.matmul(w["w_ha"], ha) + xa
    att_v = np.matmul(w["w_hv"], hv) + xv
    return att_a, att_v, ha, hv, correlations["a"], correlations["v"]


@pytest.mark.parametrize("length,d,k", [(4, 3, 2), (8, 5, 6)])
def test_batched_fusion_matches_per_sample_paper_equations(length, d, k):
    fusion = JointCrossAttentionFusion(length, d, k)
    # Larger than initial weights so tanh and ReLU both leave their linear/zero regions.
    with torch.no_grad():
        for p in fusion.parameters():
            p.normal_(0.0, 0.7)
    batch = 5
    xa, xv = torch.randn(batch, length, d), torch.randn(batch, length, d)
    att_a, att_v, maps = fusion(xa, xv)
    weights = {name: p.detach().double().numpy() for name, p in fusion.named_parameters()}
    for b in range(batch):
        ref = paper_fusion_one_clip(xa[b].double().numpy(), xv[b].double().numpy(), weights)
        got = (
            att_a[b],
            att_v[b],
            maps["audio_attention"][b],
            maps["video_attention"][b],
            maps["audio_correlation"][b],
            maps["video_correlation"][b],
        )
        for expected, actual in zip(ref, got):
            np.testing.assert_allclose(actual.detach().double().numpy(), expected, atol=1e-5, rtol=0)
    # The reference exercised both ReLU regions.
    assert (maps["audio_attention"] == 0).any() and (maps["audio_attention"] > 0).any()


def test_model_feeds_projected_features_through_the_fusion():
    """The full model's attended features are the paper's fusion of the Xa, Xv it hands to the fusion."""
    model = JointCrossAttentionModel(tiny_config()).eval()
    captured = {}
    model.fusion.register_forward_hook(
        lambda module, args, out: captured.update(xa=args[0].detach(), xv=args[1].detach())
    )
    out = model(**make_inputs(model.config, 3), output_attentions=True)
    weights = {name: p.detach().double().numpy() for name, p in model.fusion.named_parameters()}
    d = model.config.fusion_hidden_size
    for b in range(3):
        att_a, att_v, ha, hv, _, _ = paper_fusion_one_clip(
            captured["xa"][b].double().numpy(), captured["xv"][b].double().numpy(), weights
        )
        hidden = out.last_hidden_state[b].detach().double().numpy()
        np.testing.assert_allclose(hidden[:, :d], att_a, atol=1e-5)
        np.testing.assert_allclose(hidden[:, d:], att_v, atol=1e-5)
        np.testing.assert_allclose(out.attentions["audio_attention"][b].detach().numpy(), ha, atol=1e-5)
        np.testing.assert_allclose(out.attentions["video_attention"][b].detach().numpy(), hv, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# Heads: shapes, forward/backward, batch 1 and 3
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 3])
def test_regression_forward_backward(batch):
    config = tiny_config()
    model = JointCrossAttentionForEmotionRegression(config).train()
    inputs = make_inputs(config, batch)
    labels = torch.rand(batch, config.num_subclips, 2) * 2 - 1
    out = model(**inputs, labels=labels, output_attentions=True, output_embeddings=True)
    assert out.logits.shape == (batch, 2)
    assert out.step_logits.shape == (batch, config.num_subclips, 2)
    assert out.embeddings.shape == (batch, 2 * config.fusion_hidden_size)
    assert out.last_hidden_state.shape == (batch, config.num_subclips, 2 * config.fusion_hidden_size)
    assert out.attentions["audio_attention"].shape == (batch, config.attention_hidden_size, config.fusion_hidden_size)
    assert out.attentions["video_correlation"].shape == (
        batch,
        config.fusion_hidden_size,
        2 * config.fusion_hidden_size,
    )
    assert out.logits.abs().max() <= 1.0 and out.step_logits.abs().max() <= 1.0
    assert out.loss.ndim == 0 and torch.isfinite(out.loss) and 0.0 <= out.loss.item() <= 4.0
    out.loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, f"no gradient reached {name}"
        assert torch.isfinite(param.grad).all(), name
    # The separate heads both learn: each gets a non-zero gradient.
    assert model.valence_head[0].weight.grad.abs().sum() > 0
    assert model.arousal_head[0].weight.grad.abs().sum() > 0


def test_regression_clip_labels_and_loss_value():
    config = tiny_config()
    model = JointCrossAttentionForEmotionRegression(config).eval()
    inputs = make_inputs(config, 4)
    labels = torch.tensor([[0.5, -0.2], [-0.4, 0.1], [0.9, 0.3], [-0.1, -0.8]])
    out = model(**inputs, labels=labels)
    ccc = concordance_correlation_coefficient(out.logits, labels, dim=0)
    torch.testing.assert_close(out.loss, (1 - ccc).sum())
    # The clip output is the mean of the sub-clip outputs.
    torch.testing.assert_close(out.logits, out.step_logits.mean(dim=1))
    with pytest.raises(ValueError, match=r"labels must be \(batch, 2\) clip-level"):
        model(**inputs, labels=torch.zeros(4, 3))


def test_output_activation_and_trained_dimensions_are_configurable():
    config = tiny_config()
    inputs = make_inputs(config, 4)
    labels = torch.tensor([[0.5, -0.2], [-0.4, 0.1], [0.9, 0.3], [-0.1, -0.8]])
    torch.manual_seed(0)
    bounded = JointCrossAttentionForEmotionRegression(config).eval()
    linear = JointCrossAttentionForEmotionRegression(tiny_config(regression_output_activation="none")).eval()
    linear.load_state_dict(bounded.state_dict())
    with torch.no_grad():
        raw = linear(**inputs).step_logits
        torch.testing.assert_close(bounded(**inputs).step_logits, torch.tanh(raw))  # tanh is the only difference
        # One dimension per model, as the authors train: the loss is that dimension's 1 - CCC alone.
        valence_only = JointCrossAttentionForEmotionRegression(tiny_config(regression_loss_targets=["valence"]))
        valence_only.load_state_dict(bounded.state_dict())
        out = valence_only.eval()(**inputs, labels=labels)
        ccc = concordance_correlation_coefficient(out.logits[:, 0], labels[:, 0])
        torch.testing.assert_close(out.loss, 1 - ccc)
    # Training it leaves the arousal head untouched.
    valence_only.train()
    valence_only(**inputs, labels=labels).loss.backward()
    assert all(
        parameter.grad is None or not parameter.grad.any() for parameter in valence_only.arousal_head.parameters()
    )
    assert any(parameter.grad.any() for parameter in valence_only.valence_head.parameters())
    with pytest.raises(Exception, match="regression_output_activation must be 'tanh' or 'none'"):
        tiny_config(regression_output_activation="sigmoid")
    with pytest.raises(Exception, match="regression_loss_targets must be a non-empty subset"):
        tiny_config(regression_loss_targets=["dominance"])


def test_per_step_labels_with_missing_annotations():
    config = tiny_config()
    model = JointCrossAttentionForEmotionRegression(config).eval()
    inputs = make_inputs(config, 3)
    labels = torch.rand(3, config.num_subclips, 2) * 2 - 1
    labels[0, 1] = float("nan")  # an unannotated sub-clip
    out = model(**inputs, labels=labels)
    assert torch.isfinite(out.loss)
    keep = ~torch.isnan(labels[..., 0])
    expected = sum(
        1 - concordance_correlation_coefficient(out.step_logits[..., i][keep], labels[..., i][keep]) for i in range(2)
    )
    torch.testing.assert_close(out.loss, expected)


@pytest.mark.parametrize("batch", [1, 3])
def test_classification_forward_backward(batch):
    config = tiny_config()
    model = JointCrossAttentionForEmotionClassification(config)
    assert config.num_labels == 8 and config.id2label[0] == "neutral" and config.id2label[7] == "surprised"
    out = model(**make_inputs(config, batch), labels=torch.randint(0, 8, (batch,)))
    assert out.logits.shape == (batch, 8) and out.step_logits.shape == (batch, config.num_subclips, 8)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="class indices"):
        model(**make_inputs(config, batch), labels=torch.zeros(batch, 2))


def test_heads_set_their_problem_type_without_touching_the_callers_config(tmp_path):
    config = tiny_config()
    regression = JointCrossAttentionForEmotionRegression(config)
    classification = JointCrossAttentionForEmotionClassification(config)
    assert config.problem_type is None
    assert regression.config.problem_type == "regression"
    assert classification.config.problem_type == "single_label_classification"
    # A regression checkpoint re-purposed for classification: the backbone and fusion load, the head is new.
    regression.save_pretrained(tmp_path)
    loaded, info = JointCrossAttentionForEmotionClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert loaded.config.problem_type == "single_label_classification"
    assert {key.split(".")[0] for key in info["missing_keys"]} == {"classifier"}
    torch.testing.assert_close(loaded.joint_cross_attention.fusion.w_ja, regression.joint_cross_attention.fusion.w_ja)


def test_frame_predictions_repeat_each_subclip_over_its_frames():
    config = tiny_config(num_subclips=3, frames_per_subclip=2)
    model = JointCrossAttentionForEmotionRegression(config)
    steps = torch.arange(6.0).reshape(1, 3, 2)
    frames = model.frame_predictions(steps)
    assert frames.shape == (1, 6, 2)
    torch.testing.assert_close(frames[0, :, 0], torch.tensor([0.0, 0.0, 2.0, 2.0, 4.0, 4.0]))


# --------------------------------------------------------------------------------------------------
# Masks and missing modalities
# --------------------------------------------------------------------------------------------------


def test_fully_masked_video_runs_from_audio_alone():
    config = tiny_config()
    model = JointCrossAttentionForEmotionRegression(config).eval()
    inputs = make_inputs(config, 3)
    inputs["video_mask"][1] = False
    out = model(**inputs)
    d = config.fusion_hidden_size
    # The absent modality's attended features are exactly zero; the other clips are untouched.
    assert torch.equal(out.last_hidden_state[1, :, d:], torch.zeros(config.num_subclips, d))
    assert out.last_hidden_state[0, :, d:].abs().sum() > 0
    # Same prediction as giving that clip's audio alone.
    audio_only = model(input_features=inputs["input_features"][1:2])
    torch.testing.assert_close(out.logits[1:2], audio_only.logits)
    # And the video pixels of that clip no longer matter.
    inputs["pixel_values_videos"][1] = torch.randn_like(inputs["pixel_values_videos"][1]) * 5
    torch.testing.assert_close(model(**inputs).logits, out.logits)


def test_fully_masked_audio_runs_from_video_alone():
    config = tiny_config()
    model = JointCrossAttentionForEmotionClassification(config).eval()
    inputs = make_inputs(config, 2)
    inputs["audio_mask"][0] = False
    out = model(**inputs)
    video_only = model(pixel_values_videos=inputs["pixel_values_videos"][:1])
    torch.testing.assert_close(out.logits[:1], video_only.logits)
    assert torch.equal(out.last_hidden_state[0, :, : config.fusion_hidden_size], torch.zeros(2, 8))


def test_masked_subclip_is_ignored_and_left_out_of_the_clip_mean():
    config = tiny_config(num_subclips=3)
    model = JointCrossAttentionForEmotionRegression(config).eval()
    inputs = make_inputs(config, 2)
    f = config.frames_per_subclip
    inputs["video_mask"][0, f : 2 * f] = False  # middle sub-clip: no video
    # 12 audio frames, 4 per sub-clip: a hole over the middle sub-clip (the clip keeps its length, 12).
    inputs["audio_mask"][0, 4:8] = False
    out = model(**inputs)
    assert out.step_mask[0].tolist() == [True, False, True] and out.step_mask[1].all()
    torch.testing.assert_close(out.logits[0], out.step_logits[0, [0, 2]].mean(dim=0))
    # Changing the masked frames changes nothing.
    inputs["pixel_values_videos"][0, f : 2 * f] = 9.0
    inputs["input_features"][0, :, 4:8] = -9.0
    torch.testing.assert_close(model(**inputs).logits, out.logits)


@pytest.mark.parametrize("head", [JointCrossAttentionForEmotionRegression, JointCrossAttentionForEmotionClassification])
def test_precomputed_encoder_outputs_give_the_raw_inputs_result(head):
    """encode_video / encode_audio once, then forward from their outputs: same logits, loss and gradients."""
    config = tiny_config(num_subclips=3)
    torch.manual_seed(3)
    model = head(config).eval()
    inputs = make_inputs(config, 3)
    f = config.frames_per_subclip
    inputs["video_mask"][0, f : 2 * f] = False  # a sub-clip without video
    inputs["audio_mask"][1] = False  # a clip without audio
    inputs["audio_mask"][2, 9:] = False  # shorter audio (padding after)
    labels = (
        torch.tensor([[0.1, -0.2], [0.5, 0.3], [-0.4, 0.2]])
        if head is JointCrossAttentionForEmotionRegression
        else torch.tensor([0, 1, 0])
    )
    base = model.joint_cross_attention
    with torch.no_grad():
        video, video_steps = base.encode_video(inputs["pixel_values_videos"], inputs["video_mask"])
        audio, audio_steps = base.encode_audio(inputs["input_features"], inputs["audio_mask"])
    assert video.shape == (3, 3, base.video_projection.in_features) and video_steps[0].tolist() == [True, False, True]
    assert audio.shape == (3, 3, base.audio_projection.in_features) and not audio_steps[1].any()

    raw = model(**inputs, labels=labels)
    raw.loss.backward()
    raw_grads = {
        name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None and "encoder." not in name
    }
    model.zero_grad()
    cached = model(
        video_encoder_outputs=video,
        video_encoder_mask=video_steps,
        audio_encoder_outputs=audio,
        audio_encoder_mask=audio_steps,
        labels=labels,
    )
    cached.loss.backward()
    torch.testing.assert_close(cached.logits, raw.logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(cached.loss, raw.loss, rtol=0, atol=1e-6)
    assert torch.equal(cached.step_mask, raw.step_mask)
    for name, grad in raw_grads.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].grad, grad, rtol=1e-5, atol=1e-6)
    # One modality precomputed, the other raw: still the same.
    mixed = model(
        video_encoder_outputs=video,
        video_encoder_mask=video_steps,
        input_features=inputs["input_features"],
        audio_mask=inputs["audio_mask"],
    )
    torch.testing.assert_close(mixed.logits, raw.logits, rtol=0, atol=1e-6)
    # has_video folds into the precomputed mask as into the frame mask.
    no_video = torch.tensor([True, False, True])
    torch.testing.assert_close(
        model(
            video_encoder_outputs=video,
            video_encoder_mask=video_steps,
            audio_encoder_outputs=audio,
            audio_encoder_mask=audio_steps,
            has_video=no_video,
        ).logits,
        model(**inputs, has_video=no_video).logits,
        rtol=0,
        atol=1e-6,
    )


def test_precomputed_encoder_output_errors_name_the_inputs():
    config = tiny_config()
    model = JointCrossAttentionForEmotionClassification(config).eval()
    inputs = make_inputs(config, 2)
    video, steps = model.joint_cross_attention.encode_video(inputs["pixel_values_videos"])
    with pytest.raises(ValueError, match="either pixel_values_videos .* or video_encoder_outputs"):
        model(**inputs, video_encoder_outputs=video)
    with pytest.raises(ValueError, match=r"video_encoder_outputs must be \(batch, num_subclips, encoder width\)"):
        model(video_encoder_outputs=video[:, :, :-1])
    with pytest.raises(ValueError, match="audio_encoder_mask was passed without audio_encoder_outputs"):
        model(video_encoder_outputs=video, audio_encoder_mask=steps)
    with pytest.raises(ValueError, match=r"video_encoder_mask must be \(batch, num_subclips\)"):
        model(video_encoder_outputs=video, video_encoder_mask=steps[:, :1])


def test_audio_subclips_follow_each_clip_own_length():
    # Clip 0 has 6 valid audio frames out of 12 (padding after): its 3 audio sub-clips are frames 0-1, 2-3
    # and 4-5, the spans of its video sub-clips, and not 0-3, 4-7 (padding) and 8-11 of the padded length.
    config = tiny_config(num_subclips=3)
    model = JointCrossAttentionForEmotionRegression(config).eval()
    inputs = make_inputs(config, 2)
    inputs["audio_mask"][0, 6:] = False
    inputs["input_features"][0, :, 6:] = 0.0
    out = model(**inputs)
    assert out.step_mask[0].all()
    alone = model(
        pixel_values_videos=inputs["pixel_values_videos"][:1],
        input_features=inputs["input_features"][:1, :, :6],
    )
    torch.testing.assert_close(out.step_logits[:1], alone.step_logits, rtol=1e-5, atol=1e-5)


def test_clip_with_no_modality_gives_zero_without_nan():
    config = tiny_config()
    model = JointCrossAttentionForEmotionRegression(config).eval()
    inputs = make_inputs(config, 3)
    inputs["video_mask"][2] = False
    inputs["audio_mask"][2] = False
    labels = torch.tensor([[0.3, 0.2], [-0.5, 0.6], [0.9, 0.9]])
    out = model(**inputs, labels=labels)
    assert torch.equal(out.logits[2], torch.zeros(2)) and not out.step_mask[2].any()
    assert torch.isfinite(out.loss) and torch.isfinite(out.last_hidden_state).all()
    # The empty clip is left out of the loss.
    expected = model(**{k: v[:2] for k, v in inputs.items()}, labels=labels[:2]).loss
    torch.testing.assert_close(out.loss, expected)


def test_input_errors_name_the_problem():
    config = tiny_config()
    model = JointCrossAttentionModel(config)
    inputs = make_inputs(config, 2)
    with pytest.raises(ValueError, match=r"this model needs 4 frames \(2 sub-clips x 2\)"):
        model(pixel_values_videos=inputs["pixel_values_videos"][:, :3])
    with pytest.raises(ValueError, match="16 mel bins"):
        model(input_features=torch.randn(2, 10, 8))
    with pytest.raises(ValueError, match="fewer than the 2 sub-clips"):
        model(input_features=torch.randn(2, 16, 1))
    with pytest.raises(ValueError, match="pass pixel_values_videos, input_features or both"):
        model()
    with pytest.raises(ValueError, match="video_mask must be"):
        model(inputs["pixel_values_videos"], video_mask=torch.ones(2, 3, dtype=torch.bool))


def test_config_validation():
    with pytest.raises(Exception, match="num_subclips must be >= 1"):
        tiny_config(num_subclips=0)
    with pytest.raises(Exception, match="visual_conv_type"):
        tiny_config(visual_conv_type="2d")
    assert tiny_config().num_frames == TINY["num_subclips"] * TINY["frames_per_subclip"]
    assert JointCrossAttentionConfig(num_labels=3).num_labels == 3


# --------------------------------------------------------------------------------------------------
# Registry and save/load
# --------------------------------------------------------------------------------------------------


def test_registered_with_both_heads():
    entry = ARCHITECTURES["joint_cross_attention"]
    assert entry.config_class is JointCrossAttentionConfig
    assert entry.regression_class is JointCrossAttentionForEmotionRegression
    assert entry.classification_class is JointCrossAttentionForEmotionClassification


@pytest.mark.parametrize(
    "auto_class,head", [(AutoModelForAudioVideoRegression, "regression"), (AutoModelForAudioVideoClassification, "cls")]
)
def test_save_load_round_trip(tmp_path, auto_class, head):
    config = tiny_config()
    cls = (
        JointCrossAttentionForEmotionRegression if head == "regression" else JointCrossAttentionForEmotionClassification
    )
    model = cls(config).eval()
    # Move the BatchNorm running statistics away from their initial values so the round trip checks them.
    with torch.no_grad():
        model.train()(**make_inputs(config, 3))
    model.eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and not list(tmp_path.glob("*.bin"))
    loaded, info = auto_class.from_pretrained(tmp_path, output_loading_info=True)
    assert type(loaded) is cls
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    inputs = make_inputs(config, 2)
    torch.testing.assert_close(loaded.eval()(**inputs).logits, model(**inputs).logits)
    assert loaded.config.to_dict()["visual_widths"] == TINY["visual_widths"]


# --------------------------------------------------------------------------------------------------
# Learning
# --------------------------------------------------------------------------------------------------


def synthetic_affect_batch(config: JointCrossAttentionConfig, batch: int, generator: torch.Generator):
    """Clips whose valence is the face brightness and whose arousal is the loudness, per sub-clip."""
    length, frames = config.num_subclips, config.frames_per_subclip
    valence = torch.rand(batch, length, generator=generator) * 1.6 - 0.8
    arousal = torch.rand(batch, length, generator=generator) * 1.6 - 0.8
    size = config.image_size
    pixels = torch.randn(batch, length, frames, 3, size, size, generator=generator) * 0.3
    pixels += valence[:, :, None, None, None, None]
    mel = torch.randn(batch, config.num_mel_bins, length, 4, generator=generator) * 0.3
    mel += arousal[:, None, :, None]
    return {
        "pixel_values_videos": pixels.reshape(batch, length * frames, 3, size, size),
        "input_features": mel.reshape(batch, config.num_mel_bins, length * 4),
        "labels": torch.stack([valence, arousal], dim=-1),
    }


def test_ccc_rises_on_synthetic_valence_arousal():
    torch.manual_seed(0)
    config = tiny_config(num_subclips=4, fusion_hidden_size=16, head_hidden_size=16)
    model = JointCrossAttentionForEmotionRegression(config)
    generator = torch.Generator().manual_seed(1)
    held_out = synthetic_affect_batch(config, 32, generator)

    def held_out_ccc():
        model.eval()
        with torch.no_grad():
            out = model(**{k: v for k, v in held_out.items() if k != "labels"})
        model.train()
        pred, target = out.step_logits.reshape(-1, 2), held_out["labels"].reshape(-1, 2)
        return concordance_correlation_coefficient(pred, target, dim=0)

    before = held_out_ccc()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        loss = model(**synthetic_affect_batch(config, 16, generator)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = held_out_ccc()
    assert (before.abs() < 0.5).all(), before
    assert (after > 0.7).all(), f"CCC (valence, arousal) went from {before.tolist()} to {after.tolist()}"
