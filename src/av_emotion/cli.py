"""The `av-emotion` command line: one sub-command per job, each in the module that owns the job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

# Each entry: name -> (module path, help). The module exposes `add_arguments(parser)` and `run(args)`;
# only the module of the sub-command being run is imported (its own imports can be heavy: the trainer, the
# pipeline, the Hub client).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": (
        "av_emotion.commands.quickstart",
        "Write a synthetic corpus, train a CPU-sized model, evaluate it on held-out actors, save it and predict a clip.",
    ),
    "train": (
        "av_emotion.commands.train",
        "Train a model from a YAML recipe (as `accelerate launch recipes/train.py`).",
    ),
    "evaluate": ("av_emotion.commands.evaluate", "Evaluate saved models on speaker-independent folds (mean ± std)."),
    "synth": ("av_emotion.commands.synth", "Write a synthetic audio-video emotion corpus (mp4 + metadata.jsonl)."),
    "push": ("av_emotion.commands.push", "Publish a saved model, its processor and card to the Hub."),
    "predict": ("av_emotion.commands.predict", "Predict the emotions of video files with a trained model."),
    "export": ("av_emotion.commands.export", "Export a saved model to ONNX and check it against PyTorch."),
    "convert": (
        "av_emotion.commands.convert",
        "Load published backbone weights (EfficientFace, torchvision video ResNets, ResNet-18) into a model.",
    ),
    "demo": ("av_emotion.commands.demo", "Serve a web page where people upload or record a video (Gradio)."),
}


def _load(module_path: str) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]:
    import importlib

    module = importlib.import_module(module_path)
    return module.add_arguments, module.run


def _package_version() -> str:
    try:
        return version("av_emotion")
    except PackageNotFoundError:  # running from a source tree that was never installed
        import av_emotion

        return av_emotion.__version__


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the argument parser; only the sub-commands in `commands` (default: all) get their arguments.

    Every sub-command is listed in `--help`; loading one's arguments imports its module.
    """
    parser = argparse.ArgumentParser(
        prog="av-emotion",
        description="Audio-video emotion recognition: synthesize data, train, evaluate, predict, publish.",
    )
    parser.add_argument("--version", action="version", version=f"av-emotion {_package_version()}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_path, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if commands is None or name in commands:
            add_arguments, run = _load(module_path)
            add_arguments(sub_parser)
            sub_parser.set_defaults(_run=run)
    return parser


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the input or the environment is wrong", reported in one line (exit code 2).

    Bad values, configs and overrides (`ValueError`, `KeyError`, `TypeError` from a config's keyword
    arguments), missing or existing files and failed connections (`OSError`, which covers the Hub client's
    HTTP and offline errors), and a missing optional package (`ImportError`). Anything else is a bug and keeps
    its traceback.
    """
    return (ValueError, KeyError, TypeError, OSError, ImportError)


def describe_error(error: BaseException) -> str:
    """Return the error's message on one line (a `KeyError`'s without the quotes `str` adds)."""
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    message = " ".join(str(message).split()) or type(error).__name__
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `av-emotion` console script.

    A user error (see `user_error_types`) prints `av-emotion COMMAND: error: MESSAGE` on one line and returns 2;
    `--debug` (before or after the sub-command) shows the full traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [argument for argument in argv if argument != "--debug"]
    # The top-level parser has no option taking a value, so its first positional argument is the sub-command.
    command = next((argument for argument in argv if not argument.startswith("-")), None)
    parser = build_parser([command] if command else [])
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except user_error_types() as error:
        if debug:
            raise
        print(f"av-emotion {command}: error: {describe_error(error)} (--debug shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
