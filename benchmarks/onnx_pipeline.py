"""Benchmark: `pipeline("audio-video-emotion")` on an exported ONNX folder (onnxruntime) against the PyTorch model.

Per architecture at its CPU recipe config (`recipes/configs/<model_type>_synthetic.yaml`, random weights, the
recipe's processor preset), saved with its processor and exported with `export_onnx_folder` (the export time and its
parity check are reported), then, in one run with the variants interleaved (medians):

1. model forward on processed clips, batch 1 and batch 8: ms per clip, onnxruntime / PyTorch;
2. the pipeline end to end on generated 3.2-s talking clips (synthetic corpus renderer), one clip at a time and 8
   clips with `batch_size=8`: ms per clip, onnxruntime / PyTorch;
3. the largest |score difference| between the two pipelines over those clips (the pipeline tests bound it by 1e-4).

onnxruntime gets as many intra-op threads as torch has (`torch.get_num_threads()`, 1 under `OMP_NUM_THREADS=1`), so the
ratio compares kernels, not thread counts. Writes `results/onnx_pipeline.{json,md}`.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/onnx_pipeline.py [--arch avt_ca ...] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # tests.pipelines.generated_media writes the clips
sys.path.insert(0, str(REPO_ROOT / "src"))
RECIPE_CONFIGS = REPO_ROOT / "recipes" / "configs"
RESULTS = REPO_ROOT / "benchmarks" / "results"
CLIP_SECONDS = 3.2  # a RAVDESS sentence, and the synthetic corpus's clip length
BATCH = 8


def load_recipe(model_type: str) -> dict:
    import yaml

    with (RECIPE_CONFIGS / f"{model_type}_synthetic.yaml").open() as handle:
        return yaml.safe_load(handle)


def save_checkpoint(model_type: str, folder: Path) -> Path:
    """A randomly initialised model at the recipe's config, with the recipe's processor, saved to `folder`."""
    import torch

    from av_emotion import ARCHITECTURES
    from av_emotion.processing import AVEmotionProcessor

    recipe = load_recipe(model_type)
    torch.manual_seed(0)
    architecture = ARCHITECTURES[model_type]
    model = architecture.classification_class(architecture.config_class(**recipe["model"].get("config", {}))).eval()
    model.save_pretrained(folder)
    section = recipe.get("processor", {})
    AVEmotionProcessor.from_preset(section["preset"], **section.get("overrides", {})).save_pretrained(folder)
    return folder


def interleaved_ms(functions: dict[str, object], repeats: int, per: int = 1) -> dict[str, float]:
    """Median ms per item of each function, calls interleaved round-robin after one warm-up call each."""
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append((time.perf_counter() - start) * 1000 / per)
    return {name: statistics.median(values) for name, values in times.items()}


def max_score_difference(left: list, right: list) -> float:
    worst = 0.0
    for a, b in zip(left, right):
        scores = {item["label"]: item["score"] for item in b}
        worst = max(worst, max(abs(item["score"] - scores[item["label"]]) for item in a))
    return worst


def benchmark(model_type: str, workdir: Path, repeats: int) -> dict:
    import onnxruntime
    import torch
    from tests.pipelines.generated_media import write_talking_clip
    from transformers import AutoProcessor, pipeline

    from av_emotion.export import ORTModelForAudioVideoEmotion, export_onnx_folder
    from av_emotion.pipelines import AutoModelForAudioVideoEmotion

    checkpoint = save_checkpoint(model_type, workdir / f"{model_type}_torch")
    start = time.perf_counter()
    report = export_onnx_folder(checkpoint, workdir / f"{model_type}_onnx")
    export_s = time.perf_counter() - start
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    onnx_model = ORTModelForAudioVideoEmotion.from_pretrained(workdir / f"{model_type}_onnx", session_options=options)
    torch_model = AutoModelForAudioVideoEmotion.from_pretrained(str(checkpoint)).eval()
    processor = AutoProcessor.from_pretrained(str(checkpoint))

    emotions = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
    clips = [
        str(write_talking_clip(workdir / f"clip_{index}.mp4", CLIP_SECONDS, actor=3 + index, emotion=emotion))
        for index, emotion in enumerate(emotions[:BATCH])
    ]
    names = ("pixel_values_videos", "input_features", "video_mask", "audio_mask")
    batch = {name: value for name, value in processor(paths=clips, return_tensors="pt").items() if name in names}
    single = {name: value[:1] for name, value in batch.items()}

    def torch_forward(inputs):
        with torch.no_grad():
            return torch_model(**inputs).logits

    forward = {}
    for label, inputs, per in (("batch 1", single, 1), (f"batch {BATCH}", batch, BATCH)):
        figures = interleaved_ms(
            {"torch": lambda inputs=inputs: torch_forward(inputs), "onnx": lambda inputs=inputs: onnx_model(**inputs)},
            repeats,
            per,
        )
        forward[label] = {**figures, "ratio": figures["onnx"] / figures["torch"]}

    torch_pipe = pipeline("audio-video-emotion", model=torch_model, processor=processor, device="cpu")
    onnx_pipe = pipeline("audio-video-emotion", model=onnx_model, processor=processor, device="cpu")
    end_to_end = {}
    for label, call, per in (
        ("one clip", lambda pipe: pipe(clips[0]), 1),
        (f"{BATCH} clips, batch_size={BATCH}", lambda pipe: pipe(clips, batch_size=BATCH), BATCH),
    ):
        figures = interleaved_ms(
            {"torch": lambda call=call: call(torch_pipe), "onnx": lambda call=call: call(onnx_pipe)},
            max(2, repeats // 2),
            per,
        )
        end_to_end[label] = {**figures, "ratio": figures["onnx"] / figures["torch"]}
    difference = max_score_difference(onnx_pipe(clips, batch_size=BATCH), torch_pipe(clips, batch_size=1))
    return {
        "model_type": model_type,
        "parameters": sum(parameter.numel() for parameter in torch_model.parameters()),
        "export_s": export_s,
        "parity_max_abs_diff": report.max_abs_diff,
        "input_ranges": report.input_ranges,
        "forward_ms_per_clip": forward,
        "pipeline_ms_per_clip": end_to_end,
        "pipeline_max_score_diff": difference,
    }


def markdown(results: list[dict], header: str) -> str:
    lines = [
        header,
        "",
        "| model | params | export s | export parity | forward b1 ms (torch / onnx, ratio) | "
        f"forward b{BATCH} ms/clip | pipeline 1 clip ms | pipeline {BATCH} clips ms/clip | max score diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(figures: dict) -> str:
        return f"{figures['torch']:.1f} / {figures['onnx']:.1f} ({figures['ratio']:.2f}x)"

    for result in results:
        forward, pipe = result["forward_ms_per_clip"], result["pipeline_ms_per_clip"]
        lines.append(
            f"| {result['model_type']} | {result['parameters']:,} | {result['export_s']:.0f} | "
            f"{result['parity_max_abs_diff']:.1e} | {cell(forward['batch 1'])} | {cell(forward[f'batch {BATCH}'])} | "
            f"{cell(pipe['one clip'])} | {cell(pipe[f'{BATCH} clips, batch_size={BATCH}'])} | "
            f"{result['pipeline_max_score_diff']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["avt_ca", "joint_cross_attention", "av_metric_fusion"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; do not write results/")
    args = parser.parse_args()

    import torch
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    results = []
    with tempfile.TemporaryDirectory(prefix="av_emotion_onnx_bench_") as workdir:
        for model_type in args.arch:
            results.append(benchmark(model_type, Path(workdir), args.repeats))
            print(json.dumps(results[-1], indent=2), flush=True)
    load = os.getloadavg()
    header = (
        f"### ONNX Runtime vs PyTorch through the pipeline ({time.strftime('%Y-%m-%d')}, CPU, "
        f"{torch.get_num_threads()} thread(s), load average {load[0]:.1f}, medians of {args.repeats})"
    )
    table = markdown(results, header)
    print(table)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "onnx_pipeline.json").write_text(json.dumps({"load_average": load, "results": results}, indent=2))
        (RESULTS / "onnx_pipeline.md").write_text(table)


if __name__ == "__main__":
    main()
