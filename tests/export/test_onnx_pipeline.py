"""The pipeline and `av-emotion predict` on an exported ONNX folder (onnxruntime) equal them on the PyTorch model.

Per architecture (and JCA's regression head): `av-emotion export DIR --onnx-dir OUT` on a tiny checkpoint, then the
same generated clips through `pipeline("audio-video-emotion")` loaded from DIR (PyTorch) and from OUT (onnxruntime):
whole clips of different lengths (one without an audio track) and a windowed video, at batch sizes 1 and several;
every score within 1e-4. Exporting takes 10-60 s a model on 2 shared cores, so these are slow tests; the wrapper's
own mechanics run in the fast suite (test_ort_model.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline

from av_emotion import ARCHITECTURES
from av_emotion.cli import main
from av_emotion.export import ORTModelForAudioVideoEmotion
from tests.pipelines.generated_media import write_talking_clip, write_video
from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.slow

TOLERANCE = 1e-4
# (model_type, regression head)
CHECKPOINTS = [(name, False) for name in sorted(ARCHITECTURES)] + [("joint_cross_attention", True)]


def checkpoint_id(case: tuple[str, bool]) -> str:
    return f"{case[0]}-{'regression' if case[1] else 'classification'}"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Generated inputs: talking clips of 3.2 s and 2.1 s, a video without audio, and a 12-s video for windows."""
    folder = tmp_path_factory.mktemp("onnx_clips")
    return {
        "long_clip": write_talking_clip(folder / "happy.mp4", 3.2, emotion="happy"),
        "short_clip": write_talking_clip(folder / "sad.mp4", 2.1, emotion="sad", actor=6),
        "no_audio": write_video(folder / "no_audio.mp4", 2.5, fps=8, with_audio=False),
        "video": write_video(folder / "twelve_seconds.mkv", 12.0),
    }


def perturb_checkpoint(folder: Path) -> Path:
    """Move every weight and statistic off its initial value, in place.

    At initialisation biases are 0 and batch norm is the identity, so all-zero inputs give all-zero features, and
    zeros under a True mask would pass for a missing modality; perturbed, they do not.
    """
    from av_emotion.pipelines import AutoModelForAudioVideoEmotion

    model = AutoModelForAudioVideoEmotion.from_pretrained(str(folder))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            if not value.is_floating_point():
                continue
            noise = torch.rand(value.shape, generator=generator) if "running_var" in name else None
            if noise is not None:
                value.mul_(0.5 + noise)
            else:
                value.add_(0.1 * torch.randn(value.shape, generator=generator))
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module", params=CHECKPOINTS, ids=checkpoint_id)
def folders(request, tmp_path_factory) -> tuple[Path, Path, str]:
    """(PyTorch checkpoint, its exported ONNX folder written by the CLI, the CLI's output)."""
    model_type, regression = request.param
    root = tmp_path_factory.mktemp(checkpoint_id(request.param))
    checkpoint = perturb_checkpoint(save_tiny_checkpoint(root / "torch", model_type, regression=regression))
    exported = root / "onnx"
    assert main(["export", str(checkpoint), "--onnx-dir", str(exported)]) == 0
    return checkpoint, exported, model_type


def assert_results_close(got, expected, path="result"):
    """Same structure; label lists compared label by label, every float within TOLERANCE."""
    if isinstance(expected, list) and expected and isinstance(expected[0], dict) and "label" in expected[0]:
        assert sorted(item["label"] for item in got) == sorted(item["label"] for item in expected), path
        scores = {item["label"]: item["score"] for item in got}
        for item in expected:
            assert abs(scores[item["label"]] - item["score"]) <= TOLERANCE, (path, item, scores)
        return
    if isinstance(expected, dict):
        assert sorted(got) == sorted(expected), path
        for key in expected:
            assert_results_close(got[key], expected[key], f"{path}.{key}")
        return
    if isinstance(expected, list):
        assert len(got) == len(expected), path
        for index, (left, right) in enumerate(zip(got, expected)):
            assert_results_close(left, right, f"{path}[{index}]")
        return
    if isinstance(expected, float) and not isinstance(got, bool):
        assert got is not None and (abs(got - expected) <= TOLERANCE or (math.isnan(got) and math.isnan(expected))), (
            path,
            got,
            expected,
        )
        return
    assert got == expected, (path, got, expected)


def test_exported_folder_holds_the_graph_config_and_processor(folders):
    _, exported, _ = folders
    assert {"model.onnx", "config.json", "processor_config.json"} <= {path.name for path in exported.iterdir()}
    model = ORTModelForAudioVideoEmotion.from_pretrained(exported)
    # Batch size 1 is inside what the dynamo exporter proved (torch 2.14), and the audio minimum is the model's.
    assert model.input_ranges["batch"][0] == 1
    assert model.input_ranges["audio_frames"][0] >= 2


def test_pipeline_on_onnx_equals_pipeline_on_pytorch(folders, clips):
    checkpoint, exported, _ = folders
    torch_pipe = pipeline("audio-video-emotion", model=str(checkpoint), device="cpu")
    onnx_pipe = pipeline("audio-video-emotion", model=str(exported), device="cpu")
    assert isinstance(onnx_pipe.model, ORTModelForAudioVideoEmotion)
    assert not isinstance(torch_pipe.model, ORTModelForAudioVideoEmotion)
    inputs = [str(clips["long_clip"]), str(clips["short_clip"]), str(clips["no_audio"])]
    options = {"allow_missing_audio": True, "return_details": True}
    expected = torch_pipe(inputs, batch_size=1, **options)
    for batch_size in (1, 3):
        assert_results_close(onnx_pipe(inputs, batch_size=batch_size, **options), expected, f"batch {batch_size}")
    # The clip without audio alone in a batch: the pipeline leaves the audio inputs out and the wrapper feeds the
    # graph an all-False mask.
    assert expected[2]["modalities"] == ["video"]
    windowed = torch_pipe(str(clips["video"]), window_s=4.0, stride_s=2.0, batch_size=1)
    assert len(windowed["timeline"]) >= 5
    for batch_size in (1, 4):
        got = onnx_pipe(str(clips["video"]), window_s=4.0, stride_s=2.0, batch_size=batch_size)
        assert_results_close(got, windowed, f"windows, batch {batch_size}")


def test_ort_model_called_like_the_pytorch_model(folders, clips):
    """`model(**processor(...))` with the processor's flags, at batch 1 and 2, and through a forced padded batch."""
    from transformers import AutoProcessor

    from av_emotion.pipelines import AutoModelForAudioVideoEmotion

    checkpoint, exported, _ = folders
    torch_model = AutoModelForAudioVideoEmotion.from_pretrained(str(checkpoint)).eval()
    onnx_model = AutoModelForAudioVideoEmotion.from_pretrained(str(exported))
    assert isinstance(onnx_model, ORTModelForAudioVideoEmotion)
    processor = AutoProcessor.from_pretrained(str(exported))
    for paths in ([clips["long_clip"]], [clips["long_clip"], clips["short_clip"]]):
        inputs = processor(paths=[str(path) for path in paths], return_tensors="pt")
        with torch.no_grad():
            expected = torch_model(**inputs).logits
        got = onnx_model(**inputs).logits
        assert got.shape == expected.shape and got.shape[0] == len(paths)
        torch.testing.assert_close(got, expected, rtol=0, atol=TOLERANCE)
    # A graph that needs batch >= 2 (as torch.export records): a single clip is padded and the copy dropped.
    onnx_model.input_ranges = {**onnx_model.input_ranges, "batch": [2, None]}
    inputs = processor(paths=[str(clips["short_clip"])], return_tensors="pt")
    with torch.no_grad():
        expected = torch_model(**inputs).logits
    torch.testing.assert_close(onnx_model(**inputs).logits, expected, rtol=0, atol=TOLERANCE)


def test_inputs_outside_the_export_raise_naming_the_file_and_the_fix(folders):
    _, exported, _ = folders
    model = ORTModelForAudioVideoEmotion.from_pretrained(exported)
    frames, channels, height, width = model.video_shape
    features = model.num_audio_features
    low = model.input_ranges["audio_frames"][0]
    good_audio = torch.zeros(1, features, low)
    with pytest.raises(ValueError, match=r"model\.onnx.*exported for.*processor saved with the model"):
        model(pixel_values_videos=torch.zeros(1, frames + 1, channels, height, width), input_features=good_audio)
    with pytest.raises(ValueError, match=rf"model\.onnx.*{features}.*processor"):
        model(input_features=torch.zeros(1, features + 1, low))
    with pytest.raises(ValueError, match=rf"{low - 1} audio frames, fewer than the {low}.*longer clip"):
        model(input_features=torch.zeros(1, features, low - 1))
    with pytest.raises(ValueError, match="logits only.*PyTorch model"):
        model(input_features=good_audio, labels=torch.zeros(1, dtype=torch.long))
    # The shortest accepted audio runs, alone and next to frames.
    assert model(input_features=good_audio).logits.shape[0] == 1
    assert np.isfinite(model(input_features=good_audio).logits.numpy()).all()


def test_predict_cli_on_the_exported_folder_equals_pytorch(folders, clips, capsys):
    checkpoint, exported, _ = folders
    capsys.readouterr()
    results = {}
    for name, folder in (("torch", checkpoint), ("onnx", exported)):
        code = main(
            ["predict", str(clips["long_clip"]), str(clips["video"]), "--model", str(folder), "--json"]
            + ["--device", "cpu", "--batch-size", "2"]
        )
        out = capsys.readouterr().out
        assert code == 0
        results[name] = json.loads(out)
    assert_results_close(results["onnx"], results["torch"])
    windowed = []
    for folder in (checkpoint, exported):
        arguments = ["predict", str(clips["video"]), "--model", str(folder), "--json", "--window", "5"]
        assert main([*arguments, "--device", "cpu"]) == 0
        windowed.append(json.loads(capsys.readouterr().out))
    assert len(windowed[0][0]["timeline"]) == 3
    assert_results_close(windowed[1], windowed[0])


def test_from_pretrained_with_export_true_exports_a_pytorch_folder(tmp_path, clips):
    """optimum's `export=True`: a PyTorch checkpoint exported on load (one architecture: the export is the cost)."""
    from transformers import AutoProcessor

    checkpoint = perturb_checkpoint(save_tiny_checkpoint(tmp_path / "torch", "joint_cross_attention"))
    model = ORTModelForAudioVideoEmotion.from_pretrained(checkpoint, export=True)
    processor = AutoProcessor.from_pretrained(str(checkpoint))
    inputs = processor(paths=[str(clips["long_clip"])], return_tensors="pt")
    from av_emotion.pipelines import AutoModelForAudioVideoEmotion

    with torch.no_grad():
        expected = AutoModelForAudioVideoEmotion.from_pretrained(str(checkpoint))(**inputs).logits
    torch.testing.assert_close(model(**inputs).logits, expected, rtol=0, atol=TOLERANCE)
    model.save_pretrained(tmp_path / "saved")
    assert {"model.onnx", "config.json"} <= {path.name for path in (tmp_path / "saved").iterdir()}
