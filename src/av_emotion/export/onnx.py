"""`torch.export` and ONNX export of any av_emotion model, with an onnxruntime-vs-PyTorch parity check.

The exported graph takes the four model inputs by name (`INPUT_NAMES`) and returns the logits. Batch size and the
number of audio frames are dynamic; the number of video frames and the frame size are fixed by the model's
processor. Masks carry missing data as in PyTorch: a clip without audio has an all-False `audio_mask` row, one
without video an all-False `video_mask` row (the tensors must still be present, at the batch's shape).

Export runs the model in eval mode, where every forward is free of Python branches on tensor values (padded frames
and snippets are encoded and zeroed instead of skipped), so `torch.export` traces a single graph. The dynamic
dimensions are `Dim.AUTO`: export keeps them symbolic and records the range it proved, typically batch >= 2
(torch.export specialises a size-1 dimension) and an audio length above what the convolution strides need; the
`OnnxReport` lists them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

INPUT_NAMES = ("pixel_values_videos", "input_features", "video_mask", "audio_mask")
OUTPUT_NAMES = ("logits",)
# onnxruntime vs PyTorch: float32 kernels differ in summation order, nothing more.
PARITY_TOLERANCE = 1e-4


class LogitsModule(nn.Module):
    """Wrap a model so that it takes the four inputs positionally and returns only `logits` (what export needs)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(
        self,
        pixel_values_videos: torch.Tensor,
        input_features: torch.Tensor,
        video_mask: torch.Tensor,
        audio_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Return the logits `(B, num_outputs)`."""
        return self.model(
            pixel_values_videos=pixel_values_videos,
            input_features=input_features,
            video_mask=video_mask,
            audio_mask=audio_mask,
        ).logits


def _geometry(model: nn.Module) -> tuple[int, int, int, int]:
    """(frames, channels, frame size, audio features) the model reads, from its config."""
    config = model.config
    frames = getattr(config, "num_frames", None)
    if frames is None:
        frames = config.num_snippets * config.frames_per_snippet
    features = getattr(config, "num_audio_features", None) or config.num_mel_bins
    size = getattr(config, "image_size", None) or 112
    return int(frames), int(config.num_channels), int(size), int(features)


def example_inputs(
    model: nn.Module, batch: int = 2, audio_frames: int = 256, missing: bool = False, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random inputs of the model's geometry; with `missing`, clip 0 has no video and the last clip no audio.

    Clip 1 (when there are 3 or more) also has its audio padded past 60% of the frames, as in a mixed batch.
    """
    frames, channels, size, features = _geometry(model)
    generator = torch.Generator().manual_seed(seed)
    inputs = {
        "pixel_values_videos": torch.randn(batch, frames, channels, size, size, generator=generator),
        "input_features": torch.randn(batch, features, audio_frames, generator=generator),
        "video_mask": torch.ones(batch, frames, dtype=torch.bool),
        "audio_mask": torch.ones(batch, audio_frames, dtype=torch.bool),
    }
    if missing:
        inputs["video_mask"][0] = False
        inputs["audio_mask"][-1] = False
        if batch >= 3:
            inputs["audio_mask"][1, int(0.6 * audio_frames) :] = False
    return inputs


def _dynamic_shapes() -> dict[str, dict[int, Any]]:
    auto = torch.export.Dim.AUTO
    return {
        "pixel_values_videos": {0: auto},
        "input_features": {0: auto, 2: auto},
        "video_mask": {0: auto},
        "audio_mask": {0: auto, 1: auto},
    }


def export_program(model: nn.Module, batch: int = 3, audio_frames: int = 256) -> torch.export.ExportedProgram:
    """`torch.export.export` of `LogitsModule(model)` in eval mode, dynamic in batch and audio frames."""
    module = LogitsModule(model.eval())
    inputs = example_inputs(model, batch, audio_frames)
    return torch.export.export(module, (), kwargs=inputs, dynamic_shapes=_dynamic_shapes(), strict=False)


@dataclass
class OnnxReport:
    """What `export_onnx` wrote and how closely onnxruntime matches PyTorch.

    Attributes:
        path: The ONNX file.
        max_abs_diff: Largest |onnxruntime - PyTorch| over the checked batches.
        checks: One entry per checked batch: batch size, audio frames, max abs diff.
        tolerance: The bound the check enforces.
    """

    path: Path
    max_abs_diff: float
    checks: list[dict[str, Any]] = field(default_factory=list)
    tolerance: float = PARITY_TOLERANCE


def _import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            'the ONNX parity check needs onnxruntime: pip install "av-emotion[onnx]" (or pass check=False)'
        ) from error
    return onnxruntime


def onnx_parity(
    model: nn.Module,
    path: str | Path,
    batches: tuple[int, ...] = (2, 5),
    audio_lengths: tuple[int, ...] = (256, 397),
) -> list[dict[str, Any]]:
    """Run the ONNX file with onnxruntime and the model with PyTorch on the same batches; return the differences.

    Every combination of `batches` and `audio_lengths` is checked, each with one clip missing its video and one
    missing its audio.
    """
    onnxruntime = _import_onnxruntime()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {item.name for item in session.get_inputs()}
    model = model.eval()
    checks = []
    for batch in batches:
        for length in audio_lengths:
            inputs = example_inputs(model, batch, length, missing=True, seed=batch * 1000 + length)
            with torch.no_grad():
                expected = LogitsModule(model)(**inputs).float().numpy()
            feed = {name: value.numpy() for name, value in inputs.items() if name in names}
            (got,) = session.run(list(OUTPUT_NAMES), feed)
            checks.append({"batch": batch, "audio_frames": length, "max_abs_diff": float(abs(got - expected).max())})
    return checks


def export_onnx(
    model: nn.Module | str | Path,
    path: str | Path,
    *,
    check: bool = True,
    tolerance: float = PARITY_TOLERANCE,
    opset_version: int | None = None,
) -> OnnxReport:
    """Export a model (or a saved model folder) to ONNX with `torch.onnx.export(..., dynamo=True)`.

    Args:
        model: A model, or a folder written by `save_pretrained` (loaded with its saved head).
        path: Where to write the `.onnx` file (its folder is created).
        check: Compare onnxruntime with PyTorch at two batch sizes and two clip lengths, with one modality
            missing in part of the batch (`onnx_parity`); raise `ValueError` when a difference exceeds `tolerance`.
        tolerance: Largest accepted |onnxruntime - PyTorch| on the logits.
        opset_version: ONNX opset (default: torch's).
    """
    if isinstance(model, (str, Path)):
        from av_emotion.pipelines.audio_video_emotion import AutoModelForAudioVideoEmotion

        model = AutoModelForAudioVideoEmotion.from_pretrained(str(model))
    model = model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = LogitsModule(model)
    inputs = example_inputs(model, 3, 256)
    kwargs = {} if opset_version is None else {"opset_version": opset_version}
    program = torch.onnx.export(
        module,
        (),
        kwargs=inputs,
        dynamo=True,
        dynamic_shapes=_dynamic_shapes(),
        input_names=list(INPUT_NAMES),
        output_names=list(OUTPUT_NAMES),
        **kwargs,
    )
    program.save(str(path))
    report = OnnxReport(path=path, max_abs_diff=0.0, tolerance=tolerance)
    if check:
        report.checks = onnx_parity(model, path)
        report.max_abs_diff = max(entry["max_abs_diff"] for entry in report.checks)
        if report.max_abs_diff > tolerance:
            raise ValueError(
                f"{path}: onnxruntime differs from PyTorch by {report.max_abs_diff:.3g} (> {tolerance}); "
                f"checks: {report.checks}"
            )
    return report


__all__ = [
    "INPUT_NAMES",
    "OUTPUT_NAMES",
    "PARITY_TOLERANCE",
    "LogitsModule",
    "OnnxReport",
    "example_inputs",
    "export_onnx",
    "export_program",
    "onnx_parity",
]
