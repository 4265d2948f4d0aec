"""Peak memory of whole-clip preprocessing for every processor preset: a 1-minute vs a 10-minute generated video.

Whole-clip prediction (no `window_s`) must not grow with the length of the file. For every preset in
`PROCESSOR_PRESETS`, a fresh subprocess builds the processor, warms it up on a short clip, then turns one generated
video into model inputs (`processor(paths=[video])`, what `pipeline(video)` and `av-emotion predict` run before the
model) and reports:

- its peak RSS (sampled every 5 ms) and the growth over the RSS just before the call;
- the tracemalloc peak (Python and NumPy allocations; torch tensors are not traced);
- the shape of the inputs it made (a bounded input also bounds the model's memory).

The two lengths of one preset run back to back with their order alternating between presets, so neither always
runs first. Goal: for every preset, the 10-minute peak within 1.2x of the 1-minute peak (growth within 1.5x).
Results go to `benchmarks/results/memory.{md,json}` with the machine and thread settings.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/memory.py            # about 5 minutes on one core
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/memory.py --presets mocanu2023 --lengths 60 600
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import PeakRSS, cpu_model, rss_bytes  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The generated videos: frame size and rate of a webcam-like recording, 48 kHz stereo AAC (what phones and
# browsers record), a flat frame whose grey level changes every second. Small enough to write 10 minutes fast.
VIDEO_SIZE = (240, 320)
VIDEO_FPS = 10
AUDIO_RATE = 48000
WARMUP_SECONDS = 5.0


def write_video(path: Path, seconds: float) -> Path:
    """Write an mp4 of `seconds`: H.264 frames (grey level changing every second) and a 48 kHz stereo AAC tone."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=VIDEO_FPS)
        video.height, video.width = VIDEO_SIZE
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "g": str(2 * VIDEO_FPS)}
        audio = container.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "stereo"
        for index in range(int(seconds * VIDEO_FPS)):
            image = np.full((*VIDEO_SIZE, 3), 16 + 12 * ((index // VIDEO_FPS) % 19), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, VIDEO_FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        chunk = 1024
        total = int(seconds * AUDIO_RATE)
        for start in range(0, total, chunk):
            times = np.arange(start, min(start + chunk, total)) / AUDIO_RATE
            tone = (0.3 * np.sin(2 * np.pi * 220.0 * times)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return path


def child(preset: str, video: str, warmup: str) -> None:
    """In a fresh process: whole-clip inputs of `video` with `preset`; print the memory figures as JSON."""
    import warnings

    from av_emotion.processing import AVEmotionProcessor

    processor = AVEmotionProcessor.from_preset(preset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a long file's whole-clip warning is part of what is measured, not news
        processor(paths=[warmup])  # allocators, the face detector, FFT plans
        before = rss_bytes()
        tracemalloc.start()
        start = time.perf_counter()
        with PeakRSS() as sampler:
            batch = processor(paths=[video])
        seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    shapes = {
        key: list(value.shape) for key, value in batch.items() if key in ("pixel_values_videos", "input_features")
    }
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_before": before,
                "rss_peak": sampler.peak,
                "tracemalloc_peak": traced_peak,
                "shapes": shapes,
            }
        )
    )


def measure(preset: str, video: Path, warmup: Path) -> dict:
    command = [sys.executable, __file__, "--child", preset, str(video), str(warmup)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def environment() -> dict:
    import av
    import torch

    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyav": av.__version__,
    }


def write_results(results_dir: Path, env: dict, rows: list[dict], lengths: list[float]) -> str:
    env = {**env, "load_average_end": list(os.getloadavg())}
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "memory.json").write_text(json.dumps({"environment": env, "runs": rows}, indent=2) + "\n")
    mib = 2**20
    short, long = (f"{length:g} s" for length in lengths)
    lines = [
        "# Whole-clip preprocessing memory (`benchmarks/memory.py`)",
        "",
        f"Measured {env['date_utc']} with `{env['command']}`. Machine: {env['cpu_model']}, {env['cpu_count']} CPUs; "
        f"torch threads {env['torch_threads']}, OMP_NUM_THREADS={env['omp_num_threads']}; torch {env['torch']}, "
        f"PyAV {env['pyav']}; load average {env['load_average_start'][0]:.1f} at start, "
        f"{env['load_average_end'][0]:.1f} at end.",
        "",
        f"Each figure is one fresh process turning a generated {VIDEO_SIZE[1]}x{VIDEO_SIZE[0]} {VIDEO_FPS} fps video "
        f"with 48 kHz stereo AAC into whole-clip model inputs (`processor(paths=[video])`, no `window_s`), after a "
        "warm-up on a 5-s clip. Peak RSS is sampled every 5 ms; growth is over the RSS just before the call. "
        "Goal: long/short peak RSS <= 1.2x for every preset.",
        "",
        f"| preset | peak RSS {short} (MiB) | peak RSS {long} (MiB) | long/short | growth {short} (MiB) | "
        f"growth {long} (MiB) | tracemalloc peak {short} / {long} (MiB) | audio features {long} | goal met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for preset in dict.fromkeys(row["preset"] for row in rows):
        first, second = (next(r for r in rows if r["preset"] == preset and r["length_s"] == n) for n in lengths)
        ratio = second["rss_peak"] / first["rss_peak"]
        features = second["shapes"].get("input_features")
        lines.append(
            f"| {preset} | {first['rss_peak'] / mib:.0f} | {second['rss_peak'] / mib:.0f} | {ratio:.2f}x | "
            f"{(first['rss_peak'] - first['rss_before']) / mib:.0f} | "
            f"{(second['rss_peak'] - second['rss_before']) / mib:.0f} | "
            f"{first['tracemalloc_peak'] / mib:.1f} / {second['tracemalloc_peak'] / mib:.1f} | "
            f"{'x'.join(map(str, features)) if features else '-'} | {'yes' if ratio <= 1.2 else 'no'} |"
        )
    text = "\n".join(lines) + "\n"
    (results_dir / "memory.md").write_text(text)
    return text


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    from av_emotion.processing.presets import PROCESSOR_PRESETS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="*", default=sorted(PROCESSOR_PRESETS), help="default: every preset")
    parser.add_argument("--lengths", nargs=2, type=float, default=[60.0, 600.0], help="the two video lengths, s")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--workdir", type=Path, default=None, help="where the videos are written (default: a temp dir)")
    args = parser.parse_args()
    env = environment()
    with tempfile.TemporaryDirectory() as temporary:
        workdir = args.workdir or Path(temporary)
        workdir.mkdir(parents=True, exist_ok=True)
        videos = {}
        for length in [WARMUP_SECONDS, *args.lengths]:
            path = workdir / f"video_{length:g}s.mp4"
            if not path.exists():
                print(f"writing {path} ...", flush=True)
                write_video(path, length)
            videos[length] = path
        rows = []
        for index, preset in enumerate(args.presets):
            order = args.lengths if index % 2 == 0 else args.lengths[::-1]
            for length in order:
                figures = measure(preset, videos[length], videos[WARMUP_SECONDS])
                rows.append({"preset": preset, "length_s": length, **figures})
                print(
                    f"{preset:>26} {length:6g} s: peak RSS {figures['rss_peak'] / 2**20:7.1f} MiB, growth "
                    f"{(figures['rss_peak'] - figures['rss_before']) / 2**20:6.1f} MiB, {figures['seconds']:.1f} s",
                    flush=True,
                )
    print()
    print(write_results(args.results_dir, env, rows, args.lengths))


if __name__ == "__main__":
    main()
