"""The catalogue as a RAVDESS folder: `build_ravdess` and the recipes' collator on every file at once.

Each case's file is copied under a valid RAVDESS name (the builder trusts names, not suffixes; FFmpeg reads the
content). The contract checked here:

- a file with both streams that decodes (a result case) is kept, with the label and speaker of its name;
- a file lacking a stream is skipped, and the report says which stream;
- a file whose tail is lost is used for what remains, or left out naming the truncation;
- a broken file (an error case) is either skipped with a reason, or kept (the builder's check only opens the file
  and decodes a first frame) and then left out of its batch by `AVEmotionCollator`, which logs the `MediaError`
  naming the file and the problem. Nothing crashes, hangs, or reaches the model as silent zeros.

Cases decoded with non-default limits are left out: the builders and the collator use the default `MediaLimits`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from av_emotion.data.collate import AVEmotionCollator
from av_emotion.data.ravdess import build_ravdess
from av_emotion.processing import AVEmotionProcessor
from tests.robustness.bounded import bounded
from tests.robustness.catalogue import CASES, Case

# Emotions 02-08 (neutral, 01, has no strong intensity), intensities, statements and repetitions: 56 names per actor.
NAMES_PER_ACTOR = 7 * 2 * 2 * 2


def ravdess_name(index: int) -> tuple[str, int, int]:
    """A distinct full-AV speech RAVDESS name for the `index`-th file, with its emotion (1-8) and actor."""
    actor, rest = divmod(index, NAMES_PER_ACTOR)
    emotion, rest = 2 + rest % 7, rest // 7
    intensity, statement, repetition = 1 + rest % 2, 1 + (rest // 2) % 2, 1 + (rest // 4) % 2
    return (
        f"01-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor + 1:02d}.mp4",
        emotion,
        actor + 1,
    )


def included(case: Case) -> bool:
    return case.limits is None and case.name not in ("missing_file", "directory")


def build_and_collate(root: Path) -> dict[str, Any]:
    """In the child: build the corpus, then collate every kept row in one batch (broken clips are left out)."""
    dataset, report = build_ravdess(root, num_workers=1)
    collator = AVEmotionCollator(processor=AVEmotionProcessor.from_preset("synthetic"))
    rows = [dict(row) for row in dataset]
    batch = collator(rows)
    return {
        "rows": rows,
        "skipped": {item.path: item.reason for item in report.skipped},
        "batch": {key: tuple(value.shape) for key, value in batch.items()},
        "labels": batch["labels"].tolist(),
        "collator_skipped": dict(collator.skipped),
    }


def test_ravdess_builder_and_collator_on_the_catalogue(case_file, tmp_path):
    cases = [case for case in CASES if included(case) and not case.slow]
    root = tmp_path / "RAVDESS"
    root.mkdir()
    files: dict[str, tuple[Case, int, int]] = {}
    for index, case in enumerate(cases):
        name, emotion, actor = ravdess_name(index)
        shutil.copyfile(case_file(case), root / name)
        files[str(root / name)] = (case, emotion, actor)
    result = bounded(build_and_collate, root, timeout_s=300)

    kept = {row["video"]: row for row in result["rows"]}
    assert set(kept) | set(result["skipped"]) == set(files), "every file is kept or reported"
    assert not set(kept) & set(result["skipped"])
    usable = []
    for path, (case, emotion, actor) in files.items():
        expected = case.expected
        if expected is not None and expected.has_video and expected.has_audio:
            assert path in kept, f"{case.name}: a good file was skipped: {result['skipped'].get(path)}"
            assert kept[path]["label"] == emotion - 1 and kept[path]["speaker"] == actor
            assert path not in result["collator_skipped"], f"{case.name}: {result['collator_skipped'].get(path)}"
            usable.append(path)
        elif case.tail is not None:
            # A lost tail: used for what remains (so in the batch), or left out naming the truncation.
            if path in kept and path not in result["collator_skipped"]:
                usable.append(path)
            elif path in kept:
                message = result["collator_skipped"][path]
                assert message.startswith(path) and "truncated" in message, message
            else:
                assert result["skipped"][path], f"{case.name}: skipped without a reason"
        elif expected is not None:
            missing = "audio" if not expected.has_audio else "video"
            assert f"no {missing} stream" in result["skipped"].get(path, ""), f"{case.name}: {result['skipped']}"
        elif path in kept:
            # Passed the builder's open-and-peek check: the collator must leave it out, naming file and problem.
            message = result["collator_skipped"].get(path)
            assert message is not None, f"{case.name}: a broken file reached the batch"
            assert message.startswith(path) and all(fragment in message for fragment in case.error), message
        else:
            assert result["skipped"][path], f"{case.name}: skipped without a reason"
    # The batch holds exactly the usable clips, in dataset order, with their labels.
    order = [row["video"] for row in result["rows"] if row["video"] not in result["collator_skipped"]]
    assert sorted(order) == sorted(usable)
    assert result["labels"] == [kept[path]["label"] for path in order]
    assert result["batch"]["pixel_values_videos"][:2] == (len(usable), 8)


@pytest.mark.parametrize("index", [0, 55, 56, 200])
def test_ravdess_names_are_distinct_and_valid(index):
    from av_emotion.data.ravdess import parse_ravdess_name

    name, emotion, actor = ravdess_name(index)
    parsed = parse_ravdess_name(name)
    assert (parsed.emotion, parsed.actor, parsed.modality) == (emotion, actor, 1)
    assert len({ravdess_name(i)[0] for i in range(4 * NAMES_PER_ACTOR)}) == 4 * NAMES_PER_ACTOR
