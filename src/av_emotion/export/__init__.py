"""Export a saved model: `torch.export` programs and ONNX files (dynamic batch and clip length), with parity checks.

    >>> from av_emotion.export import export_onnx
    >>> report = export_onnx("runs/avt_ca_synthetic/fold_0", "model.onnx")  # checks onnxruntime against PyTorch

`av-emotion export DIR --onnx FILE` runs the same; `av-emotion export DIR --onnx-dir OUT` (`export_onnx_folder`)
writes `OUT/model.onnx` with the config and the processor, a folder that `ORTModelForAudioVideoEmotion`,
`pipeline("audio-video-emotion", model=OUT)` and `av-emotion predict --model OUT` run with onnxruntime. ONNX Runtime
is an optional dependency: `pip install "av-emotion[onnx]"`.
"""

from av_emotion.export.modeling_ort import ORTModelForAudioVideoEmotion, is_onnx_folder
from av_emotion.export.onnx import (
    INPUT_NAMES,
    INPUT_RANGES_KEY,
    LogitsModule,
    OnnxReport,
    example_inputs,
    export_onnx,
    export_onnx_folder,
    export_program,
    input_ranges,
    minimum_audio_frames,
    onnx_parity,
)

__all__ = [
    "INPUT_NAMES",
    "INPUT_RANGES_KEY",
    "LogitsModule",
    "ORTModelForAudioVideoEmotion",
    "OnnxReport",
    "example_inputs",
    "export_onnx",
    "export_onnx_folder",
    "export_program",
    "input_ranges",
    "is_onnx_folder",
    "minimum_audio_frames",
    "onnx_parity",
]
