"""Processing speed: the processor's time per clip against bare PyAV decoding of the same frames (the floor).

    PYTHONPATH=src python benchmarks/processing.py [--clip PATH] [--repeats 15] [--num-frames 16]

For one real clip (default: a RAVDESS full-AV clip from ../shared/data) it times, interleaved and repeated, taking
medians:

- floor, video: open the file with PyAV (thread_type AUTO) and decode the same T frames the processor uses (the
  frame on screen at each `sample_frame_times` target), converting each to an RGB array at full size;
- floor, video + audio: the same plus decoding the audio track (no resampling, no features);
- floor, video scaled: the same frames converted straight to the processor's resized size inside FFmpeg (the
  least any decoder of these frames must do; the processor without face crop does exactly this, then crops);
- the processor on the file path (decode, resample, log-mel, resize, normalise), without and with face crop.

and prints the ratios processor / floor, all measured in this one run. Goal (issue 2): at most 1.3x without face
crop, against the video floor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from av_emotion.processing import AVEmotionProcessor
from av_emotion.processing.media import probe_media, sample_frame_times, scaled_frame_size

DEFAULT_CLIP = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "ravdess" / "01-01-03-01-01-02-05.mp4"


def bare_pyav_frames(
    path: Path, times: np.ndarray, with_audio: bool, scaled: tuple[int, int] | None = None
) -> list[np.ndarray]:
    """Decode the frames on screen at `times` (and optionally the whole audio track) with plain PyAV.

    `scaled=(height, width)` converts straight to that size inside FFmpeg, as the processor does without face crop.
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
        if with_audio:
            container.seek(0, stream=container.streams.audio[0])
            for _ in container.decode(container.streams.audio[0]):
                pass
    return frames


def time_interleaved(tasks: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each task, run round-robin so load changes hit all of them alike.

    CPU time (all threads of this process) is reported beside wall time because it hardly depends on what else
    runs on the machine; wall time includes waiting for cores other processes hold.
    """
    for task in tasks.values():  # warm-up: imports, caches, cascade loading
        task()
    wall: dict[str, list[float]] = {name: [] for name in tasks}
    cpu: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(repeats):
        for name, task in tasks.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            task()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112, help="output frame / face crop side, pixels")
    args = parser.parse_args()
    clip = args.clip.resolve()
    info = probe_media(clip)
    times = sample_frame_times(args.num_frames, info.start_s, info.end_s)

    common = {"num_frames": args.num_frames, "clip_duration_s": None}
    no_crop = AVEmotionProcessor.from_preset(
        "mocanu2023",
        do_face_crop=False,
        size={"shortest_edge": args.size},
        do_center_crop=True,
        crop_size={"height": args.size, "width": args.size},
        **common,
    )
    with_crop = AVEmotionProcessor.from_preset("mocanu2023", size={"height": args.size, "width": args.size}, **common)
    scaled = scaled_frame_size((info.height, info.width), no_crop.video_processor.decoding_frame_size())
    tasks = {
        "floor: PyAV video": lambda: bare_pyav_frames(clip, times, with_audio=False),
        "floor: PyAV video scaled": lambda: bare_pyav_frames(clip, times, with_audio=False, scaled=scaled),
        "floor: PyAV video + audio": lambda: bare_pyav_frames(clip, times, with_audio=True),
        "processor, no face crop": lambda: no_crop(paths=[clip]),
        "processor, face crop": lambda: with_crop(paths=[clip]),
    }
    medians = time_interleaved(tasks, args.repeats)

    floor_wall, floor_cpu = medians["floor: PyAV video"]
    print(
        f"clip: {clip.name} ({info.width}x{info.height}, {info.fps:.2f} fps, {info.duration_s:.2f} s, "
        f"{info.video_codec}/{info.audio_codec}); T={args.num_frames} frames -> {args.size}x{args.size}, "
        f"log-mel {no_crop.feature_extractor.n_mels} at {no_crop.sampling_rate} Hz; medians of {args.repeats} runs"
    )
    print(f"{'':28s} {'wall ms':>8s} {'ratio':>7s} {'cpu ms':>8s} {'ratio':>7s}   (ratios: / floor: PyAV video)")
    for name, (wall, cpu) in medians.items():
        print(f"{name:28s} {wall * 1000:8.1f} {wall / floor_wall:6.2f}x {cpu * 1000:8.1f} {cpu / floor_cpu:6.2f}x")
    wall, cpu = medians["processor, no face crop"]
    verdict = "meets" if wall / floor_wall <= 1.3 else "misses"
    print(
        f"processor without face crop / bare PyAV decode of the same frames: {wall / floor_wall:.2f}x wall, "
        f"{cpu / floor_cpu:.2f}x CPU ({verdict} the 1.3x goal)"
    )


if __name__ == "__main__":
    main()
