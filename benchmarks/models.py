"""Model speed benchmarks, printed as ratios measured in one run (DESIGN section 8).

1. Training clips/s, batched vs a per-sample reference, for every architecture with an entry in
   `PER_SAMPLE_REFERENCES` (the authors' way of running it). For the Joint Cross-Attention model:
   - fusion + heads at the paper's sizes (L = 8, d = 128, k = 32): batched vs the authors' loop over the
     batch (their CAM module fuses one clip at a time);
   - the whole model (`BENCH_CONFIGS` sizes): batched vs backbones batched + fusion per clip (the authors'
     structure) and vs every clip through the whole model on its own.
   Each reference is checked to give the same outputs as the batched model before it is timed.
2. Inference clips/s for every registered architecture (`ARCHITECTURES`) with a `BENCH_CONFIGS` entry,
   on its `model.dummy_inputs` tiled to the batch size.

Adding an architecture: a `BENCH_CONFIGS` entry (config kwargs small enough for a CPU), `dummy_inputs` on its
model class, and optionally a per-sample reference in `PER_SAMPLE_REFERENCES`.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/models.py --batch-size 32
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from av_emotion import ARCHITECTURES
from av_emotion.modeling.joint_cross_attention import JointCrossAttentionFusion
from av_emotion.modeling.joint_cross_attention.modeling_joint_cross_attention import JointCrossAttentionHead
from av_emotion.modeling.losses import CCCLoss

# Config kwargs per architecture for the benchmarks: the paper's fusion and clip layout, backbones narrowed so
# a batch of 32 trains in seconds on a CPU (the backbones are batched the same way in every variant).
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
# Joint Cross-Attention: per-sample references
# --------------------------------------------------------------------------------------------------


def jca_heads(model, hidden: torch.Tensor) -> torch.Tensor:
    return torch.tanh(torch.cat([model.valence_head(hidden), model.arousal_head(hidden)], dim=-1))


def jca_batched(model, inputs: dict) -> torch.Tensor:
    return model(**inputs).step_logits


def jca_fusion_per_clip(model, inputs: dict) -> torch.Tensor:
    """The authors' structure: backbones over the whole batch, then fusion and heads one clip at a time."""
    base = model.joint_cross_attention
    video = base._video_features(inputs["pixel_values_videos"])
    audio = base._audio_features(inputs["input_features"])
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
    t_batched = time_call(lambda: train(lambda: predict(audio, video)), repeats)
    t_loop = time_call(lambda: train(per_clip), repeats)
    with torch.inference_mode():
        i_batched = time_call(lambda: predict(audio, video), repeats)
        i_loop = time_call(per_clip, repeats)
    print(f"fusion module (projections + fusion + heads), paper sizes L={length} d={d} k={k}, batch {batch_size}:")
    print(
        f"  training  batched {batch_size / t_batched:9.1f} clips/s   per clip (authors' loop) {batch_size / t_loop:9.1f}"
    )
    print(f"            clips/s   batched is {t_loop / t_batched:5.1f}x faster   (max output gap {gap:.1e})")
    print(
        f"  inference batched {batch_size / i_batched:9.1f} clips/s   per clip (authors' loop) {batch_size / i_loop:9.1f}"
    )
    print(f"            clips/s   batched is {i_loop / i_batched:5.1f}x faster")


def benchmark_training(model_type: str, batch_size: int, repeats: int, device: torch.device) -> None:
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

    model.eval()  # the references must compute what the batched model computes (BatchNorm batch statistics aside)
    with torch.no_grad():
        expected = batched(model, inputs)
        gaps = {
            name: (ref(model, inputs) - expected).abs().max().item()
            for name, ref in PER_SAMPLE_REFERENCES[model_type].items()
        }
    model.train()

    t_batched = time_call(lambda: training_step(batched, model, inputs, labels, optimizer), repeats)
    print(f"{model_type}, whole model (BENCH_CONFIGS), training step, batch {batch_size}:")
    print(f"  batched                         {batch_size / t_batched:10.1f} clips/s")
    for name, reference in PER_SAMPLE_REFERENCES[model_type].items():
        t_ref = time_call(lambda ref=reference: training_step(ref, model, inputs, labels, optimizer), repeats)
        print(
            f"  {name:<40} {batch_size / t_ref:8.1f} clips/s   batched is {t_ref / t_batched:5.1f}x faster"
            f"   (max output gap {gaps[name]:.1e})"
        )


def benchmark_inference(batch_size: int, repeats: int, device: torch.device) -> None:
    """Inference clips/s of every registered architecture's classification head."""
    print(f"inference, classification head, batch {batch_size} (BENCH_CONFIGS sizes):")
    for model_type, architecture in sorted(ARCHITECTURES.items()):
        if model_type not in BENCH_CONFIGS:
            print(f"  {model_type:<28} skipped: no BENCH_CONFIGS entry")
            continue
        model = architecture.classification_class(architecture.config_class(**BENCH_CONFIGS[model_type]))
        model = model.to(device).eval()
        inputs = tile_inputs(model.dummy_inputs, batch_size, device)
        with torch.inference_mode():
            seconds = time_call(lambda m=model, x=inputs: m(**x), repeats)
        print(f"  {model_type:<28} {batch_size / seconds:10.1f} clips/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions; the median is reported")
    parser.add_argument("--fusion-only", action="store_true", help="only the fusion-module benchmark (seconds)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads\n")
    benchmark_jca_fusion(args.batch_size, args.repeats, device)
    print()
    if args.fusion_only:
        return
    for model_type in sorted(PER_SAMPLE_REFERENCES):
        if model_type in ARCHITECTURES and model_type in BENCH_CONFIGS:
            benchmark_training(model_type, args.batch_size, args.repeats, device)
            print()
    benchmark_inference(args.batch_size, args.repeats, device)


if __name__ == "__main__":
    main()
