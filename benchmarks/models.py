"""Model speed benchmarks, printed as Markdown tables of ratios measured in one run (DESIGN section 8).

1. Every registered architecture at its CPU recipe config (`recipes/configs/<model_type>_synthetic.yaml`, inputs
   from that recipe's processor preset): training clips/s and inference clips/s, batched vs a per-sample loop.
   Per-sample training runs each clip's forward and backward alone, accumulating gradients, then takes one
   optimizer step (the update a batch computes, up to batch statistics: BatchNorm and the emotional-metric triplet
   loss see one clip at a time, so it is a cost reference, not an equivalent). Per-sample inference runs each clip
   alone through the model in eval mode, and the largest gap between its logits and the batched logits is shown.
   The tasks of one row are timed round-robin (the order rotating every round), so a change in machine load hits
   them alike.
2. Joint Cross-Attention, the authors' way of running it: the fusion module at the paper's sizes (L = 8, d = 128,
   k = 32) batched vs their loop over the clips of a batch, and the whole model (`BENCH_CONFIGS` sizes) batched
   vs backbones batched + fusion per clip (their structure). Each reference is checked to give the same outputs.
3. GPU only (skipped with a message without CUDA): every architecture at its paper recipe config
   (`recipes/configs/<model_type>_ravdess.yaml`), training and inference clips/s in float32 and under bfloat16
   autocast, and the bf16 speedup. `--precision-device cpu` runs the same section on the CPU (bf16 autocast there
   is usually slower; it checks the code path, not a speedup).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/models.py                 # about 1.5 minutes on one core
    PYTHONPATH=src python benchmarks/models.py --batch-size 64 --gpu-batch-size 32  # on a GPU machine

Every table is also written to `benchmarks/results/models.{md,json}` with the machine (CPU model, cores, GPU), the
thread settings and the load average of the run.

Adding an architecture: a `recipes/configs/<model_type>_synthetic.yaml` (and `_ravdess.yaml` for the GPU section)
and `dummy_inputs` on its model class; nothing here names it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from av_emotion import ARCHITECTURES
from av_emotion.data.synthetic import SyntheticCorpusConfig
from av_emotion.modeling.joint_cross_attention import JointCrossAttentionFusion
from av_emotion.modeling.joint_cross_attention.modeling_joint_cross_attention import JointCrossAttentionHead
from av_emotion.modeling.losses import CCCLoss
from av_emotion.processing import AVEmotionProcessor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import cpu_model  # noqa: E402

RECIPE_CONFIGS = Path(__file__).resolve().parents[1] / "recipes" / "configs"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Length of the clips fed to a recipe whose processor keeps the whole clip (`clip_duration_s: null`). Our choice:
# the synthetic corpus's clip length for the CPU recipes; 3.6 s (the AVT-CA window, a typical RAVDESS utterance)
# for the paper recipes.
CPU_CLIP_SECONDS = SyntheticCorpusConfig().duration_s
PAPER_CLIP_SECONDS = 3.6

# Config kwargs for the JCA whole-model benchmark (section 2): the paper's fusion and clip layout, backbones
# narrowed so a batch of 32 trains in seconds on a CPU (the backbones are batched the same way in every variant).
BENCH_CONFIGS: dict[str, dict] = {
    "joint_cross_attention": {
        "num_subclips": 8,
        "frames_per_subclip": 8,
        "image_size": 32,
        "num_mel_bins": 64,
        "visual_depth": 10,
        "visual_widths": [8, 16, 32, 64],
        "audio_depth": 10,
        "audio_widths": [8, 16, 32, 64],
        "fusion_hidden_size": 128,
        "attention_hidden_size": 32,
        "head_dropout": 0.0,
    },
}


# --------------------------------------------------------------------------------------------------
# Timing and tables
# --------------------------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(function: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of `function()` in seconds (after `warmup` untimed calls)."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_interleaved(
    tasks: dict[str, Callable[[], object]], repeats: int, device: torch.device, warmup: int = 1
) -> dict[str, float]:
    """Median wall seconds of each task, run round-robin so a change in machine load hits all of them alike."""
    for _ in range(warmup):
        for task in tasks.values():
            task()
            synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in tasks}
    names = list(tasks)
    for repeat in range(repeats):
        # Rotate the order each round so no variant always runs first (right after the previous one's allocations).
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            start = time.perf_counter()
            tasks[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.1e}" if value and abs(value) < 1e-2 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


# Every table of this run, in order: printed as it is made and written to results/models.{md,json} at the end.
TABLES: list[dict[str, Any]] = []


def report(title: str, headers: list[str], rows: list[list[Any]], notes: list[str] | tuple[str, ...] = ()) -> None:
    """Print one result table as Markdown and keep it for the results files."""
    text = f"### {title}\n\n" + (markdown_table(headers, rows) + "\n" if headers else "")
    text += "".join(f"\n{line}\n" for line in notes)
    print(text)
    TABLES.append({"title": title, "headers": headers, "rows": rows, "notes": list(notes), "markdown": text})


def environment(device: torch.device, repeats: int) -> dict[str, Any]:
    """Where and how the numbers were measured (machine, threads, load)."""
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average_start": list(os.getloadavg()),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "device": str(device),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "repeats": repeats,
    }


def write_results(results_dir: Path, env: dict[str, Any]) -> None:
    """Write `models.json` (environment and every table's rows) and `models.md` (the same as Markdown)."""
    env = {**env, "load_average_end": list(os.getloadavg())}
    results_dir.mkdir(parents=True, exist_ok=True)
    tables = [{key: table[key] for key in ("title", "headers", "rows", "notes")} for table in TABLES]
    (results_dir / "models.json").write_text(json.dumps({"environment": env, "tables": tables}, indent=2) + "\n")
    threads = f"torch threads {env['torch_threads']}, OMP_NUM_THREADS={env['omp_num_threads']}"
    load = f"load average {env['load_average_start'][0]:.1f} at start, {env['load_average_end'][0]:.1f} at end"
    header = (
        "# Model speed (`benchmarks/models.py`)\n\n"
        f"Measured {env['date_utc']} with `{env['command']}`. Machine: {env['cpu_model']}, {env['cpu_count']} CPUs "
        f"({env['cpus_usable']} usable), GPU: {env['gpu'] or 'none'}; {threads}; torch {env['torch']}, "
        f"Python {env['python']}; {load}. Each row's variants are timed round-robin in one run (the order rotates "
        f"every round) and the medians of {env['repeats']} rounds are shown: compare ratios, not absolute clips/s "
        "across machines. Raw rows and the environment are in `models.json`.\n\n"
    )
    (results_dir / "models.md").write_text(header + "\n".join(table["markdown"] for table in TABLES))


def tile_inputs(inputs: dict[str, torch.Tensor], batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Repeat a model's dummy inputs along the batch axis to `batch_size` clips, with fresh random values."""
    tiled = {}
    for name, tensor in inputs.items():
        repeats = -(-batch_size // tensor.shape[0])
        tensor = tensor.repeat(repeats, *([1] * (tensor.ndim - 1)))[:batch_size]
        if tensor.is_floating_point():
            tensor = torch.randn_like(tensor)
        tiled[name] = tensor.to(device)
    return tiled


# --------------------------------------------------------------------------------------------------
# Recipe configs and their inputs
# --------------------------------------------------------------------------------------------------


def load_recipe(model_type: str, corpus: str, folder: Path = RECIPE_CONFIGS) -> dict[str, Any] | None:
    """The `model` and `processor` sections of `<folder>/<model_type>_<corpus>.yaml` (None when absent)."""
    path = folder / f"{model_type}_{corpus}.yaml"
    if not path.is_file():
        return None
    with path.open() as handle:
        recipe = yaml.safe_load(handle)
    return {"path": path, "model": recipe["model"], "processor": recipe.get("processor", {})}


def recipe_processor(recipe: dict[str, Any]) -> AVEmotionProcessor:
    section = recipe["processor"]
    return AVEmotionProcessor.from_preset(section["preset"], **section.get("overrides", {}))


def recipe_inputs(
    processor: AVEmotionProcessor, clip_seconds: float, batch_size: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """Model inputs of `batch_size` clips exactly as `processor` makes them, from random frames and audio.

    One clip goes through the processor (face crop off: noise has no face, and the crop does not change shapes);
    the batch repeats its masks and fills the tensors with fresh normal values.
    """
    rng = np.random.default_rng(0)
    window = processor.clip_duration_s or clip_seconds
    size = processor.video_processor.size
    height, width = (size["height"], size["width"]) if "height" in size else (size["shortest_edge"],) * 2
    frames = rng.integers(0, 256, (processor.num_frames, height, width, 3), dtype=np.uint8)
    wave = rng.uniform(-0.5, 0.5, int(round(window * processor.sampling_rate))).astype(np.float32)
    batch = processor(videos=[frames], audio=[wave], sampling_rate=processor.sampling_rate, do_face_crop=False)
    names = ("pixel_values_videos", "video_mask", "input_features", "audio_mask")
    return tile_inputs({name: batch[name] for name in names}, batch_size, device)


def build_model(model_type: str, recipe: dict[str, Any], device: torch.device) -> torch.nn.Module:
    architecture = ARCHITECTURES[model_type]
    config = architecture.config_class(**recipe["model"].get("config", {}))
    return architecture.classification_class(config).to(device)


def clip_slice(inputs: dict[str, torch.Tensor], index: int) -> dict[str, torch.Tensor]:
    return {name: tensor[index : index + 1] for name, tensor in inputs.items()}


# --------------------------------------------------------------------------------------------------
# 1. Batched vs per-sample, every architecture
# --------------------------------------------------------------------------------------------------


def benchmark_batching(batch_size: int, repeats: int, device: torch.device, corpus: str, folder: Path) -> None:
    """Training and inference clips/s, batched vs a per-sample loop, for every registered architecture."""
    rows, skipped = [], []
    for model_type in sorted(ARCHITECTURES):
        recipe = load_recipe(model_type, corpus, folder)
        if recipe is None:
            skipped.append(f"{model_type} (no {folder}/{model_type}_{corpus}.yaml)")
            continue
        torch.manual_seed(0)
        processor = recipe_processor(recipe)
        model = build_model(model_type, recipe, device)
        inputs = recipe_inputs(processor, CPU_CLIP_SECONDS, batch_size, device)
        labels = torch.randint(0, model.config.num_labels, (batch_size,), device=device)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)

        def train_batched(model=model, inputs=inputs, labels=labels, optimizer=optimizer):
            optimizer.zero_grad(set_to_none=True)
            model(**inputs, labels=labels).loss.backward()
            optimizer.step()

        def train_per_sample(model=model, inputs=inputs, labels=labels, optimizer=optimizer):
            optimizer.zero_grad(set_to_none=True)
            for index in range(batch_size):
                loss = model(**clip_slice(inputs, index), labels=labels[index : index + 1]).loss
                (loss / batch_size).backward()
            optimizer.step()

        def infer_batched(model=model, inputs=inputs):
            return model(**inputs).logits

        def infer_per_sample(model=model, inputs=inputs):
            return torch.cat([model(**clip_slice(inputs, index)).logits for index in range(batch_size)])

        model.eval()  # inference first, on the freshly initialised weights
        with torch.inference_mode():
            gap = (infer_batched() - infer_per_sample()).abs().max().item()
            infer = time_interleaved({"batched": infer_batched, "per-sample": infer_per_sample}, repeats, device)
        model.train()
        train = time_interleaved({"batched": train_batched, "per-sample": train_per_sample}, repeats, device)
        params = sum(p.numel() for p in model.parameters())
        rows.append(
            [
                model_type,
                f"{params / 1e6:.2f} M",
                batch_size / train["batched"],
                batch_size / train["per-sample"],
                f"{train['per-sample'] / train['batched']:.1f}x",
                batch_size / infer["batched"],
                batch_size / infer["per-sample"],
                f"{infer['per-sample'] / infer['batched']:.1f}x",
                gap,
            ]
        )
    title = f"Batched vs per-sample, CPU recipe configs (`*_{corpus}.yaml`), batch {batch_size}, {device}"
    headers = [
        "architecture",
        "parameters",
        "train batched (clips/s)",
        "train per-sample (clips/s)",
        "train speedup",
        "infer batched (clips/s)",
        "infer per-sample (clips/s)",
        "infer speedup",
        "max logit gap",
    ]
    report(title, headers, rows, [f"skipped: {line}" for line in skipped])


# --------------------------------------------------------------------------------------------------
# 2. Joint Cross-Attention: the authors' per-clip structure
# --------------------------------------------------------------------------------------------------


def jca_heads(model, hidden: torch.Tensor) -> torch.Tensor:
    return torch.tanh(torch.cat([model.valence_head(hidden), model.arousal_head(hidden)], dim=-1))


def jca_batched(model, inputs: dict) -> torch.Tensor:
    return model(**inputs).step_logits


def jca_fusion_per_clip(model, inputs: dict) -> torch.Tensor:
    """The authors' structure: backbones over the whole batch, then fusion and heads one clip at a time."""
    base = model.joint_cross_attention
    # The inputs carry no masks (every frame and sub-clip is present), so nothing is zeroed before the fusion.
    video = base._video_features(inputs["pixel_values_videos"], None)
    audio, _ = base._audio_features(inputs["input_features"], None)
    outputs = []
    for index in range(video.shape[0]):
        attended_audio, attended_video, _ = base.fusion(audio[index : index + 1], video[index : index + 1])
        outputs.append(jca_heads(model, torch.cat([attended_audio, attended_video], dim=-1)))
    return torch.cat(outputs)


def jca_whole_model_per_clip(model, inputs: dict) -> torch.Tensor:
    """Every clip through the whole model on its own."""
    batch = inputs["pixel_values_videos"].shape[0]
    return torch.cat([model(**{k: v[i : i + 1] for k, v in inputs.items()}).step_logits for i in range(batch)])


PER_SAMPLE_REFERENCES: dict[str, dict[str, Callable]] = {
    "joint_cross_attention": {
        "backbones batched, fusion per clip (authors')": jca_fusion_per_clip,
        "whole model per clip": jca_whole_model_per_clip,
    },
}
BATCHED_FORWARD: dict[str, Callable] = {"joint_cross_attention": jca_batched}


def training_step(forward: Callable, model, inputs: dict, labels: torch.Tensor, optimizer) -> None:
    step_logits = forward(model, inputs)
    loss = model.ccc_loss(step_logits, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def benchmark_jca_fusion(batch_size: int, repeats: int, device: torch.device) -> None:
    """The authors' fusion module at the paper's sizes: projections, fusion, valence/arousal heads.

    Inputs are backbone features (B, L, 512). Training step and inference, batched vs the authors' loop over
    the clips of the batch (their CAM module projects, fuses and regresses one clip at a time).
    """
    length, d, k, backbone_width = 8, 128, 32, 512
    projections = torch.nn.ModuleList([torch.nn.Linear(backbone_width, d) for _ in range(2)]).to(device)
    fusion = JointCrossAttentionFusion(length, d, k).to(device)
    heads = torch.nn.ModuleList([JointCrossAttentionHead(2 * d, 128, 0.0, 1) for _ in range(2)]).to(device)
    params = [*projections.parameters(), *fusion.parameters(), *heads.parameters()]
    optimizer = torch.optim.SGD(params, lr=1e-3)
    audio = torch.randn(batch_size, length, backbone_width, device=device)
    video = torch.randn(batch_size, length, backbone_width, device=device)
    labels = torch.rand(batch_size, length, 2, device=device) * 2 - 1
    ccc_loss = CCCLoss()

    def predict(features_a, features_v):
        att_a, att_v, _ = fusion(projections[0](features_a), projections[1](features_v))
        hidden = torch.cat([att_a, att_v], dim=-1)
        return torch.tanh(torch.cat([heads[0](hidden), heads[1](hidden)], dim=-1))

    def per_clip():
        return torch.cat([predict(audio[i : i + 1], video[i : i + 1]) for i in range(batch_size)])

    def train(forward):
        loss = ccc_loss(forward(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with torch.no_grad():
        gap = (predict(audio, video) - per_clip()).abs().max().item()
    train_times = time_interleaved(
        {"batched": lambda: train(lambda: predict(audio, video)), "loop": lambda: train(per_clip)}, repeats, device
    )
    with torch.inference_mode():
        infer_times = time_interleaved({"batched": lambda: predict(audio, video), "loop": per_clip}, repeats, device)
    rows = [
        [
            part,
            batch_size / times["batched"],
            batch_size / times["loop"],
            f"{times['loop'] / times['batched']:.1f}x",
            gap,
        ]
        for part, times in (("training step", train_times), ("inference", infer_times))
    ]
    title = (
        f"Joint Cross-Attention fusion module (projections + fusion + heads) at the paper's sizes "
        f"L={length} d={d} k={k}, batch {batch_size}"
    )
    headers = ["", "batched (clips/s)", "authors' per-clip loop (clips/s)", "speedup", "max output gap"]
    report(title, headers, rows)


def benchmark_jca_model(
    model_type: str, batch_size: int, repeats: int, device: torch.device, all_references: bool
) -> None:
    """Whole-model training step: batched vs each registered per-sample reference."""
    architecture = ARCHITECTURES[model_type]
    config = architecture.config_class(**BENCH_CONFIGS[model_type])
    model = architecture.regression_class(config).to(device).train()
    inputs = tile_inputs(model.dummy_inputs, batch_size, device)
    inputs.pop("video_mask", None)
    inputs.pop("audio_mask", None)
    labels = torch.rand(batch_size, config.num_subclips, 2, device=device) * 2 - 1
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    batched = BATCHED_FORWARD[model_type]
    references = dict(PER_SAMPLE_REFERENCES[model_type])
    if not all_references:  # section 1 already times every clip through the whole model on its own
        references.pop("whole model per clip", None)

    model.eval()  # the references must compute what the batched model computes (BatchNorm batch statistics aside)
    with torch.no_grad():
        expected = batched(model, inputs)
        gaps = {name: (ref(model, inputs) - expected).abs().max().item() for name, ref in references.items()}
    model.train()

    tasks = {"batched": lambda: training_step(batched, model, inputs, labels, optimizer)}
    for name, reference in references.items():
        tasks[name] = lambda ref=reference: training_step(ref, model, inputs, labels, optimizer)
    times = time_interleaved(tasks, repeats, device)
    rows = [["batched", batch_size / times["batched"], "1.0x", ""]]
    rows += [
        [name, batch_size / times[name], f"{times[name] / times['batched']:.1f}x", gaps[name]] for name in references
    ]
    title = f"{model_type}, whole model (`BENCH_CONFIGS` sizes), training step, batch {batch_size}"
    report(title, ["variant", "clips/s", "batched is faster by", "max output gap"], rows)


# --------------------------------------------------------------------------------------------------
# 3. Precision: bf16 autocast vs fp32 (GPU)
# --------------------------------------------------------------------------------------------------


def benchmark_precision(
    batch_size: int, repeats: int, device: torch.device, corpus: str, folder: Path, clip_seconds: float
) -> None:
    """Training and inference clips/s in fp32 and under bf16 autocast, per architecture at its recipe config."""
    rows, skipped, notes = [], [], []
    for model_type in sorted(ARCHITECTURES):
        recipe = load_recipe(model_type, corpus, folder)
        if recipe is None:
            skipped.append(f"{model_type} (no {folder}/{model_type}_{corpus}.yaml)")
            continue
        torch.manual_seed(0)
        processor = recipe_processor(recipe)
        model = build_model(model_type, recipe, device)
        inputs = recipe_inputs(processor, clip_seconds, batch_size, device)
        labels = torch.randint(0, model.config.num_labels, (batch_size,), device=device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def autocast(bf16: bool) -> contextlib.AbstractContextManager:
            if not bf16:
                return contextlib.nullcontext()
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

        def train(bf16: bool, model=model, inputs=inputs, labels=labels, optimizer=optimizer):
            optimizer.zero_grad(set_to_none=True)
            with autocast(bf16):
                loss = model(**inputs, labels=labels).loss
            loss.backward()
            optimizer.step()

        def infer(bf16: bool, model=model, inputs=inputs):
            with autocast(bf16):
                return model(**inputs).logits

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        model.eval()  # inference first, on the freshly initialised weights
        with torch.inference_mode():
            gap = (infer(False).float() - infer(True).float()).abs().max().item()
            infer_times = time_interleaved({"fp32": lambda: infer(False), "bf16": lambda: infer(True)}, repeats, device)
        model.train()
        train_times = time_interleaved({"fp32": lambda: train(False), "bf16": lambda: train(True)}, repeats, device)
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            notes.append(f"{model_type}: parameters became non-finite during the timed training steps")
        peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if device.type == "cuda" else "-"
        rows.append(
            [
                model_type,
                batch_size / train_times["fp32"],
                batch_size / train_times["bf16"],
                f"{train_times['fp32'] / train_times['bf16']:.2f}x",
                batch_size / infer_times["fp32"],
                batch_size / infer_times["bf16"],
                f"{infer_times['fp32'] / infer_times['bf16']:.2f}x",
                gap,
                peak,
            ]
        )
        del model, optimizer, inputs
        if device.type == "cuda":
            torch.cuda.empty_cache()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    title = f"bf16 autocast vs fp32, recipe configs (`*_{corpus}.yaml`), batch {batch_size}, {name}"
    headers = [
        "architecture",
        "train fp32 (clips/s)",
        "train bf16 (clips/s)",
        "train bf16 speedup",
        "infer fp32 (clips/s)",
        "infer bf16 (clips/s)",
        "infer bf16 speedup",
        "max logit gap",
        "peak memory",
    ]
    report(title, headers, rows, [f"skipped: {line}" for line in skipped] + [f"note: {line}" for line in notes])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=16, help="clips per batch, sections 1 and 2")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions; the median is reported")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="sections 1-2")
    parser.add_argument("--cpu-recipe", default="synthetic", help="recipe configs of section 1: <model_type>_<this>")
    parser.add_argument("--gpu-recipe", default="ravdess", help="recipe configs of section 3: <model_type>_<this>")
    parser.add_argument("--gpu-batch-size", type=int, default=16)
    parser.add_argument(
        "--precision-device",
        default="cuda" if torch.cuda.is_available() else None,
        help="device of section 3 (default: CUDA when present, else the section is skipped); 'cpu' checks the path",
    )
    parser.add_argument("--sections", default="1,2,3", help="comma-separated sections to run")
    parser.add_argument("--all-references", action="store_true", help="section 2: also every clip alone")
    parser.add_argument("--recipe-configs", type=Path, default=RECIPE_CONFIGS, help="folder of the recipe YAMLs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where models.{md,json} are written")
    args = parser.parse_args()
    device = torch.device(args.device)
    sections = {int(s) for s in args.sections.split(",") if s}
    torch.manual_seed(0)
    env = environment(device, args.repeats)
    print(
        f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads; "
        f"medians of {args.repeats} round-robin repeats\n"
    )
    if 1 in sections:
        benchmark_batching(args.batch_size, args.repeats, device, args.cpu_recipe, args.recipe_configs)
    if 2 in sections:
        benchmark_jca_fusion(args.batch_size, args.repeats, device)
        for model_type in sorted(PER_SAMPLE_REFERENCES):
            if model_type in ARCHITECTURES and model_type in BENCH_CONFIGS:
                benchmark_jca_model(model_type, args.batch_size, args.repeats, device, args.all_references)
    if 3 in sections:
        if args.precision_device is None:
            report("bf16 autocast vs fp32", [], [], ["skipped: no CUDA device (torch.cuda.is_available() is False)"])
        else:
            benchmark_precision(
                args.gpu_batch_size,
                args.repeats,
                torch.device(args.precision_device),
                args.gpu_recipe,
                args.recipe_configs,
                PAPER_CLIP_SECONDS,
            )
    write_results(args.results_dir, env)
    print(f"wrote {args.results_dir / 'models.md'} and {args.results_dir / 'models.json'}")


if __name__ == "__main__":
    main()
