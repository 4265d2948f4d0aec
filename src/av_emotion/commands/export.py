"""`av-emotion export`: write a saved model as ONNX (dynamic batch and clip length) and check it against PyTorch.

Examples:
    av-emotion export runs/avt_ca_synthetic/fold_0 --onnx avt_ca.onnx
    av-emotion export runs/avt_ca_synthetic/fold_0 --onnx avt_ca.onnx --no-check

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
        "inputs: pixel_values_videos, input_features, video_mask, audio_mask (bool); output: logits"
    )
    parser.add_argument("model_dir", metavar="DIR", help="folder written by save_pretrained (a training run's output)")
    parser.add_argument("--onnx", required=True, metavar="FILE", help="where to write the ONNX model")
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

    from av_emotion.export import export_onnx

    if not (Path(args.model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"{args.model_dir}: no config.json; pass a folder written by save_pretrained")
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
    return 0
