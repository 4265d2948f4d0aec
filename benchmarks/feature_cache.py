"""Frozen encoders computed once (issue #18): a JCA training epoch from the feature cache vs recomputing them.

The model is Joint Cross-Attention at the paper recipe's config (`recipes/configs/joint_cross_attention_ravdess.yaml`:
8 sub-clips of 8 face frames at 112 x 112 through torchvision's R(2+1)D-18, 64 log-mel bands at 44.1 kHz through
a one-channel ResNet-18, both encoders frozen, processor preset "jca2022" with the whole clip), trained through
`av_emotion.training.loop.train` on a generated synthetic corpus (RAVDESS-style mp4 files; CPU-sized, see
`--num-actors`). The published backbone weights are not downloaded here: the encoders start from random weights
saved as a "pretrained" model, which changes nothing in the time they take. The recipe's `video_flip_prob: 0.5`
is set to `--video-flip-prob` (0 by default: a flip changes the video encoder's input every epoch, so with it
`data.feature_cache: auto` caches the audio encoder only, and says so).

Three runs of the same recipe, same seed, one after the other, after one untimed preprocessing pass:

1. `data.feature_cache: off`: the encoders run on every training step (the recipes before the cache);
2. `data.feature_cache: on`, cache cold: the encoders run once over every clip (train and test), then train;
3. `data.feature_cache: on`, cache warm: the next run with the same encoders and processor reads the cache.

An epoch is timed from the start of the training loop to the last optimizer step of the epoch (a tracker stamps
each logged step; `log_every_steps: 1`), so the test evaluation after training is not in it. The per-step
training losses of the three runs are compared (stated tolerance `LOSS_TOLERANCE`).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/feature_cache.py        # about 12 min on one loaded core

Writes `benchmarks/results/feature_cache.{md,json}` (`--results-name` for another name, e.g. a run with flips:
`--video-flip-prob 0.5 --results-name feature_cache_flip`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from accelerate.tracking import GeneralTracker

from av_emotion.modeling.joint_cross_attention import (
    JointCrossAttentionConfig,
    JointCrossAttentionForEmotionClassification,
)
from av_emotion.training.config import load_config
from av_emotion.training.data import prepare_data
from av_emotion.training.factory import build_processor
from av_emotion.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAPER_RECIPE = ROOT / "recipes" / "configs" / "joint_cross_attention_ravdess.yaml"
# Cached and recomputed training differ by float rounding only (the encoders see each clip padded to other
# batch-mates, which their masked convolutions ignore in another summation order): per-step losses within this.
LOSS_TOLERANCE = 1e-4
# The goal: an epoch from the cache at least this many times faster than recomputing the encoders.
GOAL = 10.0


class StepRecorder(GeneralTracker):
    """An Accelerate tracker that stamps every logged value with `time.perf_counter()`."""

    name = "step_recorder"
    requires_logging_directory = False

    def __init__(self):
        super().__init__()
        self.started: float | None = None
        self.records: list[tuple[float, int | None, dict[str, Any]]] = []

    @property
    def tracker(self):
        return self

    def store_init_configuration(self, values: dict) -> None:
        self.started = time.perf_counter()  # `init_trackers`, right before the training loop

    def log(self, values: dict, step: int | None = None, **kwargs) -> None:
        self.records.append((time.perf_counter(), step, dict(values)))

    def steps(self) -> list[tuple[float, int, float, int]]:
        """(time, step, training loss, epoch) of every logged optimizer step."""
        return [
            (stamp, step, values["train/loss"], values["train/epoch"])
            for stamp, step, values in self.records
            if "train/loss" in values
        ]


def _config(args: argparse.Namespace, work: Path, start: Path, name: str, feature_cache: str):
    generate = {"num_actors": args.num_actors, "clips_per_emotion": args.clips_per_emotion, "seed": args.seed}
    overrides = {
        "model.pretrained": str(start),
        "model.backbones": "{}",
        "data.corpus": "synthetic",
        "data.root": str(work / "corpus"),
        "data.generate": json.dumps(generate),
        "data.fold_protocol": "null",
        "data.num_folds": args.num_actors,
        "data.validation_speakers": 0,
        "data.num_proc": 1,
        "data.cache_dir": str(work / "cache"),
        "data.feature_cache": feature_cache,
        "augmentation.video_flip_prob": args.video_flip_prob,
        "training.output_dir": str(work / "runs" / name),
        "training.seed": args.seed,
        "training.num_epochs": args.epochs,
        "training.per_device_train_batch_size": args.batch_size,
        "training.per_device_eval_batch_size": args.batch_size,
        "training.dataloader_num_workers": 0,
        "training.early_stopping_patience": "null",
        "training.checkpoint_every_steps": 0,
        "training.log_every_steps": 1,
        "training.report_to": "none",
    }
    return load_config(PAPER_RECIPE, [f"{key}={value}" for key, value in overrides.items()])


def _run(config, name: str) -> dict[str, Any]:
    recorder = StepRecorder()
    lines: list[tuple[float, str]] = []
    load_before = os.getloadavg()
    started = time.perf_counter()
    train(config, log=lambda line: lines.append((time.perf_counter(), line)), trackers=[recorder])
    total = time.perf_counter() - started
    steps = recorder.steps()
    ends, previous = [], recorder.started
    for epoch in sorted({epoch for *_, epoch in steps}):
        end = max(stamp for stamp, _, _, step_epoch in steps if step_epoch == epoch)
        ends.append(end - previous)
        previous = end
    build = None
    for _, line in lines:
        match = re.search(r"run once over (\d+) clips in ([0-9.]+) s", line)
        if match:
            build = {"clips": int(match.group(1)), "seconds": float(match.group(2))}
    print(f"{name}: epochs {[round(seconds, 2) for seconds in ends]} s, run {total:.1f} s, cache build {build}")
    return {
        "name": name,
        "epoch_seconds": ends,
        "mean_epoch_seconds": sum(ends) / len(ends),
        "step_losses": [loss for _, _, loss, _ in steps],
        "cache_build": build,
        "run_seconds": total,
        "load_average_before": list(load_before),
        "load_average_after": list(os.getloadavg()),
        "log": [line for _, line in lines if "feature cache" in line or "frozen" in line],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--num-actors", type=int, default=2, help="synthetic actors (8 emotions each); one is the test fold"
    )
    parser.add_argument("--clips-per-emotion", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--video-flip-prob", type=float, default=0.0)
    parser.add_argument("--workdir", type=Path, default=None, help="corpus, caches and runs (default: a temp folder)")
    parser.add_argument("--results-name", default="feature_cache", help="results/<name>.{md,json}")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="av_emotion_feature_cache_"))
    shutil.rmtree(work / "runs", ignore_errors=True)
    raw = load_config(PAPER_RECIPE).model.config
    torch.manual_seed(args.seed)
    start = work / "start"
    JointCrossAttentionForEmotionClassification(JointCrossAttentionConfig(**raw, num_labels=8)).save_pretrained(start)

    configs = {
        name: _config(args, work, start, name, mode)
        for name, mode in (("recompute", "off"), ("cache_cold", "on"), ("cache_warm", "on"))
    }
    started = time.perf_counter()
    prepared = prepare_data(configs["recompute"], build_processor(configs["recompute"].processor), log=print)
    preprocessing_seconds = time.perf_counter() - started
    for stale in (work / "cache").glob("*-encoder-outputs-*"):
        stale.unlink()  # the cold run computes the outputs
    runs = {name: _run(config, name) for name, config in configs.items()}

    reference = runs["recompute"]["step_losses"]
    loss_gaps = {
        name: max(abs(a - b) for a, b in zip(run["step_losses"], reference, strict=True))
        for name, run in runs.items()
        if name != "recompute"
    }
    recompute_epoch = runs["recompute"]["mean_epoch_seconds"]
    speedups = {name: recompute_epoch / runs[name]["mean_epoch_seconds"] for name in ("cache_cold", "cache_warm")}
    build = runs["cache_cold"]["cache_build"]
    clips = {name: len(split) for name, split in prepared.splits.items()}
    results = {
        "what": "JCA (paper recipe config, frozen encoders) training epoch: feature cache vs recomputing the encoders",
        "recipe": str(PAPER_RECIPE.relative_to(ROOT)),
        "model_config": raw,
        "corpus": {
            "synthetic_actors": args.num_actors,
            "clips_per_emotion": args.clips_per_emotion,
            "clips": clips,
            "train_steps_per_epoch": len(runs["recompute"]["step_losses"]) // args.epochs,
        },
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "seed": args.seed,
        "video_flip_prob": args.video_flip_prob,
        "preprocessing_seconds_untimed": preprocessing_seconds,
        "runs": runs,
        "epoch_speedup_vs_recompute": speedups,
        "goal": GOAL,
        "goal_met": min(speedups.values()) >= GOAL,
        "cache_build_seconds": build["seconds"] if build else None,
        "max_step_loss_difference": loss_gaps,
        "loss_tolerance": LOSS_TOLERANCE,
        "same_loss_curve": all(gap <= LOSS_TOLERANCE for gap in loss_gaps.values()),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or "not exposed",
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "cuda": torch.cuda.is_available(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "arguments": _shown_arguments(sys.argv[1:]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.results_name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / f"{args.results_name}.md").write_text(render(results))
    print(render(results))


def _shown_arguments(argv: list[str]) -> str:
    """The command-line arguments that change the results (`--workdir` only says where files go)."""
    shown, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--workdir":
            skip = True
        elif not argument.startswith("--workdir="):
            shown.append(argument)
    return " ".join(shown)


def render(results: dict[str, Any]) -> str:
    """Markdown summary of `results`."""
    runs = results["runs"]
    rows = []
    labels = {
        "recompute": "encoders recomputed every step (`data.feature_cache: off`)",
        "cache_cold": "feature cache, cold (`on`: encoders run once first)",
        "cache_warm": "feature cache, warm (next run reads it)",
    }
    for name, run in runs.items():
        speed = results["epoch_speedup_vs_recompute"].get(name, 1.0)
        gap = results["max_step_loss_difference"].get(name)
        load = ", ".join(f"{value:.1f}" for value in run["load_average_before"])
        rows.append(
            f"| {labels[name]} | {run['mean_epoch_seconds']:.2f} | {speed:.1f}x | "
            f"{'-' if gap is None else f'{gap:.1e}'} | {load} |"
        )
    corpus = results["corpus"]
    machine = results["machine"]
    build = results["cache_build_seconds"]
    recompute = runs["recompute"]["mean_epoch_seconds"]
    cached = runs["cache_warm"]["mean_epoch_seconds"]
    break_even = build / max(recompute - cached, 1e-9) if build is not None else None
    clips = ", ".join(f"{name} {count}" for name, count in corpus["clips"].items())
    command = (
        f"OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/feature_cache.py {results.get('arguments', '')}".strip()
    )
    return "\n".join(
        [
            "# Feature cache: a JCA training epoch from cached encoder outputs vs recomputing them",
            "",
            f"`{results['recipe']}` model config ({results['model_config']}), encoders frozen; synthetic corpus of "
            f"{corpus['synthetic_actors']} actors x 8 emotions x {corpus['clips_per_emotion']} ({clips} clips), "
            f"batch {results['batch_size']}, {corpus['train_steps_per_epoch']} steps per epoch, {results['epochs']} "
            f"epoch(s), seed {results['seed']}, video_flip_prob {results['video_flip_prob']}.",
            "",
            "| run | epoch s | speedup | max step-loss gap to recompute | load average before (1, 5, 15 min) |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"- Goal: an epoch from the cache >= {results['goal']:.0f}x faster: "
            f"{'met' if results['goal_met'] else 'NOT met'}.",
            f"- Same loss curve: every per-step training loss within {results['loss_tolerance']:.0e} of the "
            f"recomputing run: {'yes' if results['same_loss_curve'] else 'NO'}.",
            f"- One-off cost: the encoders run once over all {sum(corpus['clips'].values())} clips in "
            f"{build:.1f} s (train and test splits); it pays for itself after "
            f"{break_even:.2f} epochs of this split."
            if build is not None
            else "- No cache build was logged.",
            "- Whole runs (model build, training, test evaluation, saving): "
            + ", ".join(f"{name} {run['run_seconds']:.1f} s" for name, run in runs.items())
            + ".",
            f"- Machine: {machine['platform']}, {machine['cpu_count']} CPUs ({machine['processor']}), torch "
            f"{machine['torch']}, {machine['torch_threads']} thread(s) (OMP_NUM_THREADS={machine['OMP_NUM_THREADS']}), "
            f"CUDA {machine['cuda']}; shared with other jobs (load averages above). {results['date']}.",
            "",
            f"Command: `{command}`",
            "",
        ]
    )


if __name__ == "__main__":
    main()
