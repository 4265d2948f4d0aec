"""`av-emotion export`: write a saved model as ONNX (dynamic batch and clip length) and check it against PyTorch.

Examples:
    av-emotion export runs/avt_ca_synthetic/fold_0 --onnx avt_ca.onnx
    av-emotion export runs/avt_ca_synthetic/fold_0 --onnx avt_ca.onnx --no-check
    av-emotion export runs/avt_ca_synthetic/fold_0 --onnx-dir avt_ca_onnx   # model.onnx + config + processor
    av-emotion predict clip.mp4 --model avt_ca_onnx                          # the pipeline on onnxruntime

Needs the `onnx` extra for the check: pip install "av-emotion[onnx]".
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `export` arguments to `parser`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  av-emotion export runs/avt_ca_synthetic/fold_0 --onnx avt_ca.onnx\n"
        "  av-emotion export runs/avt_ca_synthetic/fold_0 --onnx-dir avt_ca_onnx\n"
        "  av-emotion predict clip.mp4 --model avt_ca_onnx\n"
        "inputs: pixel_values_videos, input_features, video_mask, audio_mask (bool); output: logits"
    )
    parser.add_argument("model_dir", metavar="DIR", help="folder written by save_pretrained (a training run's output)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--onnx", metavar="FILE", help="where to write the ONNX model")
    target.add_argument(
        "--onnx-dir",
        metavar="OUT",
        help="write OUT/model.onnx with the model's config and processor: a folder that `av-emotion predict --model "
        'OUT` and pipeline("audio-video-emotion", model=OUT) run with onnxruntime',
    )
    parser.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="skip the onnxruntime vs PyTorch comparison (2 batch sizes x 2 clip lengths, a modality missing)",
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="largest accepted |onnxruntime - PyTorch| on the logits"
    )


def run(args: argparse.Namespace) -> int:
    """Export as `args` say and print the parity figures."""
    from pathlib import Path

    from av_emotion.export import export_onnx, export_onnx_folder

    if not (Path(args.model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"{args.model_dir}: no config.json; pass a folder written by save_pretrained")
    if args.onnx_dir is not None:
        report = export_onnx_folder(args.model_dir, args.onnx_dir, check=args.check, tolerance=args.tolerance)
    else:
        report = export_onnx(args.model_dir, args.onnx, check=args.check, tolerance=args.tolerance)
    if args.check:
        for entry in report.checks:
            print(
                f"batch {entry['batch']}, {entry['audio_frames']} audio frames: max |onnxruntime - torch| "
                f"{entry['max_abs_diff']:.2e}"
            )
        print(f"wrote {report.path} (parity {report.max_abs_diff:.2e} <= {report.tolerance})")
    else:
        print(f"wrote {report.path} (not checked)")
    ranges = report.input_ranges
    if ranges:
        print(
            "accepts: "
            + ", ".join(
                f"{name.replace('_', ' ')} >= {low}" + (f" and <= {high}" if high is not None else "")
                for name, (low, high) in ranges.items()
            )
        )
    if args.onnx_dir is not None:
        print(f"run it: av-emotion predict CLIP --model {args.onnx_dir}")
    return 0
