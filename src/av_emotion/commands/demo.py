"""`av-emotion demo`: a web page where people upload or record a video and see its emotions over time.

Examples:
    av-emotion demo --model ./my-model
    av-emotion demo --model user/repo --host 0.0.0.0 --port 7860
    av-emotion demo --model ./my-model --share true

Needs the `demo` extra (`pip install "av-emotion[demo]"`, which brings Gradio); Gradio is imported by this command
only. The page shows the top emotions, the timeline, the face crops the model saw, the modalities used and the
model card's limitations. One upload is analysed at a time; the others wait in a queue.
"""

from __future__ import annotations

import argparse
import sys


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "1", "on"):
        return True
    if value in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `demo` arguments to its sub-parser."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  av-emotion demo --model ./my-model\n"
        "  av-emotion demo --model user/repo --host 0.0.0.0 --port 7860\n\n"
        'needs the demo extra: pip install "av-emotion[demo]"'
    )
    parser.add_argument(
        "--model", required=True, metavar="DIR_OR_REPO", help="a local model directory or a Hugging Face Hub repo id"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    parser.add_argument(
        "--share",
        type=_boolean,
        default=False,
        metavar="{true,false}",
        help="also serve a public gradio.live link (default false: the page is reachable on --host only)",
    )
    parser.add_argument(
        "--max-duration",
        type=float,
        default=None,
        metavar="S",
        help="longest accepted upload, seconds (default: av_emotion.demo.DEMO_LIMITS, 300)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=None,
        metavar="MB",
        help="largest accepted upload, megabytes (default: av_emotion.demo.DEMO_LIMITS, 256)",
    )
    parser.add_argument(
        "--min-face-fraction",
        type=float,
        default=None,
        metavar="F",
        help="no prediction for windows where fewer than this share of the sampled frames, in [0, 1], had a face "
        "(default: always predict, and say where no face was found)",
    )
    parser.add_argument(
        "--device",
        default=None,
        help='"cpu", "cuda", "cuda:1", ... (default: first GPU if CUDA is available, else CPU)',
    )


def run(args: argparse.Namespace) -> int:
    """Serve the demo until interrupted; returns the exit status (2: Gradio missing or the model does not load)."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('av-emotion demo: error: Gradio is not installed; pip install "av-emotion[demo]"', file=sys.stderr)
        return 2
    import dataclasses

    from av_emotion.demo.app import launch_demo
    from av_emotion.demo.inference import DEMO_LIMITS

    limits = DEMO_LIMITS
    if args.max_duration is not None:
        limits = dataclasses.replace(limits, max_duration_s=args.max_duration)
    if args.max_upload_mb is not None:
        limits = dataclasses.replace(limits, max_file_bytes=int(args.max_upload_mb * 1024**2))
    if args.min_face_fraction is not None and not 0.0 <= args.min_face_fraction <= 1.0:
        print(
            f"av-emotion demo: error: --min-face-fraction must be a share of frames in [0, 1], got {args.min_face_fraction}",
            file=sys.stderr,
        )
        return 2
    device = args.device
    if device is not None and device.isdigit():
        device = int(device)
    try:
        launch_demo(
            args.model,
            host=args.host,
            port=args.port,
            share=args.share,
            limits=limits,
            device=device,
            min_face_fraction=args.min_face_fraction,
        )
    except (OSError, ValueError, KeyError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"av-emotion demo: error: cannot serve {args.model!r}: {first_line}", file=sys.stderr)
        return 2
    return 0
