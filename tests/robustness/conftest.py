"""Fixtures of the robustness suite: the catalogue's files, and every stage's outcome on each, computed once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from transformers import pipeline

from av_emotion.processing import AVEmotionProcessor
from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint
from tests.robustness.bounded import bounded
from tests.robustness.catalogue import Case
from tests.robustness.stages import run_case

# Processor presets the catalogue goes through: whole clip without face crop, and a 3-s window with face crop.
PRESETS = ("synthetic", "cpu_small")


@pytest.fixture(scope="session")
def case_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Case], Path]:
    """Return the path of a case's file, writing it the first time it is asked for (cases may share a file)."""
    folder = tmp_path_factory.mktemp("catalogue")
    made: dict[str, Path] = {}

    def get(case: Case) -> Path:
        if case.file not in made:
            path = folder / case.file
            case.make(path)
            made[case.file] = path
        return made[case.file]

    return get


@pytest.fixture(scope="session")
def processors() -> dict[str, AVEmotionProcessor]:
    return {name: AVEmotionProcessor.from_preset(name) for name in PRESETS}


@pytest.fixture(scope="session")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`pipeline("audio-video-emotion")` over a tiny saved checkpoint (AVT-CA, "cpu_small"-style processor)."""
    checkpoint = save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_checkpoint"))
    return pipeline("audio-video-emotion", model=str(checkpoint), device="cpu")


@pytest.fixture(scope="session")
def case_outcomes(case_file, processors, classifier) -> Callable[[Case], dict[str, Any]]:
    """Return every stage's outcome on a case (`stages.run_case`), from one time-bounded child per case."""
    done: dict[str, dict[str, Any] | BaseException] = {}

    def get(case: Case) -> dict[str, Any]:
        if case.name not in done:
            try:
                done[case.name] = bounded(run_case, case_file(case), case, processors, classifier)
            except BaseException as failure:  # a hang or a crash fails every stage's test, without re-running
                done[case.name] = failure
        outcome = done[case.name]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return get
