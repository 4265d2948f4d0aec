"""Export a saved model: `torch.export` programs and ONNX files (dynamic batch and clip length), with parity checks.

    >>> from av_emotion.export import export_onnx
    >>> report = export_onnx("runs/avt_ca_synthetic/fold_0", "model.onnx")  # checks onnxruntime against PyTorch

`av-emotion export DIR --onnx FILE` runs the same. ONNX Runtime is an optional dependency:
`pip install "av-emotion[onnx]"`.
"""

from av_emotion.export.onnx import (
    INPUT_NAMES,
    LogitsModule,
    OnnxReport,
    example_inputs,
    export_onnx,
    export_program,
    onnx_parity,
)

__all__ = [
    "INPUT_NAMES",
    "LogitsModule",
    "OnnxReport",
    "example_inputs",
    "export_onnx",
    "export_program",
    "onnx_parity",
]
