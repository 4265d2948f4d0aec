"""Train an audio-video emotion model from a YAML recipe, on one process or many.

    accelerate launch recipes/train.py --config recipes/configs/av_metric_fusion_synthetic.yaml
    accelerate launch recipes/train.py --config recipes/configs/avt_ca_ravdess.yaml --fold 2 data.root=/data/RAVDESS
    accelerate launch recipes/train.py --config recipes/configs/avt_ca_ravdess.yaml --resume
    ACCELERATE_USE_CPU=true accelerate launch --multi_gpu --num_processes 2 recipes/train.py --config ...  # 2 CPU processes

The recipe never names an architecture: the config does (`model.model_type`), and
`av_emotion.training` builds the model, the processor and the data from it. See
`av_emotion.training.loop.train` for what a run does and writes.
"""

import argparse
import sys
from pathlib import Path

# Python puts this script's folder first on the path, and the folder holds `evaluate.py`, which would shadow the
# `evaluate` library that computes the metrics: take the folder off the path before importing anything.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

from av_emotion.commands.train import add_arguments, run  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train an audio-video emotion model from a YAML recipe.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
