"""`av-emotion evaluate`: score saved models on speaker-independent folds, as mean ± std.

Examples:
    av-emotion evaluate --config recipes/configs/avt_ca_ravdess.yaml --model runs/avt_ca_ravdess/fold_0 --fold 0
    av-emotion evaluate --config recipes/configs/avt_ca_ravdess.yaml --model 'runs/avt_ca_ravdess/fold_{fold}' --fold all
    av-emotion evaluate --config X.yaml --model 'runs/seed1/fold_{fold}' --model 'runs/seed2/fold_{fold}' --fold all

`{fold}` in a model path is replaced by each fold number; several `--model` values (e.g. one per seed)
are all scored and summarised together.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `evaluate` arguments to `parser`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  av-emotion evaluate --config recipes/configs/avt_ca_ravdess.yaml --model runs/avt_ca_ravdess/fold_0 --fold 0\n"
        "  av-emotion evaluate --config recipes/configs/avt_ca_ravdess.yaml --model 'runs/avt_ca_ravdess/fold_{fold}' --fold all"
    )
    parser.add_argument(
        "--config", required=True, metavar="YAML", help="the recipe config the models were trained with"
    )
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="DIR",
        help="saved model folder; '{fold}' is replaced by the fold number; repeat for several seeds",
    )
    parser.add_argument("--fold", default=None, help="fold number, or 'all' (default: data.fold of the config)")
    parser.add_argument("--split", default="test", choices=["test", "validation", "train"], help="split to score")
    parser.add_argument("--output", default=None, metavar="JSON", help="also write every run and the summary here")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="override config entries")


def run(args: argparse.Namespace) -> int:
    """Evaluate as `args` say; prints one line per run and the mean ± std summary."""
    import dataclasses
    import json
    from pathlib import Path

    import av_emotion  # noqa: F401  (registers every architecture and processor)
    from av_emotion.training.config import load_config
    from av_emotion.training.data import build_corpus_of
    from av_emotion.training.evaluation import evaluate_saved_model, fold_count, format_summary, summarize_runs
    from av_emotion.training.loop import make_accelerator

    accelerator = make_accelerator()
    # Under `accelerate launch` every process scores its share of each split and gets all the metrics back;
    # the main process alone prints them and writes the file.
    main_process = accelerator.is_main_process
    config = load_config(args.config, args.overrides)
    if args.fold is None:
        folds = [config.data.fold]
    elif args.fold == "all":
        folds = list(range(fold_count(config)))
    else:
        folds = [int(args.fold)]
    corpus = build_corpus_of(config, log=lambda _line: None)  # scanned and probed once for every fold and model
    runs = []
    for template in args.model:
        for fold in folds:
            fold_config = dataclasses.replace(config, data=dataclasses.replace(config.data, fold=fold))
            model_dir = template.format(fold=fold, seed=config.training.seed)
            result = evaluate_saved_model(
                model_dir, fold_config, split=args.split, accelerator=accelerator, log=lambda _line: None, corpus=corpus
            )
            scores = ", ".join(
                f"{key} {value:.4f}" for key, value in result.items() if isinstance(value, float) and key != "loss"
            )
            if main_process:
                print(f"{model_dir} fold {fold} {args.split}: {scores}")
            runs.append(result)
    summary = summarize_runs(runs)
    if main_process:
        print(f"\n{args.split} over {len(runs)} run(s) (mean ± sample std; accuracy/UAR/F1 in %):")
        print(format_summary(summary))
        if args.output:
            Path(args.output).write_text(json.dumps({"runs": runs, "summary": summary}, indent=2))
    return 0
