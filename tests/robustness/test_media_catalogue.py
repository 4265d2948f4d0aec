"""Every catalogue case through media decoding: `probe_media`, `decode_clip` (path and bytes) and `iter_windows`.

Each case runs in a forked child with a time bound (`conftest.case_outcomes`): a crash or a hang fails that case
only. A case expecting an error must raise `MediaError` naming the file and the problem in every entry point; a
case expecting a result must decode to exactly what was written (see `checks.assert_clip`).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.robustness.catalogue import CASES, Case
from tests.robustness.checks import assert_clip, assert_media_error, assert_tail_clip, assert_tail_outcome
from tests.robustness.stages import NUM_FRAMES, RATE, WINDOW_FRAMES, window_of


def params(cases: list[Case]) -> list[Any]:
    return [pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.slow else []) for case in cases]


@pytest.mark.parametrize("case", params(CASES))
def test_media_decoding(case: Case, case_file, case_outcomes):
    path = case_file(case)
    outcomes = case_outcomes(case)
    stages = outcomes["media"]
    probe, decode, decode_bytes = stages["probe"], stages["decode"], stages["decode_bytes"]
    windows, windows_end = stages["windows"]
    if case.tail is not None:
        # A lost tail: each range is used as far as it goes or refused (MIN_REMAINING_FRACTION), windows alike.
        step = stages["timestamp_step_s"]
        assert_tail_outcome(decode, case.tail, case.error, NUM_FRAMES, RATE, path, "decode_clip", step)
        if decode_bytes is not None:
            data = outcomes["data"]
            assert_tail_outcome(decode_bytes, case.tail, case.error, NUM_FRAMES, RATE, data, "decode_clip(bytes)")
            assert (decode_bytes.error is None) == (decode.error is None)
        for index, window in enumerate(windows):
            assert_tail_clip(window, case.tail, WINDOW_FRAMES, RATE, path, f"window {index}", step)
        if windows_end.error is not None:
            assert not windows, "iter_windows raised after yielding windows (it must stop at a lost tail)"
            assert_media_error(windows_end, path, case.error, "iter_windows")
        return
    if case.error:
        assert_media_error(decode, path, case.error, "decode_clip")
        if decode_bytes is not None:
            assert_media_error(decode_bytes, outcomes["data"], case.error, "decode_clip(bytes)")
        # The windows before a problem may decode; the iteration must still end in a MediaError naming the file.
        assert_media_error(windows_end, path, (), "iter_windows")
        if probe.error is not None:
            assert_media_error(probe, path, (), "probe_media")
        return
    expected = case.expected
    assert probe.error is None, f"probe_media raised {probe.error!r}"
    info = probe.value
    assert info.has_video == expected.has_video and info.has_audio == expected.has_audio
    assert info.duration_s == pytest.approx(expected.duration_s, abs=expected.duration_tolerance_s)
    if expected.has_video:
        assert (info.height, info.width) == expected.size
    assert decode.error is None, f"decode_clip raised {decode.error!r}"
    clip = decode.value
    assert clip.start_s == pytest.approx(info.start_s) and clip.end_s == pytest.approx(info.end_s)
    step, size = stages["timestamp_step_s"], case.frame_size
    assert_clip(clip, expected, NUM_FRAMES, RATE, path, "decode_clip", step, size)
    # Bytes in memory (what the pipeline gets from an upload) decode to the same arrays.
    assert decode_bytes.error is None, f"decode_clip(bytes) raised {decode_bytes.error!r}"
    from_bytes = decode_bytes.value
    assert_clip(from_bytes, expected, NUM_FRAMES, RATE, outcomes["data"], "decode_clip(bytes)", step, size)
    if expected.has_video:
        assert (from_bytes.frames == clip.frames).all()
    if expected.has_audio:
        assert (from_bytes.audio == clip.audio).all()
    # Windows: equal length, covering the file from its start to its end, each decoded like a clip.
    assert windows_end.error is None, f"iter_windows raised {windows_end.error!r}"
    assert windows, "iter_windows yielded nothing"
    assert windows[0].start_s == pytest.approx(info.start_s) and windows[-1].end_s == pytest.approx(info.end_s)
    lengths = {round(w.duration_s, 6) for w in windows}
    assert len(lengths) == 1 and lengths.pop() == pytest.approx(min(info.duration_s, window_of(case)[0]), abs=1e-6)
    for index, window in enumerate(windows):
        assert_clip(window, expected, WINDOW_FRAMES, RATE, path, f"window {index}", step, size)
