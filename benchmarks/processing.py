"""Processing speed and face-crop quality: the processor against the bare decode of the same frames.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/processing.py [--repeats 10] [--num-frames 16]

Writes `benchmarks/results/processing.{md,json}`. Two parts, both in this one run:

**Speed** (`--clips`, default the RAVDESS 1280x720 audio-video clips `ravdess/01-*.mp4` in ../shared/data; then, reported
apart, `--other-clips`, default the CREMA-D 480x360 clips `crema-d/*.flv`). For each
clip, every variant is timed `--repeats` times; each round runs the variants in a rotated order (round r starts with
variant r mod 6, clips in turn), so no variant always runs first, right after another or on a cold cache, and slow
periods of a shared machine hit all of them alike. Medians per clip and variant, wall and CPU (all threads of this
process); ratios per clip against the floor, and for the set (sum of the per-clip medians):

- **floor: bare scaled decode** (the denominator): plain PyAV (thread_type AUTO) decoding the same T frames the
  processor uses (the frame on screen at each `sample_frame_times` target), converted straight to the processor's
  resized frame size inside FFmpeg (the least any decoder of these frames must do; the processor without face crop
  decodes exactly so);
- bare full-size decode: the same frames converted to RGB at full size (the old denominator, kept for reference);
- the processor on the file path (decode, resample, log-mel, resize, normalise) without face crop, with face crop
  (`face_tracker="template"` and `face_decode_size="face"`, the defaults), with face crop on frames converted at
  full size (`face_decode_size="full"`, as before frames were converted at the face's resolution) and with face crop
  as before the tracker (`face_tracker="cascade"`: the detector on every frame).

**Faces** (every video in ../shared/data, every preset that crops faces, the frames each preset samples, decoded as
the processor decodes them): whether a face was found in every sampled frame, and how far each crop box (scaled
back to full-frame pixels) is from the crop box a full-resolution detection gives (the cascade on every frame of the
full-size frames, no tracking, no smoothing, largest face; same margin), as the largest coordinate difference over
the frame width.

Goals (issue 18): processor with face crop <= 1.3x the bare scaled decode on the RAVDESS 720p clips; a face in every
sampled frame of every real clip, per preset; crop boxes within 5% of the frame width of full-resolution detection.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch

from av_emotion.processing import PROCESSOR_PRESETS, AVEmotionProcessor, FaceCropper
from av_emotion.processing.media import probe_media, sample_frame_times, scaled_frame_size

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import cpu_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"
RESULTS_DIR = REPO / "benchmarks" / "results"
RESULTS_NAME = "processing"
FLOOR = "floor: bare scaled decode"
CROP_GOAL_RATIO = 1.3
BOX_GOAL_FRACTION = 0.05


def bare_pyav_frames(path: Path, times: np.ndarray, scaled: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Decode the frames on screen at `times` with plain PyAV, as RGB arrays.

    `scaled=(height, width)` converts straight to that size inside FFmpeg (area filter), as the processor does
    without face crop.
    """
    convert = {} if scaled is None else {"height": scaled[0], "width": scaled[1], "interpolation": "AREA"}
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(int(times[0] / stream.time_base), stream=stream)
        previous = None
        index = 0
        for frame in container.decode(stream):
            while index < len(times) and times[index] < frame.time - 1e-6:
                frames.append((previous or frame).to_ndarray(format="rgb24", **convert))
                index += 1
            if index == len(times):
                break
            previous = frame
        while index < len(times):
            frames.append(previous.to_ndarray(format="rgb24", **convert))
            index += 1
    return frames


def time_rotated(tasks: dict[str, dict[str, Callable[[], object]]], repeats: int) -> dict[str, dict[str, Any]]:
    """Median wall and CPU seconds of each `tasks[clip][variant]`, the variants' order rotated every round.

    CPU time (all threads of this process) is reported beside wall time because it depends less on what else runs
    on the machine; wall time includes waiting for cores other processes hold.
    """
    for variants in tasks.values():  # warm-up: imports, caches, cascade loading, file cache
        for task in variants.values():
            task()
    names = list(next(iter(tasks.values())))
    wall = {clip: {name: [] for name in names} for clip in tasks}
    cpu = {clip: {name: [] for name in names} for clip in tasks}
    for round_index in range(repeats):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for clip, variants in tasks.items():
            for name in order:
                start, start_cpu = time.perf_counter(), time.process_time()
                variants[name]()
                wall[clip][name].append(time.perf_counter() - start)
                cpu[clip][name].append(time.process_time() - start_cpu)
    return {
        clip: {
            name: {"wall_s": statistics.median(wall[clip][name]), "cpu_s": statistics.median(cpu[clip][name])}
            for name in names
        }
        for clip in tasks
    }


def speed(clips: list[Path], num_frames: int, size: int, repeats: int) -> dict[str, Any]:
    """Time the variants on each clip; medians and ratios to the bare scaled decode."""
    common = {"num_frames": num_frames, "clip_duration_s": None}
    square = {"height": size, "width": size}
    no_crop = AVEmotionProcessor.from_preset(
        "mocanu2023", do_face_crop=False, size={"shortest_edge": size}, do_center_crop=True, crop_size=square, **common
    )
    template = AVEmotionProcessor.from_preset("mocanu2023", size=square, face_tracker="template", **common)
    cascade = AVEmotionProcessor.from_preset("mocanu2023", size=square, face_tracker="cascade", **common)
    tasks: dict[str, dict[str, Callable[[], object]]] = {}
    info_by_clip = {}
    for clip in clips:
        info = probe_media(clip)
        info_by_clip[clip.name] = info
        times = sample_frame_times(num_frames, info.start_s, info.end_s)
        scaled = scaled_frame_size((info.height, info.width), no_crop.video_processor.decoding_frame_size())
        tasks[clip.name] = {
            FLOOR: lambda clip=clip, times=times, scaled=scaled: bare_pyav_frames(clip, times, scaled),
            "bare full-size decode": lambda clip=clip, times=times: bare_pyav_frames(clip, times),
            "processor, no face crop": lambda clip=clip: no_crop(paths=[clip]),
            "processor, face crop (template tracker)": lambda clip=clip: template(paths=[clip]),
            "processor, face crop, full-size frames": lambda clip=clip: template(paths=[clip], face_decode_size="full"),
            "processor, face crop (cascade every frame)": lambda clip=clip: cascade(paths=[clip]),
        }
    medians = time_rotated(tasks, repeats)
    names = list(next(iter(tasks.values())))
    totals = {name: {key: sum(medians[c][name][key] for c in medians) for key in ("wall_s", "cpu_s")} for name in names}
    ratios = {
        name: {
            key: {
                "set": totals[name][key] / totals[FLOOR][key],
                "per_clip_max": max(medians[c][name][key] / medians[c][FLOOR][key] for c in medians),
                "per_clip_min": min(medians[c][name][key] / medians[c][FLOOR][key] for c in medians),
            }
            for key in ("wall_s", "cpu_s")
        }
        for name in names
    }
    first = info_by_clip[clips[0].name]
    return {
        "clips": {
            name: {
                "size": f"{info.width}x{info.height}",
                "fps": round(info.fps, 3),
                "duration_s": round(info.duration_s, 3),
                "codecs": f"{info.video_codec}/{info.audio_codec}",
            }
            for name, info in info_by_clip.items()
        },
        "settings": {
            "num_frames": num_frames,
            "frame_size": size,
            "repeats": repeats,
            "preset": "mocanu2023 (num_frames and size overridden; whole clip)",
            "log_mel": f"{no_crop.feature_extractor.n_mels} bands at {no_crop.sampling_rate} Hz",
        },
        "floor_size": list(
            scaled_frame_size((first.height, first.width), no_crop.video_processor.decoding_frame_size())
        ),
        "medians": medians,
        "totals": totals,
        "ratios_to_floor": ratios,
    }


def full_resolution_crop_boxes(cropper: FaceCropper, frames: np.ndarray) -> list[np.ndarray | None]:
    """The reference: the cascade on every frame at full resolution, no tracking or smoothing, largest face."""
    reference = FaceCropper(detection_width=None, smoothing=0.0, tracker="cascade")
    height, width = frames.shape[1:3]
    boxes: list[np.ndarray | None] = []
    for frame in frames:
        faces = reference.detect(frame)
        if len(faces):
            boxes.append(cropper.crop_box(faces[int(np.argmax(faces[:, 2] - faces[:, 0]))], height, width))
        else:
            boxes.append(None)
    return boxes


def faces(videos: list[Path]) -> dict[str, Any]:
    """Per preset that crops faces, per real video: frames with a face, and crop-box distance to full resolution.

    The crops are the processor's own: frames decoded as it decodes them (at the size that keeps the face crop's
    resolution, `face_decode_size="face"`), their boxes scaled back to full-frame pixels; the reference detects on
    the same frames decoded at full size.
    """
    presets = [name for name, preset in PROCESSOR_PRESETS.items() if preset["video_processor"].get("do_face_crop")]
    table: dict[str, dict[str, Any]] = {}
    for preset in presets:
        processor = AVEmotionProcessor.from_preset(preset)
        cropper = processor.video_processor.face_cropper()
        table[preset] = {}
        for video in videos:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # RAVDESS 02-*: a silent audio track, not used here
                frames = processor.load_clip(video, modalities=("video",)).frames
                full = processor.load_clip(video, modalities=("video",), face_decode_size="full").frames
            result = cropper(frames)
            height, width = full.shape[1:3]
            to_full = np.array([width / frames.shape[2], height / frames.shape[1]] * 2)
            reference = full_resolution_crop_boxes(cropper, full)
            deviations = [
                float(np.abs(result.boxes[t] * to_full - box).max() / width)
                for t, box in enumerate(reference)
                if box is not None
            ]
            table[preset][video.name] = {
                "frames": len(frames),
                "decoded_size": f"{frames.shape[2]}x{frames.shape[1]}",
                "full_size": f"{width}x{height}",
                "frames_with_face": int(result.detected.sum()),
                "frames_tracked": int(result.tracked.sum()),
                "reference_frames_with_face": sum(box is not None for box in reference),
                "max_box_deviation_of_width": max(deviations) if deviations else None,
                "mean_box_deviation_of_width": float(np.mean(deviations)) if deviations else None,
            }
    return table


def environment(load_start: tuple[float, ...]) -> dict[str, Any]:
    """Where and how the numbers were measured."""
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": torch.get_num_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "pyav_thread_type": "AUTO (FFmpeg's own threads: the bare decode and the processor alike)",
        "load_average_1_5_15_min_at_start": [round(x, 2) for x in load_start],
        "load_average_1_5_15_min_at_end": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "pyav": av.__version__,
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }


def speed_table(title: str, fast: dict[str, Any]) -> list[str]:
    """Markdown lines of one group of timed clips."""
    settings = fast["settings"]
    floor_h, floor_w = fast["floor_size"]
    lines = [
        f"## Speed: {title}: {len(fast['clips'])} clips "
        f"({', '.join(sorted({c['size'] for c in fast['clips'].values()}))}), T = {settings['num_frames']} frames "
        f"-> {settings['frame_size']}x{settings['frame_size']}, log-mel {settings['log_mel']}",
        "",
        f"Medians of {settings['repeats']} runs per clip and variant, the variants' order rotated every round. Ratios "
        f"to the **bare scaled decode** (the same frames converted straight to {floor_w}x{floor_h} in FFmpeg): for "
        "the set (sum of the per-clip medians) and the range over clips. Wall time waits for cores other jobs hold; "
        "CPU time (this process, all threads) depends less on them.",
        "",
        "| variant | wall ms / clip | wall ratio (set; clips) | CPU ms / clip | CPU ratio (set; clips) |",
        "|---|---|---|---|---|",
    ]
    count = len(fast["clips"])
    for name, total in fast["totals"].items():
        wall, cpu = fast["ratios_to_floor"][name]["wall_s"], fast["ratios_to_floor"][name]["cpu_s"]
        lines.append(
            f"| {name} | {1000 * total['wall_s'] / count:.1f} | {wall['set']:.2f}x "
            f"({wall['per_clip_min']:.2f}-{wall['per_clip_max']:.2f}) | {1000 * total['cpu_s'] / count:.1f} | "
            f"{cpu['set']:.2f}x ({cpu['per_clip_min']:.2f}-{cpu['per_clip_max']:.2f}) |"
        )
    return [*lines, ""]


def markdown(payload: dict[str, Any]) -> str:
    """The results page."""
    env, face_table = payload["environment"], payload["faces"]
    lines = [
        "# Processing speed and face crops",
        "",
        f"Command: `{payload['command']}`. Machine: {env['cpu_model']}, {env['cpu_count']} cores, "
        f"OMP_NUM_THREADS={env['omp_num_threads']}, torch threads {env['torch_threads']}, OpenCV threads "
        f"{env['opencv_threads']}, PyAV thread_type AUTO; load average (1/5/15 min) "
        f"{env['load_average_1_5_15_min_at_start']} at start, {env['load_average_1_5_15_min_at_end']} at end; "
        f"{env['date_utc']} UTC. torch {env['torch']}, OpenCV {env['opencv']}, PyAV {env['pyav']}. "
        "Processor: preset `mocanu2023` with T and the frame size overridden, the whole clip; face crop with the "
        "default face settings.",
        "",
    ]
    for title, fast in payload["speed"].items():
        lines += speed_table(title, fast)
    lines += [
        "## Faces: every video in ../shared/data, every preset that crops, the frames each preset samples",
        "",
        "Frames with a face (detected, or followed by the template tracker; in brackets: by the tracker) out of the "
        "frames sampled, and the largest distance of a crop box from the full-resolution detection's crop box "
        "(largest coordinate difference / frame width; mean over frames in brackets).",
        "",
        "| preset | " + " | ".join(next(iter(face_table.values()))) + " |",
        "|---|" + "---|" * len(next(iter(face_table.values()))),
    ]
    for preset, videos in face_table.items():
        cells = []
        for entry in videos.values():
            deviation = entry["max_box_deviation_of_width"]
            shown = (
                "n/a"
                if deviation is None
                else f"{100 * deviation:.1f}% ({100 * entry['mean_box_deviation_of_width']:.1f}%)"
            )
            cells.append(f"{entry['frames_with_face']}/{entry['frames']} ({entry['frames_tracked']}), {shown}")
        lines.append(f"| {preset} | " + " | ".join(cells) + " |")
    lines += ["", "## Goals (issue 18)", ""]
    for goal, verdict in payload["goals"].items():
        lines.append(f"- {goal}: **{'met' if verdict['met'] else 'missed'}** ({verdict['measured']})")
    return "\n".join(lines) + "\n"


def goals(fast: dict[str, Any], face_table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal of issue 18 with what was measured."""
    crop = fast["ratios_to_floor"]["processor, face crop (template tracker)"]
    entries = [entry for videos in face_table.values() for entry in videos.values()]
    missing = [
        f"{preset}/{video}"
        for preset, videos in face_table.items()
        for video, entry in videos.items()
        if entry["frames_with_face"] < entry["frames"]
    ]
    worst = max(entry["max_box_deviation_of_width"] or 0.0 for entry in entries)
    return {
        f"processor with face crop <= {CROP_GOAL_RATIO}x the bare scaled decode (set, CPU and wall)": {
            "met": crop["cpu_s"]["set"] <= CROP_GOAL_RATIO and crop["wall_s"]["set"] <= CROP_GOAL_RATIO,
            "measured": f"{crop['wall_s']['set']:.2f}x wall, {crop['cpu_s']['set']:.2f}x CPU; per clip up to "
            f"{crop['wall_s']['per_clip_max']:.2f}x wall, {crop['cpu_s']['per_clip_max']:.2f}x CPU",
        },
        "a face in every sampled frame of every real clip, per preset that crops": {
            "met": not missing,
            "measured": f"{len(entries) - len(missing)} of {len(entries)} preset x clip pairs"
            + (f"; short: {', '.join(missing)}" if missing else ""),
        },
        f"crop boxes within {100 * BOX_GOAL_FRACTION:.0f}% of the frame width of full-resolution detection": {
            "met": worst <= BOX_GOAL_FRACTION,
            "measured": f"largest deviation {100 * worst:.1f}% of the frame width",
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, nargs="*", help="clips to time (default: ravdess/01-*.mp4)")
    parser.add_argument(
        "--other-clips", type=Path, nargs="*", help="a second group, reported apart (default: crema-d/*.flv)"
    )
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112, help="output frame / face crop side, pixels")
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="folder of real media (../shared/data)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    data = args.data.resolve()
    clips = [clip.resolve() for clip in args.clips] if args.clips else sorted(data.glob("ravdess/01-*.mp4"))
    videos = sorted([*data.rglob("*.mp4"), *data.rglob("*.flv")])
    if not clips or not videos:
        print(f"no clips under {data}: pass --data or --clips (the real samples live in ../shared/data)")
        return 1
    load_start = os.getloadavg()
    others = [clip.resolve() for clip in args.other_clips] if args.other_clips else sorted(data.glob("crema-d/*.flv"))
    timed = {"RAVDESS 720p (the goal's set)": speed(clips, args.num_frames, args.size, args.repeats)}
    if others:
        timed["CREMA-D (smaller frames: the fixed costs weigh more)"] = speed(
            others, args.num_frames, args.size, args.repeats
        )
    face_table = faces(videos)
    threads = os.environ.get("OMP_NUM_THREADS")
    prefix = (f"OMP_NUM_THREADS={threads} " if threads else "") + "PYTHONPATH=src python benchmarks/processing.py"
    command = " ".join([prefix, *(sys.argv[1:] if argv is None else argv)])
    payload = {
        "command": command,
        "environment": environment(load_start),
        "speed": timed,
        "faces": face_table,
        "goals": goals(next(iter(timed.values())), face_table),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"{RESULTS_NAME}.json").write_text(json.dumps(payload, indent=2) + "\n")
    text = markdown(payload)
    (args.results_dir / f"{RESULTS_NAME}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
