"""`torch.export` and ONNX export of any av_emotion model, with an onnxruntime-vs-PyTorch parity check.

The exported graph takes the four model inputs by name (`INPUT_NAMES`) and returns the logits. Batch size and the
number of audio frames are dynamic; the number of video frames and the frame size are fixed by the model's
processor. Masks carry missing data as in PyTorch: a clip without audio has an all-False `audio_mask` row, one
without video an all-False `video_mask` row (the tensors must still be present, at the batch's shape).

Export runs the model in eval mode, where every forward is free of Python branches on tensor values (padded frames
and snippets are encoded and zeroed instead of skipped), so `torch.export` traces a single graph. The dynamic
dimensions are `Dim.AUTO`: export keeps them symbolic and records the range it proved (with torch 2.14: any batch
size, 1 included, and at least as many audio frames as the model's own minimum, the one its PyTorch forward checks).
`export_onnx` writes that range into the ONNX file's metadata (`INPUT_RANGES_KEY`), where
`ORTModelForAudioVideoEmotion` reads it to check, and where needed pad, what it feeds the graph; the `OnnxReport`
lists it too. `export_onnx_folder` writes the folder that `pipeline("audio-video-emotion", model=folder)` runs:
`model.onnx`, the model's `config.json` and its processor.
"""

from __future__ import annotations

import json
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
# ONNX metadata entry (JSON) with the range export proved for each dynamic dimension:
# {"batch": [min, max], "audio_frames": [min, max]}, max null when unbounded.
INPUT_RANGES_KEY = "av_emotion.input_ranges"
# File names of an exported folder (optimum's layout: the graph next to the config and the processor).
ONNX_FILE_NAME = "model.onnx"


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


def processor_video_shape(folder: str | Path) -> tuple[int, int, int] | None:
    """(frames, height, width) of the clips the processor saved in `folder` produces, or None without one.

    The exported graph fixes these dimensions, so they must be the processor's, not a guess from the config (Mocanu's
    config has no frame size: its 3D CNN takes any).
    """
    path = Path(folder) / "processor_config.json"
    if not path.is_file():
        return None
    video = json.loads(path.read_text()).get("video_processor", {})
    size = video.get("crop_size") if video.get("do_center_crop") else video.get("size")
    frames = video.get("num_frames")
    if not isinstance(size, dict) or "height" not in size or "width" not in size or not frames:
        return None
    return int(frames), int(size["height"]), int(size["width"])


def example_inputs(
    model: nn.Module,
    batch: int = 2,
    audio_frames: int = 256,
    missing: bool = False,
    seed: int = 0,
    video_shape: tuple[int, int, int] | None = None,
) -> dict[str, torch.Tensor]:
    """Random inputs of the model's geometry; with `missing`, clip 0 has no video and the last clip no audio.

    Clip 1 (when there are 3 or more) also has its audio padded past 60% of the frames, as in a mixed batch.
    `video_shape` (frames, height, width) overrides what the config says (see `processor_video_shape`).
    """
    frames, channels, size, features = _geometry(model)
    height = width = size
    if video_shape is not None:
        frames, height, width = video_shape
    generator = torch.Generator().manual_seed(seed)
    inputs = {
        "pixel_values_videos": torch.randn(batch, frames, channels, height, width, generator=generator),
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


def input_ranges(program: torch.export.ExportedProgram) -> dict[str, list[int | None]]:
    """Return the range export proved for the batch size and the number of audio frames: `{name: [min, max]}`.

    `max` is None when unbounded; a dimension export kept static has `min == max`.
    """
    shapes = {}
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in ("input_features", "audio_mask"):
            shapes[node.name] = node.meta["val"].shape
    sizes = {"batch": shapes["input_features"][0], "audio_frames": shapes["input_features"][2]}
    ranges: dict[str, list[int | None]] = {}
    for name, size in sizes.items():
        if isinstance(size, int):
            ranges[name] = [size, size]
            continue
        bounds = program.range_constraints.get(size.node.expr)
        if bounds is None:
            ranges[name] = [0, None]
            continue
        upper = bounds.upper
        # A sympy Integer (or int) when bounded; torch's `int_oo` (or sympy's `oo`) when not.
        bounded = isinstance(upper, int) or bool(getattr(upper, "is_Integer", False))
        ranges[name] = [int(bounds.lower), int(upper) if bounded else None]
    # Sizes of 0 are in the proved range but mean nothing to a user (a batch of no clips, audio of no frames).
    return {name: [max(low, 1), high] for name, (low, high) in ranges.items()}


def minimum_audio_frames(model: nn.Module, upper: int = 4096) -> int:
    """Fewest audio frames the model's PyTorch forward accepts (below it raises `ValueError`), by bisection.

    The graph computes something for shorter inputs where PyTorch refuses them (the exporter proves only what its
    operators need), so `export_onnx` records the larger of the two minimums and `ORTModelForAudioVideoEmotion`
    refuses what PyTorch refuses. Probes run one clip, audio only (cheap), in eval mode.
    """
    _, _, _, features = _geometry(model)
    model = model.eval()

    def accepts(length: int) -> bool:
        inputs = {
            "input_features": torch.zeros(1, features, length),
            "audio_mask": torch.ones(1, length, dtype=torch.bool),
        }
        try:
            with torch.no_grad():
                model(**inputs)
        except ValueError:
            return False
        return True

    if not accepts(upper):
        logger.warning("%s refuses %d audio frames alone; not recording a minimum", type(model).__name__, upper)
        return 1
    low, high = 1, upper  # accepts(high); find the smallest accepted length
    while low < high:
        middle = (low + high) // 2
        if accepts(middle):
            high = middle
        else:
            low = middle + 1
    return low


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
        input_ranges: The range export proved for the dynamic dimensions (see `input_ranges`), also written into
            the file's metadata.
    """

    path: Path
    max_abs_diff: float
    checks: list[dict[str, Any]] = field(default_factory=list)
    tolerance: float = PARITY_TOLERANCE
    input_ranges: dict[str, list[int | None]] = field(default_factory=dict)


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
    batches: tuple[int, ...] = (1, 2, 5),
    audio_lengths: tuple[int, ...] = (256, 397),
    video_shape: tuple[int, int, int] | None = None,
) -> list[dict[str, Any]]:
    """Run the ONNX file with onnxruntime and the model with PyTorch on the same batches; return the differences.

    Every combination of `batches` and `audio_lengths` is checked; batches of 2 or more with one clip missing its
    video and one missing its audio (a batch of 1 holds a whole clip). `video_shape` as in `example_inputs`.
    """
    onnxruntime = _import_onnxruntime()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {item.name for item in session.get_inputs()}
    model = model.eval()
    checks = []
    for batch in batches:
        for length in audio_lengths:
            seed = batch * 1000 + length
            inputs = example_inputs(model, batch, length, missing=batch >= 2, seed=seed, video_shape=video_shape)
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
    video_shape: tuple[int, int, int] | None = None,
) -> OnnxReport:
    """Export a model (or a saved model folder) to ONNX with `torch.onnx.export(..., dynamo=True)`.

    Args:
        model: A model, or a folder written by `save_pretrained` (loaded with its saved head).
        path: Where to write the `.onnx` file (its folder is created).
        check: Compare onnxruntime with PyTorch at batch sizes 1, 2 and 5 and two clip lengths, with one modality
            missing in part of the batch (`onnx_parity`); raise `ValueError` when a difference exceeds `tolerance`.
        tolerance: Largest accepted |onnxruntime - PyTorch| on the logits.
        opset_version: ONNX opset (default: torch's).
        video_shape: (frames, height, width) the graph takes, fixed in it. Default: what the processor saved in
            the model folder produces, else the config's frame count and size.
    """
    if isinstance(model, (str, Path)):
        from av_emotion.pipelines.audio_video_emotion import AutoModelForAudioVideoEmotion

        if video_shape is None:
            video_shape = processor_video_shape(model)
        model = AutoModelForAudioVideoEmotion.from_pretrained(str(model))
    model = model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = LogitsModule(model).eval()  # the wrapper too, or the exporter warns about training mode
    inputs = example_inputs(model, 3, 256, video_shape=video_shape)
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
    ranges = input_ranges(program.exported_program)
    low, high = ranges["audio_frames"]
    ranges["audio_frames"] = [max(low, minimum_audio_frames(model)), high]
    program.model.metadata_props[INPUT_RANGES_KEY] = json.dumps(ranges)
    program.model.metadata_props["av_emotion.model_type"] = str(model.config.model_type)
    program.save(str(path))
    report = OnnxReport(path=path, max_abs_diff=0.0, tolerance=tolerance, input_ranges=ranges)
    if check:
        report.checks = onnx_parity(model, path, video_shape=video_shape)
        report.max_abs_diff = max(entry["max_abs_diff"] for entry in report.checks)
        if report.max_abs_diff > tolerance:
            raise ValueError(
                f"{path}: onnxruntime differs from PyTorch by {report.max_abs_diff:.3g} (> {tolerance}); "
                f"checks: {report.checks}"
            )
    return report


def export_onnx_folder(
    model: str | Path,
    output_dir: str | Path,
    *,
    check: bool = True,
    tolerance: float = PARITY_TOLERANCE,
    opset_version: int | None = None,
) -> OnnxReport:
    """Export a saved model folder into a folder the pipeline and `ORTModelForAudioVideoEmotion` load.

    `output_dir` gets `model.onnx` (as `export_onnx` writes it, checked unless `check=False`), the model's
    `config.json` and, when the source folder has one, its processor (`processor_config.json`), so
    `pipeline("audio-video-emotion", model=output_dir)` and `av-emotion predict --model output_dir` run the graph
    with onnxruntime. Without a saved processor the pipeline needs `processor=`; a warning says so.
    """
    from transformers import AutoConfig

    source = Path(model)
    if not (source / "config.json").is_file():
        raise FileNotFoundError(f"{source}: no config.json; pass a folder written by save_pretrained")
    output_dir = Path(output_dir)
    if output_dir.resolve() == source.resolve():
        raise ValueError(f"{output_dir}: write the ONNX folder somewhere other than the model folder it comes from")
    report = export_onnx(
        source, output_dir / ONNX_FILE_NAME, check=check, tolerance=tolerance, opset_version=opset_version
    )
    AutoConfig.from_pretrained(str(source)).save_pretrained(str(output_dir))
    if (source / "processor_config.json").is_file():
        from transformers import AutoProcessor

        AutoProcessor.from_pretrained(str(source)).save_pretrained(str(output_dir))
    else:
        logger.warning(
            "%s has no processor_config.json: the pipeline will need processor= to run %s", source, output_dir
        )
    return report


__all__ = [
    "INPUT_NAMES",
    "INPUT_RANGES_KEY",
    "ONNX_FILE_NAME",
    "OUTPUT_NAMES",
    "PARITY_TOLERANCE",
    "LogitsModule",
    "OnnxReport",
    "example_inputs",
    "export_onnx",
    "export_onnx_folder",
    "export_program",
    "input_ranges",
    "minimum_audio_frames",
    "onnx_parity",
    "processor_video_shape",
]
