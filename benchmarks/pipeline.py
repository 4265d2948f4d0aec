"""Benchmark of `pipeline("audio-video-emotion")`, printed as ratios from one run.

1. End-to-end latency of one 3.6-s clip (1280x720, 30 fps, RAVDESS frames when ../shared/data is present), split
   into decode (`processor.load_clip`), preprocess (`processor.process_clips`) and model (forward), against the
   pipeline call itself; the difference is the pipeline's own overhead.
2. Batch speedup: clips/s of `pipe(paths, batch_size=B)` over `batch_size=1`.
3. Peak memory of windowed prediction (`window_s`) on a 1-minute and a 10-minute video, each measured in a fresh
   subprocess: peak RSS (sampled every 5 ms, and ru_maxrss), its growth over the RSS just before the call, and the
   tracemalloc peak (Python and NumPy allocations). Goal: the 10-minute peak within 1.2x of the 1-minute peak.

The model is a randomly initialised architecture at its paper size with its processor preset (weights do not
change the cost), unless `--model DIR` names a checkpoint.

    PYTHONPATH=src python benchmarks/pipeline.py                       # avt_ca (AVT-CA paper sizes), CPU
    PYTHONPATH=src python benchmarks/pipeline.py --arch joint_cross_attention --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # tests.pipelines.generated_media writes the videos
sys.path.insert(0, str(REPO_ROOT / "src"))

# Architecture -> its paper's processor preset (av_emotion.processing.presets).
PRESET_FOR_ARCHITECTURE = {
    "avt_ca": "avt_ca2024",
    "joint_cross_attention": "jca2022",
    "av_metric_fusion": "mocanu2023",
}
SHARED_CLIP = REPO_ROOT / ".." / "shared" / "data" / "ravdess" / "01-01-03-01-01-02-05.mp4"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples the process RSS in a thread; `peak` is the largest value seen while running."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s, self.peak, self._stop = interval_s, rss_bytes(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def build_checkpoint(arch: str, directory: Path) -> Path:
    from av_emotion import ARCHITECTURES
    from av_emotion.processing import AVEmotionProcessor

    architecture = ARCHITECTURES[arch]
    model = architecture.classification_class(architecture.config_class()).eval()
    model.save_pretrained(directory)
    AVEmotionProcessor.from_preset(PRESET_FOR_ARCHITECTURE[arch]).save_pretrained(directory)
    return directory


def write_clip(path: Path, duration_s: float, size: tuple[int, int], fps: int, sampling_rate: int) -> Path:
    """A clip of RAVDESS frames (cycled) when the shared samples exist, else a generated pattern."""
    from tests.pipelines.generated_media import write_video

    frames = None
    if SHARED_CLIP.exists():
        from av_emotion.processing.media import decode_clip

        frames = decode_clip(SHARED_CLIP, num_frames=48, sampling_rate=16000, frame_size=(size[1], size[0])).frames
    return write_video(path, duration_s, fps=fps, size=size, frames=frames, sampling_rate=sampling_rate)


def median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def latency(pipe, clip: Path, repeats: int) -> dict[str, float]:
    import torch

    processor, model = pipe.processor, pipe.model
    pipe(str(clip))  # warm-up: first calls allocate caches and load the face detector
    clip_data = processor.load_clip(str(clip))
    inputs = processor.process_clips([clip_data], return_tensors="pt")
    names = ("pixel_values_videos", "input_features", "video_mask", "audio_mask")
    model_inputs = {name: inputs[name].to(pipe.device) for name in names if name in inputs}

    def forward():
        with torch.no_grad():
            model(**model_inputs)
        if pipe.device.type == "cuda":
            torch.cuda.synchronize()

    return {
        "decode": median_ms(lambda: processor.load_clip(str(clip)), repeats),
        "preprocess": median_ms(lambda: processor.process_clips([clip_data], return_tensors="pt"), repeats),
        "model": median_ms(forward, repeats),
        "end_to_end": median_ms(lambda: pipe(str(clip)), repeats),
    }


def batch_speedup(pipe, clip: Path, batch_size: int, num_clips: int) -> tuple[float, float]:
    paths = [str(clip)] * num_clips
    pipe(paths[:batch_size], batch_size=batch_size)  # warm-up at the batched shapes
    start = time.perf_counter()
    pipe(paths, batch_size=1)
    one = num_clips / (time.perf_counter() - start)
    start = time.perf_counter()
    pipe(paths, batch_size=batch_size)
    batched = num_clips / (time.perf_counter() - start)
    return one, batched


def memory_child(args: argparse.Namespace) -> None:
    """Run in a fresh process: windowed prediction on one video, print its memory figures as JSON."""
    from transformers import pipeline
    from transformers.utils import logging as transformers_logging

    import av_emotion  # noqa: F401

    transformers_logging.disable_progress_bar()
    pipe = pipeline("audio-video-emotion", model=args.model, device=args.device)
    pipe(args.warmup, window_s=args.window, batch_size=args.batch_size)  # warm-up (allocators, detector, kernels)
    before = rss_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    with PeakRSS() as sampler:
        result = pipe(args.memory_child, window_s=args.window, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "windows": len(result["timeline"]),
                "seconds": seconds,
                "rss_before": before,
                "rss_peak": sampler.peak,
                "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "tracemalloc_peak": traced_peak,
            }
        )
    )


def memory(args: argparse.Namespace, model: str, videos: dict[str, Path], warmup: Path, window: float) -> dict:
    figures = {}
    for name, video in videos.items():
        command = [
            sys.executable,
            __file__,
            "--memory-child",
            str(video),
            "--warmup",
            str(warmup),
            "--model",
            model,
            "--window",
            str(window),
            "--device",
            args.device,
            "--batch-size",
            str(args.memory_batch_size),
        ]
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise SystemExit(f"memory run on {video} failed:\n{completed.stderr[-3000:]}")
        figures[name] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="avt_ca", choices=sorted(PRESET_FOR_ARCHITECTURE))
    parser.add_argument("--model", default=None, help="benchmark this checkpoint instead of a random paper-size one")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-clips", type=int, default=16, help="clips for the batch-speedup measurement")
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument(
        "--window",
        type=float,
        default=10.0,
        help="window (= stride) of the memory runs, seconds. Default 10: one window's frames and audio are what is "
        "held, whatever its length, and fewer windows keep the 10-minute run to minutes on a CPU",
    )
    parser.add_argument(
        "--memory-batch-size",
        type=int,
        default=1,
        help="batch size of the memory runs (default 1: both videos then hold the same one-window batch, so the "
        "ratio isolates what grows with the video's length)",
    )
    parser.add_argument(
        "--parts", default="latency,batch,memory", help="comma-separated subset of latency,batch,memory to run"
    )
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args)
        return

    from transformers.utils import logging as transformers_logging

    import av_emotion  # noqa: F401

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    workdir = Path(tempfile.mkdtemp(prefix="av_emotion_pipeline_bench_"))
    try:
        run_parts(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_parts(args: argparse.Namespace, workdir: Path) -> None:
    import torch
    from transformers import pipeline

    model = args.model or str(build_checkpoint(args.arch, workdir / "model"))
    pipe = pipeline("audio-video-emotion", model=model, device=args.device)
    processor = pipe.processor
    print(f"model: {type(pipe.model).__name__} from {model} on {pipe.device}; torch threads {torch.get_num_threads()}")
    print(
        f"processor: {processor.num_frames} frames, face crop {processor.video_processor.do_face_crop}, "
        f"audio {processor.sampling_rate} Hz, clip {processor.clip_duration_s} s"
    )

    clip = write_clip(workdir / "clip_3.6s.mp4", 3.6, size=(1280, 720), fps=30, sampling_rate=48000)
    selected = set(args.parts.split(","))
    if "latency" in selected:
        report_latency(pipe, clip, args.repeats)
    if "batch" in selected:
        one, batched = batch_speedup(pipe, clip, args.batch_size, args.num_clips)
        print(
            f"\n2. batching ({args.num_clips} clips): batch_size=1 {one:.2f} clips/s, batch_size={args.batch_size} "
            f"{batched:.2f} clips/s -> speedup {batched / one:.2f}x"
        )
    if "memory" in selected:
        report_memory(args, model, workdir, clip)


def report_latency(pipe, clip: Path, repeats: int) -> None:
    parts = latency(pipe, clip, repeats)
    total = parts["decode"] + parts["preprocess"] + parts["model"]
    print(f"\n1. latency of a 3.6-s 1280x720 clip (median of {repeats})")
    for name in ("decode", "preprocess", "model"):
        print(f"   {name:<11} {parts[name]:8.1f} ms  ({parts[name] / parts['end_to_end']:.0%} of end-to-end)")
    print(f"   {'sum':<11} {total:8.1f} ms")
    print(
        f"   {'end-to-end':<11} {parts['end_to_end']:8.1f} ms  -> pipeline / (decode+preprocess+model) = "
        f"{parts['end_to_end'] / total:.2f}x"
    )


def report_memory(args: argparse.Namespace, model: str, workdir: Path, warmup: Path) -> None:
    short = write_clip(workdir / "one_minute.mp4", 60.0, size=(640, 360), fps=25, sampling_rate=48000)
    long = write_clip(workdir / "long.mp4", 60.0 * args.long_minutes, size=(640, 360), fps=25, sampling_rate=48000)
    figures = memory(args, model, {"1 min": short, f"{args.long_minutes:g} min": long}, warmup, args.window)
    print(
        f"\n3. memory, windowed prediction (window = stride = {args.window:g} s, batch {args.memory_batch_size}), "
        "640x360 25 fps, one fresh process each"
    )
    mib = 1024**2
    for name, value in figures.items():
        print(
            f"   {name:>7}: {value['windows']:4d} windows in {value['seconds']:6.1f} s; peak RSS "
            f"{value['rss_peak'] / mib:7.1f} MiB (ru_maxrss {value['ru_maxrss'] / mib:7.1f}), growth over the "
            f"pre-call RSS {(value['rss_peak'] - value['rss_before']) / mib:6.1f} MiB, tracemalloc peak "
            f"{value['tracemalloc_peak'] / mib:6.1f} MiB"
        )
    first, second = figures.values()
    growth_first = first["rss_peak"] - first["rss_before"]
    growth_second = second["rss_peak"] - second["rss_before"]
    print(
        f"   ratio long/short: peak RSS {second['rss_peak'] / first['rss_peak']:.3f}x, "
        f"growth {growth_second / max(growth_first, 1):.3f}x, "
        f"tracemalloc peak {second['tracemalloc_peak'] / first['tracemalloc_peak']:.3f}x (goal <= 1.2x)"
    )


if __name__ == "__main__":
    main()
