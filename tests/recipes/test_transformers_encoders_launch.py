"""`accelerate launch recipes/train.py` with AVT-CA built from two tiny local transformers checkpoints, then the
saved folder through `AutoModel` and `pipeline("audio-video-emotion")`."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel, pipeline

import av_emotion  # noqa: F401  (registers the pipeline)
from av_emotion.modeling import AutoModelForAudioVideoClassification
from av_emotion.processing import AVEmotionProcessor
from tests.modeling.transformers_encoders import VIT_SIZE, W2V_RATE, write_tiny_encoders
from tests.recipes.conftest import CONFIGS, accelerate_command, run_recipe, small_run_overrides


def test_recipe_trains_with_transformers_encoders_and_the_saved_model_reloads(
    small_corpus, tmp_path, generated_av_clip
):
    vision, audio = write_tiny_encoders(tmp_path / "encoders")
    output_dir = tmp_path / "run"
    overrides = small_run_overrides(
        small_corpus,
        output_dir,
        tmp_path / "cache",
        **{
            "model.encoders.vision": str(vision),
            "model.encoders.audio": str(audio),
            "model.config.num_audio_features": 1,
            "model.config.image_size": VIT_SIZE,
        },
    )
    result = run_recipe(accelerate_command("train.py", "--config", str(CONFIGS / "avt_ca_synthetic.yaml"), *overrides))
    assert "saved model, processor and results" in result.stdout + result.stderr
    config = json.loads((output_dir / "config.json").read_text())
    assert config["vision_encoder_config"]["model_type"] == "vit"
    assert config["audio_encoder_config"]["model_type"] == "wav2vec2"
    processor_config = json.loads((output_dir / "processor_config.json").read_text())
    assert processor_config["feature_extractor"]["feature_type"] == "waveform"
    assert processor_config["feature_extractor"]["sampling_rate"] == W2V_RATE

    processor = AVEmotionProcessor.from_pretrained(output_dir)
    model = AutoModelForAudioVideoClassification.from_pretrained(output_dir).eval()
    base = AutoModel.from_pretrained(output_dir).eval()
    inputs = processor(paths=[str(generated_av_clip)])
    assert inputs["pixel_values_videos"].shape[-2:] == (VIT_SIZE, VIT_SIZE)
    names = ("pixel_values_videos", "input_features", "video_mask", "audio_mask")
    with torch.no_grad():
        outputs = model(**{name: inputs[name] for name in names}, output_embeddings=True)
        embeddings = base(**{name: inputs[name] for name in names}).embeddings
    assert torch.equal(embeddings, outputs.embeddings)
    expected = dict(
        zip((model.config.id2label[i] for i in range(outputs.logits.shape[-1])), outputs.logits[0].softmax(-1).tolist())
    )
    classifier = pipeline("audio-video-emotion", model=str(output_dir), device="cpu")
    scores = {entry["label"]: entry["score"] for entry in classifier(str(generated_av_clip))}
    assert scores == pytest.approx(expected, abs=1e-6)
