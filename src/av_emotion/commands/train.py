"""`av-emotion train`: run a training recipe (the same code as `accelerate launch recipes/train.py`).

Examples:
    av-emotion train --config recipes/configs/av_metric_fusion_synthetic.yaml
    av-emotion train --config recipes/configs/avt_ca_ravdess.yaml --fold 2 data.root=/data/RAVDESS
    av-emotion train --config recipes/configs/avt_ca_ravdess.yaml --resume
    accelerate launch recipes/train.py --config recipes/configs/avt_ca_ravdess.yaml   # multi-GPU / multi-node

Everything a run does is in its YAML; `section.key=value` arguments override single entries.
"""

from __future__ import annotations

import argparse

# torch, transformers and datasets are imported inside `run`, so `av-emotion --help` stays fast.


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `train` arguments to `parser`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  av-emotion train --config recipes/configs/av_metric_fusion_synthetic.yaml\n"
        "  av-emotion train --config recipes/configs/avt_ca_ravdess.yaml --fold 2 data.root=/data/RAVDESS\n"
        "  av-emotion train --config recipes/configs/avt_ca_ravdess.yaml --resume\n"
        "multi-GPU / multi-node: accelerate launch recipes/train.py --config ... (same arguments)"
    )
    parser.add_argument("--config", required=True, metavar="YAML", help="recipe config (see recipes/configs/)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue from the newest checkpoint of the output folder, or from the given checkpoint folder",
    )
    parser.add_argument("--fold", type=int, default=None, help="override data.fold (0-based)")
    parser.add_argument("--seed", type=int, default=None, help="override training.seed")
    parser.add_argument(
        "--output-dir", "--output_dir", dest="output_dir", default=None, help="override training.output_dir"
    )
    parser.add_argument(
        "--push-to-hub",
        "--push_to_hub",
        dest="push_to_hub",
        default=None,
        metavar="REPO_ID",
        help="push the final model to this Hub repo (needs the Hub helpers and a login)",
    )
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="override config entries")


def config_from_args(args: argparse.Namespace):
    """Load the recipe config named by `args`, with its overrides applied."""
    from av_emotion.training.config import load_config

    overrides = list(args.overrides)
    if args.fold is not None:
        overrides.append(f"data.fold={args.fold}")
    if args.seed is not None:
        overrides.append(f"training.seed={args.seed}")
    if args.output_dir is not None:
        overrides.append(f"training.output_dir={args.output_dir}")
    if getattr(args, "push_to_hub", None):
        overrides.append(f"training.push_to_hub={args.push_to_hub}")
    return load_config(args.config, overrides)


def run(args: argparse.Namespace) -> int:
    """Train as `args` say; returns the exit status."""
    import av_emotion  # noqa: F401  (registers every architecture and processor)
    from av_emotion.training.loop import train

    config = config_from_args(args)
    result = train(config, resume=args.resume)
    if config.training.push_to_hub:
        from accelerate import PartialState

        if PartialState().is_main_process:
            from av_emotion.hub import push_to_hub

            push_to_hub(result.output_dir, config.training.push_to_hub)
    return 0
