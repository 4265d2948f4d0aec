"""The FER2013 mini-Xception converted from Keras: parity with a numpy evaluation of the HDF5 graph, and its use
as the visual stem of AVT-CA and JCA (with its classifier kept)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from av_emotion import cli
from av_emotion.convert import load_backbone
from av_emotion.modeling import AutoModelForAudioVideoClassification
from av_emotion.modeling.avt_ca import AVTCAConfig, AVTCAForEmotionClassification
from av_emotion.modeling.joint_cross_attention import (
    JointCrossAttentionConfig,
    JointCrossAttentionForEmotionClassification,
)
from av_emotion.modeling.modules.mini_xception import MiniXceptionEncoder, tf_same_max_pool
from tests.modeling.tiny_configs import TINY_CONFIGS

h5py = pytest.importorskip("h5py")
WEIGHTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "weights" / "fer2013_mini_xception"
HDF5 = WEIGHTS / "fer2013_mini_XCEPTION.102-0.66.hdf5"
needs_weights = pytest.mark.skipif(not HDF5.is_file(), reason=f"{HDF5} not present (../shared/weights)")
# Measured max |p_torch - p_numpy| over the 7 softmax outputs: about 5e-7 (float32 vs float64); 1e-5 leaves room.
PROBABILITY_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def encoder():
    from av_emotion.convert.keras_mini_xception import load_keras_mini_xception

    return load_keras_mini_xception(HDF5, in_channels=1)


def _reference(images_nhwc: np.ndarray) -> np.ndarray:
    from tests.convert.keras_numpy_reference import evaluate_keras_hdf5

    return evaluate_keras_hdf5(HDF5, images_nhwc)


@needs_weights
def test_converted_classifier_matches_a_numpy_evaluation_of_the_keras_graph(encoder):
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, size=(3, 64, 64, 1))
    # A smooth face-like blob too, so not only noise statistics are compared.
    yy, xx = np.mgrid[-1:1:64j, -1:1:64j]
    blob = (np.exp(-(xx**2 + (yy / 1.3) ** 2) * 3) * 2 - 1)[None, :, :, None]
    images = np.concatenate([noise, blob])
    expected = _reference(images)
    with torch.no_grad():
        actual = encoder.classify(torch.from_numpy(images.transpose(0, 3, 1, 2)).float()).softmax(-1).double().numpy()
    assert np.abs(actual - expected).max() <= PROBABILITY_TOLERANCE
    assert (actual.argmax(1) == expected.argmax(1)).all()


@needs_weights
def test_rgb_frames_are_read_as_luma_and_other_sizes_are_resized(tmp_path):
    from av_emotion.convert.keras_mini_xception import load_keras_mini_xception

    grey, rgb = load_keras_mini_xception(HDF5, in_channels=1), load_keras_mini_xception(HDF5, in_channels=3)
    frame = torch.rand(2, 3, 64, 64) * 2 - 1
    luma = (frame * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    with torch.no_grad():
        assert torch.allclose(rgb.classify(frame), grey.classify(luma), atol=1e-6)
        assert rgb(torch.rand(1, 3, 112, 112)).shape == (1, 128)


def test_max_pool_pads_like_tensorflow_same():
    x = torch.arange(25.0).view(1, 1, 5, 5)
    # TF 'same', stride 2 on 5: output 3, total padding 2 -> 1 on each side; on 4: output 2, padding 1 at the end.
    assert tf_same_max_pool(x).squeeze().tolist() == [[6, 8, 9], [16, 18, 19], [21, 23, 24]]
    y = torch.arange(16.0).view(1, 1, 4, 4)
    assert tf_same_max_pool(y).squeeze().tolist() == [[10, 11], [14, 15]]


def _avt(**overrides):
    config = dict(TINY_CONFIGS["avt_ca"], visual_backbone="mini_xception", image_size=64, **overrides)
    return AVTCAForEmotionClassification(AVTCAConfig(**config)).eval()


@needs_weights
def test_stem_of_avt_ca_and_jca_loads_and_still_predicts_alone(encoder):
    avt = _avt()
    report = load_backbone(avt, "video", "keras_mini_xception", HDF5)
    assert report.ok, report.to_table()
    faces = torch.rand(2, 3, 64, 64) * 2 - 1
    luma = (faces * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    with torch.no_grad():
        assert torch.allclose(avt.avt_ca.video_encoder.classify(faces), encoder.classify(luma), atol=1e-5)
        outputs = avt(
            pixel_values_videos=faces.view(1, 2, 3, 64, 64).repeat(1, 2, 1, 1, 1), input_features=torch.randn(1, 4, 12)
        )
    assert outputs.logits.shape == (1, 8) and torch.isfinite(outputs.logits).all()

    jca_config = dict(TINY_CONFIGS["joint_cross_attention"], visual_backbone="mini_xception", image_size=64)
    jca = JointCrossAttentionForEmotionClassification(JointCrossAttentionConfig(**jca_config))
    assert load_backbone(jca, "video", "keras_mini_xception", HDF5).ok
    inputs = jca.dummy_inputs
    loss = jca(**inputs, labels=torch.tensor([0, 1])).loss
    loss.backward()
    assert jca.joint_cross_attention.video_encoder.blocks[0].pointwise1.weight.grad is not None


@needs_weights
def test_convert_command_writes_a_card_with_the_mit_licence_and_attribution(tmp_path, capsys):
    out = tmp_path / "avt_ca_fer2013"
    overrides = [
        f"--set={key}={json.dumps(value)}" for key, value in TINY_CONFIGS["avt_ca"].items() if key != "image_size"
    ]
    argv = [
        "convert",
        "--model-type",
        "avt_ca",
        *overrides,
        "--set",
        "visual_backbone=mini_xception",
        "--set",
        "image_size=64",
    ]
    assert cli.main([*argv, "--video", f"keras_mini_xception={HDF5}", "--out", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert "MIT License" in card and "Permission is hereby granted" in card
    assert "oarriaga/face_classification" in card and "arXiv:1710.07557" in card and "FER2013" in card
    reloaded = AutoModelForAudioVideoClassification.from_pretrained(out).eval()
    assert isinstance(reloaded.avt_ca.video_encoder, MiniXceptionEncoder)
    assert not list(out.glob("*.hdf5"))  # the weights leave only as the converted safetensors
    # Any card rendered later for this folder (training from it, `av-emotion push`) keeps the notice.
    from av_emotion.hub.model_card import render_model_card

    rendered = render_model_card(out).read_text()
    assert "## Pretrained backbones" in rendered and "Permission is hereby granted" in rendered


def test_keras_converter_refuses_what_is_not_a_keras_model(tmp_path):
    from av_emotion.convert.keras_mini_xception import read_keras_model

    with pytest.raises(FileNotFoundError, match="no such Keras model"):
        read_keras_model(tmp_path / "absent.hdf5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        read_keras_model(tmp_path / "text.hdf5")
    with h5py.File(tmp_path / "empty.hdf5", "w") as handle:
        handle.create_dataset("x", data=np.zeros(2))
    with pytest.raises(ValueError, match="not a whole Keras model"):
        read_keras_model(tmp_path / "empty.hdf5")
