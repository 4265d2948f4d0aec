"""What each stage does with a catalogue file, run for one case in one forked, time-bounded child process.

`run_case` calls every stage (media decoding, the processor presets, the pipeline) on the case's file and returns
what each call gave (`Outcome`: a value or the exception raised). One child per case, not per stage: forking a
process that holds torch and a model costs tens of milliseconds of CPU, and the suite forks once per case. The
test modules (`test_*_catalogue.py`) only assert on these outcomes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from av_emotion.processing.media import decode_clip, iter_windows, probe_media
from tests.robustness.catalogue import Case
from tests.robustness.checks import Outcome, attempt, audio_timestamp_step_s, decode_flags

# Media stage: frames per clip and audio rate; frames per window of `iter_windows`.
NUM_FRAMES = 5
WINDOW_FRAMES = 2
RATE = 16000


def window_of(case: Case) -> tuple[float, float]:
    """Window and stride (seconds) for the windowed stages: about three windows over the file."""
    duration = case.expected.duration_s if case.expected is not None else 2.0
    return duration / 2.5, duration / 3


def windows_until_error(source: Any, window_s: float, stride_s: float, **flags: Any) -> tuple[list, Outcome]:
    """Every window `iter_windows` yields before it stops, and how it stopped (an error, or the end)."""
    clips = []
    try:
        for clip in iter_windows(source, window_s, stride_s, num_frames=WINDOW_FRAMES, sampling_rate=RATE, **flags):
            clips.append(clip)
    except Exception as error:  # noqa: BLE001 - the test decides which exceptions are acceptable
        return clips, Outcome(error=error)
    return clips, Outcome()


def media_stage(path: Path, case: Case, data: bytes | None) -> dict[str, Any]:
    flags = decode_flags(case)
    window_s, stride_s = window_of(case)
    return {
        "probe": attempt(probe_media, path, limits=case.limits),
        "decode": attempt(decode_clip, path, NUM_FRAMES, RATE, **flags),
        "decode_bytes": None if data is None else attempt(decode_clip, data, NUM_FRAMES, RATE, **flags),
        "windows": windows_until_error(path, window_s=window_s, stride_s=stride_s, **flags),
        "timestamp_step_s": audio_timestamp_step_s(path),
    }


def processor_stage(path: Path, case: Case, processors: dict[str, Any]) -> dict[str, Outcome]:
    flags = decode_flags(case)
    flags.pop("frame_size")  # the processor decodes at its own size
    return {
        name: attempt(lambda p=processor: {key: value.numpy() for key, value in p(paths=[path], **flags).items()})
        for name, processor in processors.items()
    }


def pipeline_stage(path: Path, case: Case, classifier: Any, data: bytes | None) -> dict[str, Any]:
    flags = decode_flags(case)
    flags = {key: flags[key] for key in ("allow_missing_audio", "allow_missing_video")}
    results = {"path": attempt(classifier, str(path), **flags)}
    if data is not None:
        results["bytes"] = attempt(classifier, data, **flags)
    if case.expected is not None:
        window_s, stride_s = window_of(case)
        results["timeline"] = attempt(classifier, str(path), window_s=window_s, stride_s=stride_s, **flags)
    return results


def run_case(path: Path, case: Case, processors: dict[str, Any], classifier: Any) -> dict[str, Any]:
    """Every stage on one case's file (in the child process)."""
    data = path.read_bytes() if path.is_file() else None
    return {
        "data": data,
        "media": media_stage(path, case, data),
        "processor": processor_stage(path, case, processors),
        # The pipeline decodes with the default MediaLimits: cases that need others do not go through it.
        "pipeline": pipeline_stage(path, case, classifier, data) if case.limits is None else None,
    }
