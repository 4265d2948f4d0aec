"""`av-emotion quickstart`: the whole job, end to end, in a few minutes on a laptop CPU.

1. writes a small synthetic corpus of talking-face clips (real mp4 files, RAVDESS names);
2. trains a CPU-sized model on some of its actors through the training recipe code
   (`av_emotion.training.train`, the same as `accelerate launch recipes/train.py`);
3. evaluates it on actors it never saw (speaker-independent test split);
4. saves it (`save_pretrained` weights, processor, results, confusion matrix);
5. predicts the emotion of a held-out clip from the saved folder, through the pipeline.

Each step prints what it did. The recipe it runs is `quickstart_recipe(...)` below; write it to YAML
with `--print-config` to start your own.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

# Our choice for the CPU run: AVT-CA (Mocanu et al.'s 3D ResNet and JCA's two ResNet-18s are far larger), with
# its EfficientFace stem narrowed, on the small inputs of the "synthetic" processor preset. With the default
# arguments the recipe is recipes/configs/avt_ca_synthetic.yaml (16 actors, 12 of them for training, flips,
# 20 epochs: a few minutes on 2 cores), the one benchmarks/accuracy.py measures; fewer actors run faster but
# generalise worse (with 3 training actors the video branch learns who the actor is).
QUICKSTART_MODEL_TYPE = "avt_ca"
QUICKSTART_MODEL_CONFIG: dict[str, Any] = {
    # What the "synthetic" processor preset produces: 8 frames of 64x64, 40 log-mel bands.
    "num_frames": 8,
    "image_size": 64,
    "num_audio_features": 40,
    "visual_stage_repeats": [1, 1, 1],
    "visual_stage_channels": [8, 16, 32, 32, 64],
    "modulator_reduction_ratio": 4,
    "spatial_attention_num_convs": 1,
    "video_stage1_channels": [32],
    "video_stage2_channels": [32],
    "audio_stage1_channels": [32],
    "audio_stage2_channels": [32],
    "fusion_num_heads": 4,
    "cross_attention_num_heads": 4,
    "modality_dropout_prob": 0.0,
}
QUICKSTART_PROCESSOR_PRESET = "synthetic"


def quickstart_recipe(
    output_dir: Path,
    *,
    num_actors: int,
    clips_per_emotion: int,
    epochs: int,
    seed: int,
    workers: int,
) -> dict[str, Any]:
    """Return the recipe `quickstart` runs, as the nested dict a YAML config holds."""
    return {
        "model": {"model_type": QUICKSTART_MODEL_TYPE, "config": dict(QUICKSTART_MODEL_CONFIG)},
        "processor": {"preset": QUICKSTART_PROCESSOR_PRESET},
        "data": {
            "corpus": "synthetic",
            "root": str(output_dir / "corpus"),
            "generate": {
                "num_actors": num_actors,
                "clips_per_emotion": clips_per_emotion,
                "seed": seed,
                "num_workers": workers,
            },
            # Actors in sorted blocks of two (three blocks at least): fold 0 tests the first block and validates
            # on the next two actors (one with fewer than 8 actors).
            "num_folds": max(3, num_actors // 2),
            "fold": 0,
            "validation_speakers": 2 if num_actors >= 8 else 1,
            "builder": {"num_workers": workers},
            "preprocessing": "map",
            "num_proc": 1,
            "cache_dir": str(output_dir / "cache"),
        },
        "augmentation": {"video_flip_prob": 0.5},
        "optimizer": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.01},
        "scheduler": {"name": "cosine", "warmup_ratio": 0.1},
        "training": {
            "output_dir": str(output_dir / "model"),
            "seed": seed,
            "num_epochs": epochs,
            "per_device_train_batch_size": 8,
            "per_device_eval_batch_size": 16,
            "metric_for_best": "uar",
            "checkpoint_every_steps": 0,
            "log_every_steps": 5,
            "report_to": "none",
        },
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `quickstart` arguments to `parser`."""
    parser.add_argument(
        "--output-dir",
        "--output_dir",
        dest="output_dir",
        type=Path,
        default=Path("av_emotion_quickstart"),
        help="folder for the corpus, the model and its results (default: ./av_emotion_quickstart)",
    )
    parser.add_argument(
        "--num-actors", type=int, default=16, help="synthetic actors (default 16; fold 0 tests 2 of them)"
    )
    parser.add_argument("--clips-per-emotion", type=int, default=4, help="clips per actor and emotion (default 4)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus and of training")
    parser.add_argument("--workers", type=int, default=2, help="processes writing the corpus (default 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace a previous quickstart run in --output-dir")
    parser.add_argument("--print-config", action="store_true", help="print the recipe as YAML and exit")


def _step(number: int, text: str) -> float:
    print(f"\n[{number}/5] {text}", flush=True)
    return time.perf_counter()


def _done(started: float, text: str = "") -> None:
    print(f"      done in {time.perf_counter() - started:.1f} s{': ' + text if text else ''}", flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the five steps; returns the exit status."""
    import shutil

    import yaml

    recipe = quickstart_recipe(
        args.output_dir,
        num_actors=args.num_actors,
        clips_per_emotion=args.clips_per_emotion,
        epochs=args.epochs,
        seed=args.seed,
        workers=args.workers,
    )
    if args.print_config:
        print(yaml.safe_dump(recipe, sort_keys=False))
        return 0
    if args.output_dir.exists() and any(args.output_dir.iterdir()):
        if not args.overwrite:
            print(f"{args.output_dir} is not empty; pass --overwrite to replace it, or choose --output-dir")
            return 2
        shutil.rmtree(args.output_dir)

    import av_emotion  # noqa: F401  (registers every architecture, the processor and the pipeline)
    from av_emotion.data.synthetic import SyntheticCorpusConfig, generate_corpus
    from av_emotion.training.config import config_from_dict
    from av_emotion.training.loop import train

    total = time.perf_counter()
    corpus_dir = Path(recipe["data"]["root"])
    generate = dict(recipe["data"]["generate"])
    workers = generate.pop("num_workers")
    started = _step(1, f"Writing a synthetic corpus to {corpus_dir}")
    clips = generate_corpus(corpus_dir, SyntheticCorpusConfig(**generate), num_workers=workers)
    _done(started, f"{len(clips)} mp4 clips, {args.num_actors} actors x 8 emotions x {args.clips_per_emotion}")
    print("      each modality alone confuses emotion pairs (face: neutral/calm, happy/surprised, ...;")
    print("      voice: neutral/disgust, calm/sad, ...); only audio + video together separate all eight.")

    started = _step(2, f"Training {QUICKSTART_MODEL_TYPE} on the training actors ({args.epochs} epochs, CPU)")
    config = config_from_dict(recipe, source="quickstart")
    result = train(config)
    _done(started)

    started = _step(3, "Evaluating on held-out actors (never seen in training)")
    results = __import__("json").loads((result.output_dir / "results.json").read_text())
    test = result.test_metrics
    print(f"      test actors {results['speakers']['test']}: {results['split_sizes']['test']} clips")
    print(
        f"      accuracy (WAR) {100 * test['accuracy']:.1f}%   UAR {100 * test['uar']:.1f}%   "
        f"macro-F1 {100 * test['macro_f1']:.1f}%   (chance 12.5%; one modality alone tops out near 50%)"
    )
    for name, recall in zip(results["label_names"], test["per_class_recall"]):
        if recall is not None:
            print(f"        {name:<10} recall {100 * recall:5.1f}%")
    _done(started, f"confusion matrix in {result.output_dir / 'confusion_matrix.png'}")

    started = _step(4, f"Saved model in {result.output_dir}")
    for path in sorted(result.output_dir.iterdir()):
        if path.is_file():
            print(f"      {path.name:<28} {path.stat().st_size / 1e6:8.2f} MB")
    print(f'      load it with: pipeline("audio-video-emotion", model="{result.output_dir}")')
    _done(started)

    started = _step(5, 'Predicting a held-out clip with the saved model, through pipeline("audio-video-emotion")')
    test_actor = results["speakers"]["test"][0]
    clip = next(c for c in clips if c.actor == test_actor and c.emotion == "angry")
    predictions = predict_clip(result.output_dir, clip.path)
    print(f"      {Path(clip.path).name} (actor {clip.actor}, truly {clip.emotion}):")
    for entry in predictions[:3]:
        print(f"        {entry['label']:<10} {entry['score']:.3f}")
    _done(started)
    print(
        f"\nAll done in {time.perf_counter() - total:.0f} s. Next: av-emotion predict VIDEO --model {result.output_dir}"
    )
    return 0


def predict_clip(model_dir: Path, clip: Path) -> list[dict[str, Any]]:
    """Score one clip with the saved model through `pipeline("audio-video-emotion")`, best first."""
    from transformers import pipeline

    classifier = pipeline("audio-video-emotion", model=str(model_dir), device="cpu")
    return list(classifier(str(clip)))
