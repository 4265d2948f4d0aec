"""Export: `torch.export`, `torch.compile(fullgraph=True)` and ONNX (onnxruntime) per architecture, dynamic batch and
clip length, one modality missing in part of the batch; and `av-emotion export`."""

from __future__ import annotations

import json

import pytest
import torch

from av_emotion import ARCHITECTURES
from av_emotion.cli import main
from av_emotion.export import LogitsModule, example_inputs, export_onnx, export_program
from tests.modeling.tiny_configs import TINY_CONFIGS

MODEL_TYPES = sorted(ARCHITECTURES)
# Two batch sizes and two clip lengths (one odd: ceil-divisions of the audio length must stay right), each batch
# with a clip without video, one without audio and one with padded audio.
CASES = [(2, 256), (5, 397)]


def _model(model_type: str):
    torch.manual_seed(0)
    architecture = ARCHITECTURES[model_type]
    return architecture.classification_class(architecture.config_class(**TINY_CONFIGS[model_type])).eval()


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_torch_export_is_dynamic_in_batch_and_audio_length(model_type):
    model = _model(model_type)
    program = export_program(model)
    exported = program.module()
    for batch, frames in CASES:
        inputs = example_inputs(model, batch, frames, missing=True, seed=frames)
        with torch.no_grad():
            expected = LogitsModule(model)(**inputs)
            got = exported(**inputs)
        assert got.shape == (batch, model.config.num_labels)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # 1-4 minutes each on 2 shared CPU cores
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_compile_fullgraph_dynamic(model_type):
    """No graph break anywhere in the forward (`fullgraph=True` raises on one); aot_eager keeps the test quick."""
    torch._dynamo.reset()
    model = _model(model_type)
    compiled = torch.compile(LogitsModule(model), fullgraph=True, dynamic=True, backend="aot_eager")
    for batch, frames in CASES:
        inputs = example_inputs(model, batch, frames, missing=True, seed=frames)
        with torch.no_grad():
            torch.testing.assert_close(compiled(**inputs), LogitsModule(model)(**inputs), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_onnx_matches_pytorch(model_type, tmp_path):
    pytest.importorskip("onnxruntime")
    model = _model(model_type)
    report = export_onnx(model, tmp_path / "model.onnx")
    assert {(entry["batch"], entry["audio_frames"]) for entry in report.checks} == {
        (1, 256),
        (1, 397),
        (2, 256),
        (2, 397),
        (5, 256),
        (5, 397),
    }
    assert report.max_abs_diff <= 1e-4, report.checks
    # The range the exporter proved, with the model's own audio minimum, is in the report and the file.
    import onnxruntime

    from av_emotion.export import INPUT_RANGES_KEY, minimum_audio_frames

    assert report.input_ranges["batch"][0] == 1
    assert report.input_ranges["audio_frames"][0] == minimum_audio_frames(model)
    metadata = onnxruntime.InferenceSession(str(report.path)).get_modelmeta().custom_metadata_map
    assert json.loads(metadata[INPUT_RANGES_KEY]) == report.input_ranges


@pytest.mark.slow
def test_cli_export_writes_a_checked_onnx_file(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint

    folder = save_tiny_checkpoint(tmp_path / "tiny")
    assert main(["export", str(folder), "--onnx", str(tmp_path / "out" / "tiny.onnx")]) == 0
    assert (tmp_path / "out" / "tiny.onnx").is_file()
    assert "parity" in capsys.readouterr().out


def test_cli_export_of_a_folder_without_a_model_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path), "--onnx", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("av-emotion export: error: ") and "save_pretrained" in err and "\n" not in err
