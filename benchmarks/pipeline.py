"""Benchmark of `pipeline("audio-video-emotion")` and `av-emotion predict`, printed as ratios from one run.

1. End-to-end latency of one 3.6-s clip (1280x720, 30 fps, RAVDESS frames when ../shared/data is present), split
   into decode (`processor.load_clip`), preprocess (`processor.process_clips`) and model (forward), against the
   pipeline call itself; the difference is the pipeline's own overhead. The four are timed round-robin.
2. Batch speedup: clips/s of `pipe(paths, batch_size=B)` over `batch_size=1` on the clips of part 4 (real formats,
   two lengths), the two runs alternating (ABBA); batches hold clips of one length only, so nothing is padded.
3. Peak memory of windowed prediction (`window_s`) on a 1-minute and a 10-minute video, each measured in a fresh
   subprocess: peak RSS (sampled every 5 ms, and ru_maxrss), its growth over the RSS just before the call, and the
   tracemalloc peak (Python and NumPy allocations). Goal: the 10-minute peak within 1.2x of the 1-minute peak.
4. `av-emotion predict` on a folder of real-format clips (copies of the RAVDESS mp4s and CREMA-D flvs in
   ../shared/data, 64 by default, written to a temporary folder and deleted after): files/s with worker processes
   (`--num-workers`, default the CLI's own choice) against `--num-workers 0`, the runs alternating (ABBA), the
   outputs of every run asserted equal. Runs in this process through `av_emotion.cli.main`, so the figure is the
   command's minus the interpreter start and imports (the same for both). Goal (issue 18): >= 1.5x on 2 cores.

The model is a randomly initialised architecture at its paper size with its processor preset (weights do not
change the cost), unless `--model DIR` names a checkpoint. Results go to `benchmarks/results/pipeline.{json,md}`
with the machine, the thread settings and the load; a run of some `--parts` replaces those sections only.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/pipeline.py                   # all parts, avt_ca, CPU
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/pipeline.py --parts predict   # 64 clips, 2 rounds
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/pipeline.py --parts predict --quick  # 16 clips, 1 round
    PYTHONPATH=src python benchmarks/pipeline.py --arch joint_cross_attention --device cuda
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # tests.pipelines.generated_media writes the videos
sys.path.insert(0, str(REPO_ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import PeakRSS, rss_bytes  # noqa: E402

# Architecture -> its paper's processor preset (av_emotion.processing.presets).
PRESET_FOR_ARCHITECTURE = {
    "avt_ca": "avt_ca2024",
    "joint_cross_attention": "jca2022",
    "av_metric_fusion": "mocanu2023",
}
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"
SHARED_CLIP = SHARED_DATA / "ravdess" / "01-01-03-01-01-02-05.mp4"
RESULTS = REPO_ROOT / "benchmarks" / "results"
PREDICT_GOAL = 1.5


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


def time_round_robin(functions: dict, repeats: int) -> dict[str, list[float]]:
    """Milliseconds of each function, `repeats` times, the functions taking turns (slow periods hit all alike)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def abba(variants: list[str], rounds: int) -> list[str]:
    """Run order A B, B A, A B, ...: each variant runs first as often as the other (for two variants)."""
    order = []
    for index in range(rounds):
        order.extend(variants if index % 2 == 0 else variants[::-1])
    return order


def latency(pipe, clip: Path, repeats: int) -> dict[str, list[float]]:
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

    return time_round_robin(
        {
            "decode": lambda: processor.load_clip(str(clip)),
            "preprocess": lambda: processor.process_clips([clip_data], return_tensors="pt"),
            "model": forward,
            "end_to_end": lambda: pipe(str(clip)),
        },
        repeats,
    )


def batch_speedup(pipe, paths: list[str], batch_size: int, rounds: int) -> dict[str, list[float]]:
    """Clips/s of `pipe(paths)` at batch size 1 and `batch_size`, alternating (ABBA), in this process."""
    pipe(paths[: 2 * batch_size], batch_size=batch_size)  # warm-up at the batched shapes
    rates: dict[str, list[float]] = {"batch_size=1": [], f"batch_size={batch_size}": []}
    for name in abba(list(rates), rounds):
        size = 1 if name == "batch_size=1" else batch_size
        start = time.perf_counter()
        pipe(paths, batch_size=size)
        rates[name].append(len(paths) / (time.perf_counter() - start))
    return rates


def real_format_clips(folder: Path, count: int) -> list[str]:
    """`count` copies of the real audio-video clips in ../shared/data (RAVDESS mp4, CREMA-D flv), cycled."""
    sources = sorted((SHARED_DATA / "ravdess").glob("01-*.mp4")) + sorted((SHARED_DATA / "crema-d").glob("*.flv"))
    if not sources:
        raise SystemExit(f"no real clips under {SHARED_DATA.resolve()}: part 'predict' copies them (see its README)")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        source = sources[index % len(sources)]
        target = folder / f"{index:03d}_{source.name}"
        shutil.copyfile(source, target)
        paths.append(str(target))
    return paths


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) used so far by this process and by its finished children (the workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def predict_once(paths: list[str], model: str, num_workers: int, batch_size: int, device: str) -> tuple[float, list]:
    """Wall seconds of `av-emotion predict PATHS --json` in this process, and its parsed output."""
    import torch

    from av_emotion.cli import main as cli_main

    threads = torch.get_num_threads()  # the CLI may lower it for its workers; every run starts from the same
    argv = ["predict", *paths, "--model", model, "--json", "--device", device, "--batch-size", str(batch_size)]
    argv += ["--num-workers", str(num_workers)]
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    if code != 0:
        raise SystemExit(f"av-emotion predict --num-workers {num_workers} exited {code}:\n{err.getvalue()[-3000:]}")
    return seconds, json.loads(out.getvalue())


def max_score_gap(first: list, second: list) -> float:
    """Largest score difference between two `predict --json` outputs; fails if paths or label orders differ."""
    assert [record["path"] for record in first] == [record["path"] for record in second], "paths or order differ"
    gap = 0.0
    for a, b in zip(first, second):
        assert [item["label"] for item in a["labels"]] == [item["label"] for item in b["labels"]], a["path"]
        gap = max([gap] + [abs(x["score"] - y["score"]) for x, y in zip(a["labels"], b["labels"])])
        assert {k: v for k, v in a.items() if k != "labels"} == {k: v for k, v in b.items() if k != "labels"}
    return gap


def predict_throughput(args: argparse.Namespace, model: str, workdir: Path) -> dict:
    from av_emotion.commands.predict import default_num_workers

    paths = real_format_clips(workdir / "clips", args.num_files)
    workers = args.workers if args.workers is not None else default_num_workers(len(paths), windowed=False)
    if workers == 0:
        raise SystemExit("--workers 0 compares the sequential run with itself; pass --workers N with N >= 1")
    predict_once(paths[:4], model, workers, args.predict_batch_size, args.device)  # warm-up (forks, caches)
    names = {"sequential": 0, "workers": workers}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[list[float]]] = {name: [] for name in names}  # per run: [this process, workers], s/file
    reference, gap = None, 0.0
    for name in abba(list(names), args.rounds):
        own_before, children_before = cpu_seconds()
        elapsed, output = predict_once(paths, model, names[name], args.predict_batch_size, args.device)
        own_after, children_after = cpu_seconds()
        cpu[name].append([(own_after - own_before) / len(paths), (children_after - children_before) / len(paths)])
        seconds[name].append(elapsed)
        # Every run's output against the first run's: same files, order, labels, details; scores within 1e-6.
        reference = output if reference is None else reference
        gap = max(gap, max_score_gap(reference, output))
        print(f"   {name:<10} ({names[name]} workers): {len(paths) / elapsed:5.2f} files/s ({elapsed:6.1f} s)")
    assert gap <= 1e-6, f"outputs differ between runs by up to {gap:.2e}"
    rate = {name: len(paths) / statistics.median(values) for name, values in seconds.items()}
    main_cpu = statistics.median(run[0] for run in cpu["workers"])
    workers_cpu = statistics.median(run[1] for run in cpu["workers"])
    sequential_cpu = statistics.median(sum(run) for run in cpu["sequential"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # At best, on idle cores: a file costs the longest of this process's share, the workers' share spread over their
    # cores, and all the work spread over all the cores; the sequential run's wall time is taken as its CPU time (it
    # can be less: FFmpeg and OpenCV threads use a second core a little). An upper bound, not a measurement.
    bound = max(main_cpu, workers_cpu / max(1, min(workers, cores)), (main_cpu + workers_cpu) / cores)
    print(
        f"   CPU per file: sequential {sequential_cpu:.2f} s; with workers {main_cpu:.2f} s here + {workers_cpu:.2f} s "
        f"in the workers -> at best {sequential_cpu / bound:.2f}x on {cores} idle cores"
    )
    return {
        "files": len(paths),
        "sources": sorted({Path(path).name.split("_", 1)[1] for path in paths}),
        "num_workers": workers,
        "batch_size": args.predict_batch_size,
        "rounds": args.rounds,
        "seconds": seconds,
        "files_per_s": rate,
        "speedup": rate["workers"] / rate["sequential"],
        "speedup_per_round": [s / w for s, w in zip(seconds["sequential"], seconds["workers"])],
        "cpu_s_per_file": cpu,
        "cpu_s_per_file_sequential": sequential_cpu,
        "cpu_s_per_file_with_workers": {"this_process": main_cpu, "workers": workers_cpu},
        "idle_core_estimate": sequential_cpu / bound,
        "max_score_gap": gap,
        "goal": f">= {PREDICT_GOAL}x",
        "goal_met": rate["workers"] / rate["sequential"] >= PREDICT_GOAL,
    }


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def machine_info(args: argparse.Namespace) -> dict:
    """The machine and the settings a figure was measured with."""
    import av
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15_min": [round(value, 2) for value in os.getloadavg()],
        "sched_autogroup": _read_text("/proc/sys/kernel/sched_autogroup_enabled"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "av": av.__version__,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


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
    parser.add_argument("--repeats", type=int, default=10, help="rounds of the latency measurement")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-clips", type=int, default=16, help="real-format clips of the batch-speedup runs")
    parser.add_argument("--num-files", type=int, default=64, help="real-format clips `av-emotion predict` reads")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds of the batch and predict parts")
    parser.add_argument(
        "--workers", type=int, default=None, help="--num-workers of the predict run (default: the CLI's choice)"
    )
    parser.add_argument("--predict-batch-size", type=int, default=1, help="--batch-size of the predict runs")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few minutes: 16 files and 1 round for predict, 8 clips for batching, 3 latency rounds, a 2-minute "
        "long video for memory",
    )
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
        "--parts",
        default="latency,batch,memory,predict",
        help="comma-separated subset of latency,batch,memory,predict to run",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/results alone")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args)
        return
    if args.quick:
        args.num_files, args.rounds, args.num_clips, args.repeats = 16, 1, 8, 3
        args.long_minutes = min(args.long_minutes, 2.0)

    from transformers.utils import logging as transformers_logging

    import av_emotion  # noqa: F401

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    workdir = Path(tempfile.mkdtemp(prefix="av_emotion_pipeline_bench_"))
    try:
        sections = run_parts(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not args.no_write:
        write_results(sections)


def run_parts(args: argparse.Namespace, workdir: Path) -> dict[str, dict]:
    import torch
    from transformers import pipeline

    model = args.model or str(build_checkpoint(args.arch, workdir / "model"))
    pipe = pipeline("audio-video-emotion", model=model, device=args.device)
    processor = pipe.processor
    setup = {
        "model": f"{type(pipe.model).__name__} ({'checkpoint ' + args.model if args.model else 'paper size, random'})",
        "processor": f"{processor.num_frames} frames of {processor.video_processor.size.height}x"
        f"{processor.video_processor.size.width}, face crop {processor.video_processor.do_face_crop}, audio "
        f"{processor.sampling_rate} Hz, clip {processor.clip_duration_s} s",
        "device": str(pipe.device),
    }
    print(f"model: {setup['model']} on {pipe.device}; torch threads {torch.get_num_threads()}")
    print(f"processor: {setup['processor']}")
    clip = write_clip(workdir / "clip_3.6s.mp4", 3.6, size=(1280, 720), fps=30, sampling_rate=48000)
    selected = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = set(selected) - {"latency", "batch", "memory", "predict"}
    if unknown:
        raise SystemExit(f"unknown --parts {sorted(unknown)}; choose from latency, batch, memory, predict")
    sections: dict[str, dict] = {}
    for part in selected:
        info = {**machine_info(args), **setup}
        if part == "latency":
            figures = report_latency(pipe, clip, args.repeats)
        elif part == "batch":
            figures = report_batch(pipe, args, workdir)
        elif part == "memory":
            figures = report_memory(args, model, workdir, clip)
        else:
            print(f"\n4. av-emotion predict on {args.num_files} real-format clips, {args.rounds} ABBA round(s)")
            figures = predict_throughput(args, model, workdir)
            print(
                f"   -> workers ({figures['num_workers']}) / sequential: {figures['speedup']:.2f}x "
                f"(goal {figures['goal']}; per round {', '.join(f'{r:.2f}x' for r in figures['speedup_per_round'])}); "
                f"outputs equal (max score gap {figures['max_score_gap']:.1e})"
            )
        info["load_average_1_5_15_min_at_end"] = [round(value, 2) for value in os.getloadavg()]
        sections[part] = {"setup": info, "figures": figures}
    return sections


def report_latency(pipe, clip: Path, repeats: int) -> dict:
    times = latency(pipe, clip, repeats)
    parts = {name: statistics.median(values) for name, values in times.items()}
    total = parts["decode"] + parts["preprocess"] + parts["model"]
    print(f"\n1. latency of a 3.6-s 1280x720 clip (median of {repeats}, round-robin)")
    for name in ("decode", "preprocess", "model"):
        print(f"   {name:<11} {parts[name]:8.1f} ms  ({parts[name] / parts['end_to_end']:.0%} of end-to-end)")
    print(f"   {'sum':<11} {total:8.1f} ms")
    print(
        f"   {'end-to-end':<11} {parts['end_to_end']:8.1f} ms  -> pipeline / (decode+preprocess+model) = "
        f"{parts['end_to_end'] / total:.2f}x"
    )
    return {"median_ms": parts, "sum_of_parts_ms": total, "pipeline_over_parts": parts["end_to_end"] / total,
            "repeats": repeats, "all_ms": times}  # fmt: skip


def report_batch(pipe, args: argparse.Namespace, workdir: Path) -> dict:
    paths = real_format_clips(workdir / "batch_clips", args.num_clips)
    rates = batch_speedup(pipe, paths, args.batch_size, args.rounds)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    one, batched = medians.values()
    print(
        f"\n2. batching ({args.num_clips} real-format clips, {args.rounds} ABBA round(s)): batch_size=1 {one:.2f} "
        f"clips/s, batch_size={args.batch_size} {batched:.2f} clips/s -> speedup {batched / one:.2f}x"
    )
    return {"clips": args.num_clips, "batch_size": args.batch_size, "clips_per_s": medians, "all": rates,
            "speedup": batched / one}  # fmt: skip


def report_memory(args: argparse.Namespace, model: str, workdir: Path, warmup: Path) -> dict:
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
    return {
        "window_s": args.window,
        "batch_size": args.memory_batch_size,
        "videos": figures,
        "peak_rss_ratio": second["rss_peak"] / first["rss_peak"],
        "growth_ratio": growth_second / max(growth_first, 1),
        "tracemalloc_ratio": second["tracemalloc_peak"] / first["tracemalloc_peak"],
    }


def write_results(sections: dict[str, dict]) -> None:
    """Merge the sections run now into `results/pipeline.json` (others kept) and render `results/pipeline.md`."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "pipeline.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored.update(sections)
    path.write_text(json.dumps(stored, indent=2) + "\n")
    (RESULTS / "pipeline.md").write_text(render_markdown(stored))
    print(f"\nresults: {path} and {path.with_suffix('.md')}")


def _setup_line(setup: dict) -> str:
    return (
        f"{setup['date']}; {setup['cpu']}, {setup['usable_cores']} usable of {setup['cores']} cores"
        f"{', GPU ' + setup['gpu'] if setup.get('gpu') else ''}; OMP_NUM_THREADS={setup['OMP_NUM_THREADS']}, torch "
        f"threads {setup['torch_threads']}; load average (1, 5, 15 min) {setup['load_average_1_5_15_min']} at start, "
        f"{setup.get('load_average_1_5_15_min_at_end')} at end; {setup['model']}, {setup['processor']}, "
        f"{setup['device']}; torch {setup['torch']}, transformers {setup['transformers']}, PyAV {setup['av']}. "
        f"Command: `{setup['command']}`"
    )


def render_markdown(stored: dict) -> str:
    """The results file: one section per part, each with the machine, threads and load of its own run."""
    lines = [
        "# Pipeline benchmark (`benchmarks/pipeline.py`)",
        "",
        "Ratios from one run each (variants interleaved: round-robin or ABBA, medians). Each section names the run "
        "that made it; the absolute figures move with the machine and its load, the ratios much less.",
    ]
    if "predict" in stored:
        f, setup = stored["predict"]["figures"], stored["predict"]["setup"]
        rate = f["files_per_s"]
        lines += [
            "",
            f"## `av-emotion predict` on {f['files']} real-format clips: workers vs one process",
            "",
            f"Copies of {', '.join(f['sources'])} (../shared/data), `--json --batch-size {f['batch_size']}`, "
            f"{f['rounds']} ABBA round(s), in-process `av_emotion.cli.main` (the command minus interpreter start).",
            "",
            "| run | files/s (median) | seconds per run |",
            "|---|---|---|",
            f"| `--num-workers 0` | {rate['sequential']:.2f} | {', '.join(f'{v:.1f}' for v in f['seconds']['sequential'])} |",
            f"| `--num-workers {f['num_workers']}` | {rate['workers']:.2f} | "
            f"{', '.join(f'{v:.1f}' for v in f['seconds']['workers'])} |",
            "",
            f"Speedup **{f['speedup']:.2f}x** (per round: {', '.join(f'{r:.2f}x' for r in f['speedup_per_round'])}); "
            f"goal {f['goal']}: {'met' if f['goal_met'] else 'not met'}. Outputs of every run equal (same files, "
            f"order, labels, details; largest score difference {f['max_score_gap']:.1e}).",
        ]
        if "cpu_s_per_file_sequential" in f:
            split = f["cpu_s_per_file_with_workers"]
            lines += [
                "",
                f"CPU seconds per file (medians; getrusage of this process and of the reaped workers): sequential "
                f"{f['cpu_s_per_file_sequential']:.2f}; with workers {split['this_process']:.2f} in the process that "
                f"runs the model + {split['workers']:.2f} in the workers (the difference is the cost of the worker "
                f"processes and of moving features between them). On free cores a file costs at least the longest of "
                f"this process's share, the workers' share over their cores and all of it over all the cores: at "
                f"best **{f['idle_core_estimate']:.2f}x** (an upper bound from CPU time, not a measurement).",
                "",
                f"Run: {_setup_line(setup)}",
            ]
        if setup["load_average_1_5_15_min"][0] > setup["usable_cores"]:
            lines += [
                "",
                "The machine was loaded (load average above its core count). With the kernel's autogroup scheduling "
                f"(`sched_autogroup_enabled` = {setup.get('sched_autogroup')}), the processes of one session share "
                "that session's fair share of the cores: while other sessions keep the cores busy, worker processes add "
                "little CPU time, mostly split it, so a loaded run understates what the workers give on idle cores.",
            ]
    if "latency" in stored:
        f, setup = stored["latency"]["figures"], stored["latency"]["setup"]
        median = f["median_ms"]
        lines += [
            "",
            f"## Latency of a 3.6-s 1280x720 clip (median of {f['repeats']}, round-robin)",
            "",
            "| part | ms | share of the pipeline call |",
            "|---|---|---|",
        ]
        for name in ("decode", "preprocess", "model"):
            lines.append(f"| {name} | {median[name]:.1f} | {median[name] / median['end_to_end']:.0%} |")
        lines += [
            f"| sum of the parts | {f['sum_of_parts_ms']:.1f} | |",
            f"| pipeline call | {median['end_to_end']:.1f} | {f['pipeline_over_parts']:.2f}x the parts |",
            "",
            f"Run: {_setup_line(setup)}",
        ]
    if "batch" in stored:
        f, setup = stored["batch"]["figures"], stored["batch"]["setup"]
        one, batched = f["clips_per_s"].values()
        lines += [
            "",
            f"## Batching, {f['clips']} real-format clips (equal lengths batched together, nothing padded)",
            "",
            "| run | clips/s (median) |",
            "|---|---|",
            f"| `batch_size=1` | {one:.2f} |",
            f"| `batch_size={f['batch_size']}` | {batched:.2f} ({f['speedup']:.2f}x) |",
            "",
            f"Run: {_setup_line(setup)}",
        ]
    if "memory" in stored:
        f, setup = stored["memory"]["figures"], stored["memory"]["setup"]
        mib = 1024**2
        lines += [
            "",
            f"## Memory of windowed prediction (window = stride = {f['window_s']:g} s, batch {f['batch_size']}), "
            "one fresh process per video",
            "",
            "| video | windows | time (s) | peak RSS (MiB) | growth over pre-call RSS (MiB) | tracemalloc peak (MiB) |",
            "|---|---|---|---|---|---|",
        ]
        for name, value in f["videos"].items():
            lines.append(
                f"| {name} | {value['windows']} | {value['seconds']:.1f} | {value['rss_peak'] / mib:.1f} | "
                f"{(value['rss_peak'] - value['rss_before']) / mib:.1f} | {value['tracemalloc_peak'] / mib:.1f} |"
            )
        lines += [
            f"| ratio long / short | | | {f['peak_rss_ratio']:.3f}x | {f['growth_ratio']:.3f}x | "
            f"{f['tracemalloc_ratio']:.3f}x |",
            "",
            f"Goal: peak within 1.2x. Run: {_setup_line(setup)}",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
