"""`ORTModelForAudioVideoEmotion` on a hand-built ONNX graph: input handling, ranges, errors, the pipeline and the CLI.

The graph has the exported interface (`pixel_values_videos`, `input_features`, `video_mask`, `audio_mask` ->
`logits`) and computes, per clip, [sum of the unmasked pixels, sum of the unmasked audio features, number of unmasked
audio frames], so every expectation is an independent numpy computation and the tests run in seconds. Its recorded
range (batch >= 2, audio frames >= 3) makes the wrapper pad a single clip and refuse short audio. The real exported
architectures are compared with PyTorch in test_onnx_pipeline.py (slow).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402
from transformers import pipeline  # noqa: E402

from av_emotion.cli import main  # noqa: E402
from av_emotion.export import INPUT_RANGES_KEY, ORTModelForAudioVideoEmotion, is_onnx_folder  # noqa: E402
from av_emotion.modeling.avt_ca import AVTCAConfig  # noqa: E402
from tests.modeling.tiny_configs import TINY_CONFIGS  # noqa: E402
from tests.pipelines.generated_media import write_video  # noqa: E402
from tests.pipelines.tiny_checkpoint import tiny_processor  # noqa: E402

LABELS = ("video_sum", "audio_sum", "audio_frames")
MIN_BATCH, MIN_AUDIO = 2, 3


def write_graph(path: Path, frames: int, size: int, features: int, ranges: dict | None) -> Path:
    """Write the masked-sums graph for clips of `frames` x 3 x `size` x `size` and `features` audio features."""

    def constant(name: str, values: list[int]):
        return helper.make_node(
            "Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [len(values)], values)
        )

    nodes = [
        constant("video_expand", [2, 3, 4]),
        constant("video_axes", [1, 2, 3, 4]),
        constant("audio_expand", [1]),
        constant("audio_axes", [1, 2]),
        constant("frame_axes", [1]),
        helper.make_node("Cast", ["video_mask"], ["video_weight"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["video_weight", "video_expand"], ["video_weight5"]),
        helper.make_node("Mul", ["pixel_values_videos", "video_weight5"], ["video_masked"]),
        helper.make_node("ReduceSum", ["video_masked", "video_axes"], ["video_sum"], keepdims=0),
        helper.make_node("Cast", ["audio_mask"], ["audio_weight"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["audio_weight", "audio_expand"], ["audio_weight3"]),
        helper.make_node("Mul", ["input_features", "audio_weight3"], ["audio_masked"]),
        helper.make_node("ReduceSum", ["audio_masked", "audio_axes"], ["audio_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["audio_weight", "frame_axes"], ["audio_count"], keepdims=1),
        helper.make_node("Unsqueeze", ["video_sum", "frame_axes"], ["video_sum2"]),
        helper.make_node("Unsqueeze", ["audio_sum", "frame_axes"], ["audio_sum2"]),
        helper.make_node("Concat", ["video_sum2", "audio_sum2", "audio_count"], ["logits"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "masked_sums",
        [
            helper.make_tensor_value_info("pixel_values_videos", TensorProto.FLOAT, ["batch", frames, 3, size, size]),
            helper.make_tensor_value_info("input_features", TensorProto.FLOAT, ["batch", features, "audio"]),
            helper.make_tensor_value_info("video_mask", TensorProto.BOOL, ["batch", frames]),
            helper.make_tensor_value_info("audio_mask", TensorProto.BOOL, ["batch", "audio"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    if ranges is not None:
        helper.set_model_props(model, {INPUT_RANGES_KEY: json.dumps(ranges)})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def expected_logits(video, audio, video_mask, audio_mask) -> np.ndarray:
    """The graph's computation in numpy (float64)."""
    video_sum = (video * video_mask[:, :, None, None, None]).sum(axis=(1, 2, 3, 4))
    audio_sum = (audio * audio_mask[:, None, :]).sum(axis=(1, 2))
    return np.stack([video_sum, audio_sum, audio_mask.sum(axis=1)], axis=1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """An exported-style folder: the graph, a 3-label config, and the tiny AVT-CA processor."""
    directory = tmp_path_factory.mktemp("ort_folder")
    config = AVTCAConfig(**TINY_CONFIGS["avt_ca"], id2label=dict(enumerate(LABELS)))
    config.save_pretrained(directory)
    tiny_processor(config).save_pretrained(directory)
    ranges = {"batch": [MIN_BATCH, None], "audio_frames": [MIN_AUDIO, None]}
    write_graph(directory / "model.onnx", config.num_frames, config.image_size, config.num_audio_features, ranges)
    return directory


@pytest.fixture(scope="module")
def model(folder) -> ORTModelForAudioVideoEmotion:
    return ORTModelForAudioVideoEmotion.from_pretrained(folder)


def random_inputs(model, batch: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "pixel_values_videos": rng.standard_normal((batch, *model.video_shape)).astype(np.float32),
        "input_features": rng.standard_normal((batch, model.num_audio_features, length)).astype(np.float32),
        "video_mask": rng.random((batch, model.video_shape[0])) > 0.3,
        "audio_mask": rng.random((batch, length)) > 0.3,
    }


def test_reads_the_geometry_and_the_recorded_range(model):
    assert model.video_shape == (4, 3, 16, 16)
    assert model.num_audio_features == 4
    assert model.input_ranges == {"batch": [MIN_BATCH, None], "audio_frames": [MIN_AUDIO, None]}
    assert model.config.id2label[2] == "audio_frames"
    assert model.device == torch.device("cpu") and model.dtype == torch.float32


@pytest.mark.parametrize("batch", [1, 2, 5])
def test_forward_equals_the_graphs_computation_and_pads_a_batch_below_the_minimum(model, batch):
    inputs = random_inputs(model, batch, 7, seed=batch)
    seen = []
    session = model.session

    class Spy:
        def run(self, names, feed):
            seen.append({name: value.shape[0] for name, value in feed.items()})
            return session.run(names, feed)

    model.session = Spy()
    try:
        output = model(**{name: torch.from_numpy(value) for name, value in inputs.items()})
    finally:
        model.session = session
    # The graph got at least its minimum batch (a single clip is repeated), every input alike.
    assert seen == [dict.fromkeys(inputs, max(batch, MIN_BATCH))]
    assert isinstance(output.logits, torch.Tensor) and output.logits.shape == (batch, 3)
    np.testing.assert_allclose(output.logits.numpy(), expected_logits(**_positional(inputs)), rtol=1e-5, atol=1e-4)
    (logits,) = model(**inputs, return_dict=False)  # numpy arrays work too
    np.testing.assert_array_equal(logits.numpy(), output.logits.numpy())


def _positional(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "video": inputs["pixel_values_videos"],
        "audio": inputs["input_features"],
        "video_mask": inputs["video_mask"],
        "audio_mask": inputs["audio_mask"],
    }


def test_presence_flags_clear_mask_rows_and_default_masks_are_all_true(model):
    inputs = random_inputs(model, 3, 5)
    has_video = np.array([True, False, True])
    has_audio = np.array([False, True, True])
    logits = model(**inputs, has_video=has_video, has_audio=has_audio, face_found=np.ones(3, bool)).logits.numpy()
    inputs["video_mask"] = inputs["video_mask"] & has_video[:, None]
    inputs["audio_mask"] = inputs["audio_mask"] & has_audio[:, None]
    np.testing.assert_allclose(logits, expected_logits(**_positional(inputs)), rtol=1e-5, atol=1e-4)
    bare = model(pixel_values_videos=inputs["pixel_values_videos"], input_features=inputs["input_features"]).logits
    assert bare[:, 2].tolist() == [5.0, 5.0, 5.0]  # every audio frame counted


def test_a_modality_left_out_is_an_all_false_mask(model):
    inputs = random_inputs(model, 2, 6)
    video_only = model(pixel_values_videos=inputs["pixel_values_videos"], video_mask=inputs["video_mask"]).logits
    assert video_only[:, 1:].abs().max() == 0  # no audio sum, no audio frame counted
    audio_only = model(input_features=inputs["input_features"]).logits
    assert audio_only[:, 0].abs().max() == 0 and audio_only[:, 2].tolist() == [6.0, 6.0]
    # The processor's stand-in for absent audio (shorter than the graph takes, all False) counts as left out.
    stand_in = model(
        pixel_values_videos=inputs["pixel_values_videos"],
        input_features=np.zeros((2, 4, 1), np.float32),
        audio_mask=np.zeros((2, 1), bool),
    ).logits
    torch.testing.assert_close(stand_in, model(pixel_values_videos=inputs["pixel_values_videos"]).logits)


def test_inputs_outside_the_export_raise_naming_the_file_and_the_fix(model, folder):
    inputs = random_inputs(model, 2, 6)
    where = str(folder / "model.onnx")
    with pytest.raises(ValueError) as error:
        model(pixel_values_videos=np.zeros((2, 5, 3, 16, 16), np.float32))
    message = str(error.value)
    assert where in message and "(batch, 5, 3, 16, 16)" in message and "(batch, 4, 3, 16, 16)" in message
    assert "processor saved with the model" in message
    with pytest.raises(ValueError, match=r"\(batch, 6\).*\(batch, 4\).*features.*processor"):
        model(input_features=np.zeros((2, 6, 8), np.float32))
    with pytest.raises(ValueError, match=r"model\.onnx: input_features has 2 audio frames, fewer than the 3.*longer"):
        model(input_features=np.zeros((2, 4, 2), np.float32))
    with pytest.raises(ValueError, match=r"video_mask must be \(batch, frames\) = \(2, 4\), got \(2, 3\)"):
        model(pixel_values_videos=inputs["pixel_values_videos"], video_mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="neither"):
        model()
    with pytest.raises(ValueError, match=r"logits only, not \['labels', 'output_attentions'\].*PyTorch model"):
        model(**inputs, labels=torch.zeros(2, dtype=torch.long), output_attentions=True)
    with pytest.raises(ValueError, match="2 clips but input_features has 3"):
        model(pixel_values_videos=inputs["pixel_values_videos"], input_features=np.zeros((3, 4, 6), np.float32))
    with pytest.raises(TypeError, match="unexpected arguments"):
        ORTModelForAudioVideoEmotion.from_pretrained(folder, num_labels=3)
    with pytest.raises(FileNotFoundError, match="no other.onnx.*av-emotion export"):
        ORTModelForAudioVideoEmotion.from_pretrained(folder, file_name="other.onnx")


def test_save_pretrained_round_trip_and_a_file_without_ranges(model, tmp_path, caplog):
    model.save_pretrained(tmp_path / "copy")
    assert is_onnx_folder(tmp_path / "copy")
    again = ORTModelForAudioVideoEmotion.from_pretrained(tmp_path / "copy")
    inputs = random_inputs(model, 3, 4)
    torch.testing.assert_close(again(**inputs).logits, model(**inputs).logits)
    assert again.input_ranges == model.input_ranges
    write_graph(tmp_path / "copy" / "model.onnx", 4, 16, 4, ranges=None)
    legacy = ORTModelForAudioVideoEmotion.from_pretrained(tmp_path / "copy")
    assert legacy.input_ranges["batch"] == [2, None]
    assert "re-export" in caplog.text
    torch.testing.assert_close(legacy(**random_inputs(model, 1, 4)).logits, model(**random_inputs(model, 1, 4)).logits)


def test_a_folder_with_pytorch_weights_is_not_an_onnx_folder(folder, tmp_path):
    assert is_onnx_folder(folder)
    (tmp_path / "model.onnx").write_bytes((folder / "model.onnx").read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert not is_onnx_folder(tmp_path)
    assert not is_onnx_folder(tmp_path / "model.onnx")


@pytest.fixture(scope="module")
def clips(tmp_path_factory, generated_av_clip) -> list[str]:
    no_audio = write_video(tmp_path_factory.mktemp("ort_clips") / "no_audio.mp4", 2.0, fps=8, with_audio=False)
    return [str(generated_av_clip), str(no_audio)]


def test_pipeline_on_an_onnx_folder_gives_softmax_of_the_graph_on_the_processor_output(folder, clips):
    classifier = pipeline("audio-video-emotion", model=str(folder), device="cpu")
    assert isinstance(classifier.model, ORTModelForAudioVideoEmotion)
    features = classifier.processor(paths=clips, allow_missing_audio=True, return_tensors="pt")
    inputs = {
        "video": features["pixel_values_videos"].numpy().astype(np.float64),
        "audio": features["input_features"].numpy().astype(np.float64),
        "video_mask": features["video_mask"].numpy(),
        "audio_mask": features["audio_mask"].numpy() & features["has_audio"].numpy()[:, None],
    }
    logits = torch.from_numpy(expected_logits(**inputs))
    expected = logits.softmax(-1).numpy()
    for batch_size in (1, 2):
        results = classifier(clips, batch_size=batch_size, allow_missing_audio=True)
        for result, row in zip(results, expected):
            scores = {item["label"]: item["score"] for item in result}
            np.testing.assert_allclose([scores[label] for label in LABELS], row, rtol=1e-4, atol=1e-5)
    assert logits[1, 1:].abs().max() == 0  # the clip without audio: no audio sum, no audio frame counted


def test_pipeline_takes_a_loaded_ort_model_and_processor(model, folder, clips):
    """optimum's pattern: load the model yourself, hand it to `pipeline()` with its processor."""
    from transformers import AutoProcessor

    classifier = pipeline("audio-video-emotion", model=model, processor=AutoProcessor.from_pretrained(folder))
    assert classifier.model is model and classifier.device.type == "cpu"
    from_folder = pipeline("audio-video-emotion", model=str(folder), device="cpu")
    assert classifier(clips[0]) == from_folder(clips[0])


def test_pipeline_loads_an_onnx_repo_id_offline(folder, clips, tmp_path):
    """A Hub repo holding the exported folder resolves through the Hugging Face cache (no network)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "models--someone--tiny-av-emotion-onnx"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for file in folder.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    from_hub = pipeline(
        "audio-video-emotion",
        model="someone/tiny-av-emotion-onnx",
        device="cpu",
        local_files_only=True,
        model_kwargs={"cache_dir": str(tmp_path / "cache")},
    )
    assert isinstance(from_hub.model, ORTModelForAudioVideoEmotion)
    assert from_hub(clips[0]) == pipeline("audio-video-emotion", model=str(folder), device="cpu")(clips[0])


def test_predict_cli_runs_the_onnx_folder(folder, clips, capsys):
    assert main(["predict", clips[0], "--model", str(folder), "--json", "--device", "cpu"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert sorted(item["label"] for item in record["labels"]) == sorted(LABELS)
    assert record["modalities"] == ["video", "audio"]


def test_missing_onnxruntime_is_a_one_line_error_naming_the_extra(folder, clips, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError
    fix = 'pip install "av-emotion[onnx]"'
    with pytest.raises(
        ImportError, match=r"running an ONNX model needs onnxruntime: pip install \"av-emotion\[onnx\]\""
    ):
        ORTModelForAudioVideoEmotion.from_pretrained(folder)
    with pytest.raises(ImportError, match="needs onnxruntime"):
        pipeline("audio-video-emotion", model=str(folder), device="cpu")
    capsys.readouterr()
    assert main(["predict", clips[0], "--model", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("av-emotion predict: error: ") and fix in err and "\n" not in err
