"""AVT-CA around transformers encoders: a composite config, a two-checkpoint constructor, the processor following
each checkpoint's preprocessing, save / reload."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModel, ViTModel, Wav2Vec2Model

from av_emotion.modeling import AutoModelForAudioVideoClassification
from av_emotion.modeling.avt_ca import AVTCAConfig, AVTCAForEmotionClassification
from av_emotion.processing import AVEmotionProcessor
from tests.modeling.tiny_configs import TINY_CONFIGS
from tests.modeling.transformers_encoders import VIT_MEAN, VIT_SIZE, VIT_STD, W2V_RATE, write_tiny_encoders

TINY = {key: value for key, value in TINY_CONFIGS["avt_ca"].items() if key not in ("num_audio_features", "image_size")}


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    return write_tiny_encoders(tmp_path_factory.mktemp("encoders"))


def _inputs(model):
    torch.manual_seed(1)
    inputs = model.dummy_inputs
    inputs["audio_mask"] = torch.ones(
        inputs["input_features"].shape[0], inputs["input_features"].shape[-1], dtype=torch.bool
    )
    inputs["audio_mask"][1, -1000:] = False  # a shorter second clip
    return inputs


def test_two_checkpoints_make_a_composite_config_and_load_their_weights(encoders, tmp_path):
    vision, audio = encoders
    model = AVTCAForEmotionClassification.from_encoders_pretrained(vision, audio, **TINY).eval()

    assert model.config.vision_encoder_config.model_type == "vit"
    assert model.config.audio_encoder_config.model_type == "wav2vec2"
    assert model.config.num_audio_features == 1  # the waveform
    for wrapper, cls, path in (
        (model.avt_ca.video_encoder, ViTModel, vision),
        (model.avt_ca.audio_encoder, Wav2Vec2Model, audio),
    ):
        reference = cls.from_pretrained(path).state_dict()
        for key, value in wrapper.model.state_dict().items():
            assert torch.equal(value, reference[key]), key

    inputs = _inputs(model)
    with torch.no_grad():
        expected = model(**inputs).logits
    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["vision_encoder_config"]["model_type"] == "vit" and saved["audio_encoder_config"]["hidden_size"] == 16
    reloaded = AutoModelForAudioVideoClassification.from_pretrained(tmp_path / "saved").eval()
    base = AutoModel.from_pretrained(tmp_path / "saved").eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**inputs).logits, expected)
        assert torch.equal(base(**inputs).embeddings, model.avt_ca(**inputs).embeddings)


def test_padding_samples_do_not_change_a_clip(encoders):
    vision, audio = encoders
    model = AVTCAForEmotionClassification.from_encoders_pretrained(vision, audio, **TINY).eval()
    inputs = _inputs(model)
    short = {key: value[1:] for key, value in inputs.items()}
    short["input_features"] = short["input_features"][..., :-1000]
    short["audio_mask"] = short["audio_mask"][..., :-1000]
    with torch.no_grad():
        together = model(**inputs).logits[1]
        alone = model(**short).logits[0]
    assert torch.allclose(together, alone, atol=1e-5)


def test_trains_the_encoders_with_the_rest(encoders):
    vision, audio = encoders
    model = AVTCAForEmotionClassification.from_encoders_pretrained(vision, audio, **TINY)
    model.train()
    loss = model(**_inputs(model), labels=torch.tensor([0, 1])).loss
    loss.backward()
    assert model.avt_ca.video_encoder.model.embeddings.patch_embeddings.projection.weight.grad.abs().sum() > 0
    assert model.avt_ca.audio_encoder.model.feature_extractor.conv_layers[0].conv.weight.grad.abs().sum() > 0


def test_processor_takes_each_checkpoints_preprocessing_and_saves_it(encoders, tmp_path, generated_av_clip):
    vision, audio = encoders
    processor = AVEmotionProcessor.from_encoders("synthetic", vision_encoder=vision, audio_encoder=audio, num_frames=4)
    assert dict(processor.video_processor.size) == {"height": VIT_SIZE, "width": VIT_SIZE}
    assert (
        list(processor.video_processor.image_mean) == VIT_MEAN and list(processor.video_processor.image_std) == VIT_STD
    )
    extractor = processor.feature_extractor
    assert (extractor.feature_type, extractor.sampling_rate, extractor.do_normalize) == ("waveform", W2V_RATE, True)

    inputs = processor(paths=[str(generated_av_clip)])
    assert inputs["pixel_values_videos"].shape == (1, 4, 3, VIT_SIZE, VIT_SIZE)
    waveform = inputs["input_features"][0, 0][inputs["audio_mask"][0]]
    assert inputs["input_features"].shape[:2] == (1, 1)
    assert abs(float(waveform.mean())) < 1e-3 and abs(float(waveform.std()) - 1) < 1e-2  # do_normalize
    assert abs(waveform.shape[0] / W2V_RATE - 3.2) < 0.2  # the clip's ~3.2 s at the checkpoint's rate

    processor.save_pretrained(tmp_path / "processor")
    again = AVEmotionProcessor.from_pretrained(tmp_path / "processor")(paths=[str(generated_av_clip)])
    for key in ("pixel_values_videos", "input_features"):
        assert np.array_equal(again[key].numpy(), inputs[key].numpy())


def test_errors_name_the_setting(encoders):
    with pytest.raises(ValueError, match="num_audio_features 1"):
        AVTCAConfig(audio_encoder_config={"model_type": "wav2vec2", "hidden_size": 16}, num_audio_features=40)


JCA_TINY = {k: v for k, v in TINY_CONFIGS["joint_cross_attention"].items() if k not in ("num_mel_bins", "image_size")}


@pytest.mark.parametrize("vision_kind", ["image", "video"])
def test_jca_from_an_image_or_video_model_and_a_speech_model(encoders, tmp_path, vision_kind):
    from av_emotion.modeling.joint_cross_attention import JointCrossAttentionForEmotionRegression
    from av_emotion.modeling.modules.transformers_encoders import TransformersClipEncoder, TransformersFrameEncoder
    from tests.modeling.transformers_encoders import write_tiny_videomae

    vision, audio = encoders
    if vision_kind == "video":
        vision = write_tiny_videomae(tmp_path, num_frames=JCA_TINY["frames_per_subclip"])
    model = JointCrossAttentionForEmotionRegression.from_encoders_pretrained(vision, audio, **JCA_TINY)
    expected_class = TransformersClipEncoder if vision_kind == "video" else TransformersFrameEncoder
    assert isinstance(model.joint_cross_attention.video_encoder, expected_class)
    assert model.config.num_mel_bins == 1
    inputs = model.dummy_inputs
    loss = model(**inputs, labels=torch.rand(2, 2) * 2 - 1).loss
    loss.backward()
    assert model.joint_cross_attention.audio_encoder.model.feature_extractor.conv_layers[0].conv.weight.grad is not None
    model.eval()
    model.save_pretrained(tmp_path / "saved")
    from av_emotion.modeling import AutoModelForAudioVideoRegression

    again = AutoModelForAudioVideoRegression.from_pretrained(tmp_path / "saved").eval()
    with torch.no_grad():
        assert torch.equal(again(**inputs).logits, model(**inputs).logits)


def test_jca_video_model_needs_its_frame_count(encoders, tmp_path):
    from av_emotion.modeling.joint_cross_attention import JointCrossAttentionForEmotionClassification
    from tests.modeling.transformers_encoders import write_tiny_videomae

    _, audio = encoders
    vision = write_tiny_videomae(tmp_path, num_frames=4)  # frames_per_subclip is 2
    model = JointCrossAttentionForEmotionClassification.from_encoders_pretrained(vision, audio, **JCA_TINY)
    with pytest.raises(ValueError, match="set frames_per_subclip to 4"):
        model(**model.dummy_inputs)
