r"""`av-emotion convert`: load published backbone weights into a model and save it (safetensors).

    av-emotion convert --recipe recipes/configs/avt_ca_ravdess.yaml \
        --video efficientface=EfficientFace_Trained_on_AffectNet7.pth.tar --out pretrained/avt_ca_efficientface

The model is built from the recipe's `model` section (architecture, head, config), the checkpoints are mapped
onto its encoders, the load report is printed, and the model is written with `save_pretrained` plus
`conversion_report.json`. Train from it with `model.pretrained: <out>` in the recipe.
"""

from __future__ import annotations

import argparse


def _checkpoint_argument(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected FORMAT=PATH, for example efficientface=weights.pth.tar")
    fmt, path = text.split("=", 1)
    return fmt.strip(), path.strip()


class _ListFormatsAction(argparse.Action):
    """`--list-formats`: print the checkpoint formats and exit (like `--version`, so `--out` is not needed).

    The list lives with the loaders, which import torch; `av-emotion convert --help` must not (the CLI stays fast).
    """

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from av_emotion.convert.pretrained import BACKBONE_FORMATS

        for name, fmt in BACKBONE_FORMATS.items():
            print(f"{name} ({fmt.modality}): {fmt.description}")
        parser.exit()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `convert` options."""
    formats = "FORMAT is a published checkpoint format: `av-emotion convert --list-formats` lists them"
    parser.add_argument("--list-formats", action=_ListFormatsAction, help="print the checkpoint formats and exit")
    parser.add_argument("--recipe", help="recipe YAML whose `model` section describes the model to build")
    parser.add_argument("--model-type", help="architecture, when no recipe is given (its default config)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model config override (YAML value), for example visual_backbone_layout=torchvision; repeatable",
    )
    parser.add_argument("--video", type=_checkpoint_argument, metavar="FORMAT=PATH", help=f"video backbone. {formats}")
    parser.add_argument("--audio", type=_checkpoint_argument, metavar="FORMAT=PATH", help="audio backbone (as --video)")
    parser.add_argument("--out", required=True, help="folder to write the converted model into")
    parser.add_argument(
        "--no-strict", action="store_true", help="write the model even when keys are missing or unexpected"
    )


def run(args: argparse.Namespace) -> int:
    """Build the model, load the backbones, print the reports, save; returns the exit code.

    Bad arguments and checkpoints that do not fit raise `ValueError`: the command line reports them in one line
    (exit code 2) after the load report tables.
    """
    import yaml

    from av_emotion.convert.pretrained import convert_backbones
    from av_emotion.training.config import ModelSection, load_config
    from av_emotion.training.factory import build_model

    if args.recipe:
        section = load_config(args.recipe).model
    elif args.model_type:
        section = ModelSection(model_type=args.model_type)
    else:
        raise ValueError("give --recipe RECIPE.yaml or --model-type NAME to say which model to build")
    for override in args.set:
        key, _, value = override.partition("=")
        section.config[key.strip()] = yaml.safe_load(value)
    checkpoints = {modality: getattr(args, modality) for modality in ("video", "audio") if getattr(args, modality)}
    if not checkpoints:
        raise ValueError(
            "give --video FORMAT=PATH and/or --audio FORMAT=PATH (formats: av-emotion convert --list-formats)"
        )
    section.pretrained = None
    section.backbones = {}
    model = build_model(section, label_names=_default_labels(section))
    convert_backbones(
        model, checkpoints, args.out, strict=not args.no_strict, on_report=lambda report: print(report.to_table())
    )
    print(f"saved {model.config.model_type} with converted backbones to {args.out}")
    return 0


def _default_labels(section) -> list[str]:
    """Labels of the converted model: the architecture's default (the recipe re-labels it from its corpus)."""
    from transformers import AutoConfig

    if section.head == "regression":
        return ["valence", "arousal"]
    config = AutoConfig.for_model(section.model_type)
    return [config.id2label[index] for index in sorted(config.id2label)]
