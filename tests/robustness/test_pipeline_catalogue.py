"""Every catalogue case through `pipeline("audio-video-emotion")` with a tiny saved checkpoint (path and bytes).

An error case must raise the `MediaError` of decoding; a result case must give a probability over the checkpoint's
labels (finite, sorted, summing to 1), the same for the file's path and its bytes, and a timeline covering the
file when asked for windows. The pipeline has no `limits` parameter (it decodes with the default `MediaLimits`), so
cases that need other limits are skipped here; decoding and the processor cover them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests.pipelines.tiny_checkpoint import LABELS
from tests.robustness.catalogue import CASES, Case
from tests.robustness.checks import assert_media_error
from tests.robustness.stages import window_of


def params(cases: list[Case]) -> list[Any]:
    out = []
    for case in cases:
        marks = [pytest.mark.slow] if case.slow else []
        if case.limits is not None:
            marks.append(pytest.mark.skip(reason="the pipeline decodes with the default MediaLimits"))
        out.append(pytest.param(case, id=case.name, marks=marks))
    return out


def assert_distribution(labels: Any, what: str) -> None:
    assert isinstance(labels, list) and sorted(item["label"] for item in labels) == sorted(LABELS), what
    scores = [item["score"] for item in labels]
    assert all(math.isfinite(score) and 0.0 <= score <= 1.0 for score in scores), f"{what}: {scores}"
    assert scores == sorted(scores, reverse=True), f"{what}: not sorted"
    assert sum(scores) == pytest.approx(1.0, abs=1e-5), what


@pytest.mark.parametrize("case", params(CASES))
def test_pipeline(case: Case, case_file, case_outcomes):
    path = case_file(case)
    outcomes = case_outcomes(case)
    results = outcomes["pipeline"]
    if case.tail is not None:
        # A lost tail: the pipeline predicts from what remains exactly when decoding does, else the same refusal.
        for kind in ("path", "bytes"):
            if outcomes["media"]["decode"].error is not None:
                assert_media_error(results[kind], path if kind == "path" else outcomes["data"], case.error, kind)
            else:
                assert results[kind].error is None, f"pipeline({kind}) raised {results[kind].error!r}"
                assert_distribution(results[kind].value, f"pipeline({kind})")
        return
    if case.error:
        assert_media_error(results["path"], path, case.error, "pipeline(path)")
        if "bytes" in results:
            assert_media_error(results["bytes"], outcomes["data"], case.error, "pipeline(bytes)")
        return
    for kind in ("path", "bytes"):
        assert results[kind].error is None, f"pipeline({kind}) raised {results[kind].error!r}"
        assert_distribution(results[kind].value, f"pipeline({kind})")
    assert results["bytes"].value == results["path"].value
    timeline = results["timeline"]
    assert timeline.error is None, f"pipeline(window_s=...) raised {timeline.error!r}"
    entries = timeline.value["timeline"]
    assert entries, "empty timeline"
    duration = case.expected.duration_s
    assert entries[-1]["end"] - entries[0]["start"] == pytest.approx(duration, abs=case.expected.duration_tolerance_s)
    for entry in entries:
        assert entry["end"] - entry["start"] == pytest.approx(window_of(case)[0], abs=1e-6)
        assert_distribution(entry["labels"], f"window at {entry['start']:.2f} s")
    assert_distribution(timeline.value["aggregate"], "aggregate")
