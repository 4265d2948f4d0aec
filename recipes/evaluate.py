"""Evaluate saved models on one fold or all folds of a corpus, reporting mean ± std.

    python recipes/evaluate.py --config recipes/configs/avt_ca_ravdess.yaml --model runs/avt_ca_ravdess/fold_0
    python recipes/evaluate.py --config recipes/configs/avt_ca_ravdess.yaml --model 'runs/avt_ca_ravdess/fold_{fold}' --fold all
    accelerate launch recipes/evaluate.py ...   # data-parallel evaluation

Each model is scored through its own saved processor; see `av_emotion.training.evaluation`.
"""

import argparse
import sys
from pathlib import Path

# Python puts this script's folder first on the path, and the folder holds `evaluate.py`, which would shadow the
# `evaluate` library that computes the metrics: take the folder off the path before importing anything.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

from av_emotion.commands.evaluate import add_arguments, run  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Evaluate saved audio-video emotion models on speaker-independent folds."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
