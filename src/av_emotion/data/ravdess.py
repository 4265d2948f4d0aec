"""RAVDESS (Livingstone & Russo 2018) from its local folder, into a `datasets.Dataset`.

File names are seven two-digit fields `MM-VC-EE-II-SS-RR-AA.ext`:

- MM modality: 01 full audio-video, 02 video only, 03 audio only
- VC vocal channel: 01 speech, 02 song
- EE emotion: 01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised
- II intensity: 01 normal, 02 strong (neutral has no strong intensity)
- SS statement: 01 "Kids are talking by the door", 02 "Dogs are sitting by the door"
- RR repetition: 01, 02
- AA actor: 01..24, odd male, even female

Audio-video models use the full-AV speech clips (`01-01-*.mp4`, 1440 files: 60 per actor), the default
selection. The audio-only speech release (`Audio_Speech_Actors_01-24.zip`: `Actor_NN/03-01-*.wav`, 1440 files)
is read with `modality="audio_only"` (or `"all"`, mixed with full-AV clips), from `.wav` as unzipped or from
lossless `.flac` copies: such a clip has `video` None and its file in `audio`, so the processor gives it an
all-False video mask and `has_video=False` (the models' missing-video path). The actor is the speaker for
speaker-independent splits (`av_emotion.data.folds`).

The synthetic corpus (`av_emotion.data.synthetic`) writes RAVDESS-named clips, so `build_synthetic_corpus`
reads it with the same parser (its actors may number more than 24).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import datasets

from av_emotion.data.corpus import (
    BuildReport,
    CorpusBuild,
    OnError,
    SkippedFile,
    check_media_files,
    check_root,
    find_files,
    records_to_dataset,
)
from av_emotion.data.labels import RAVDESS_LABELS

RAVDESS_ACTORS: tuple[int, ...] = tuple(range(1, 25))

_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2,})$")
_MODALITIES = {1: "full_av", 2: "video_only", 3: "audio_only"}
_CHANNELS = {1: "speech", 2: "song"}
# File types of each selectable modality: the official release ships `.mp4` (audio-video) and `.wav` (audio
# only); `.flac` is the lossless form users often convert the `.wav` files to.
_SUFFIXES = {1: (".mp4",), 3: (".wav", ".flac")}
# `modality=` argument -> RAVDESS modality codes it selects. Video-only (02) clips are never selected: every
# model here needs at least the audio, and their tracks are silent.
ModalitySelection = Literal["full_av", "audio_only", "all"]
_SELECTIONS: dict[str, tuple[int, ...]] = {"full_av": (1,), "audio_only": (3,), "all": (1, 3)}


@dataclass(frozen=True)
class RavdessName:
    """The fields of one RAVDESS file name (see the module docstring)."""

    modality: int
    vocal_channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def label(self) -> str:
        """Emotion name (`RAVDESS_LABELS[emotion - 1]`)."""
        return RAVDESS_LABELS[self.emotion - 1]

    @property
    def gender(self) -> str:
        """`"male"` for odd actors, `"female"` for even ones (RAVDESS convention)."""
        return "male" if self.actor % 2 else "female"


def parse_ravdess_name(name: str | Path) -> RavdessName:
    """Parse a RAVDESS file name (with or without folder and extension).

    Raises `ValueError` naming the file when a field is missing or out of range.
    """
    stem = Path(name).stem
    match = _NAME.match(stem)
    if match is None:
        raise ValueError(f"{name}: not a RAVDESS name; expected MM-VC-EE-II-SS-RR-AA, e.g. 01-01-03-01-01-02-05.mp4")
    fields = RavdessName(*(int(group) for group in match.groups()))
    checks = {
        "modality": fields.modality in _MODALITIES,
        "vocal channel": fields.vocal_channel in _CHANNELS,
        "emotion": 1 <= fields.emotion <= len(RAVDESS_LABELS),
        "intensity": fields.intensity in (1, 2),
        "statement": fields.statement in (1, 2),
        "repetition": fields.repetition >= 1,
        "actor": fields.actor >= 1,
    }
    bad = [key for key, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"{name}: RAVDESS field(s) out of range: {', '.join(bad)} (see RAVDESS naming)")
    return fields


def ravdess_features() -> datasets.Features:
    """Columns of a RAVDESS (or synthetic) dataset; `video` holds a path string, `audio` is None (in-file track)."""
    return datasets.Features(
        {
            "clip_id": datasets.Value("string"),
            "video": datasets.Value("string"),
            "audio": datasets.Value("string"),
            "label": datasets.ClassLabel(names=list(RAVDESS_LABELS)),
            "speaker": datasets.Value("int32"),
            "gender": datasets.Value("string"),
            "intensity": datasets.Value("int8"),
            "statement": datasets.Value("int8"),
            "repetition": datasets.Value("int8"),
            "vocal_channel": datasets.Value("string"),
            "corpus": datasets.Value("string"),
        }
    )


def _build_from_names(
    root: Path,
    corpus: str,
    *,
    modality: ModalitySelection,
    vocal_channel: Literal["speech", "song", "all"],
    actors: tuple[int, ...] | None,
    check_media: bool,
    on_error: OnError,
    num_workers: int,
    max_actor: int | None,
) -> CorpusBuild:
    if modality not in _SELECTIONS:
        raise ValueError(
            f"modality={modality!r} is not supported: choose 'full_av' (01-*.mp4), 'audio_only' (03-*.wav or "
            "03-*.flac) or 'all' (both); video-only clips (02) have silent audio and are never used"
        )
    codes = _SELECTIONS[modality]
    if vocal_channel not in ("speech", "song", "all"):
        raise ValueError(f"vocal_channel must be 'speech', 'song' or 'all', got {vocal_channel!r}")
    report = BuildReport(corpus=corpus, root=str(root))
    candidates: list[tuple[Path, RavdessName]] = []
    seen: dict[str, Path] = {}
    for path in find_files(root, (".mp4", ".wav", ".flac")):
        try:
            name = parse_ravdess_name(path)
        except ValueError:
            report.ignored.append(str(path))
            continue
        # A name whose modality is selected but whose file type is not that modality's (an audio-only `03-*` name
        # on an `.mp4`) is ignored like any other unselected file.
        if (
            name.modality not in codes
            or path.suffix.lower() not in _SUFFIXES[name.modality]
            or (vocal_channel != "all" and _CHANNELS[name.vocal_channel] != vocal_channel)
        ):
            report.ignored.append(str(path))
            continue
        if actors is not None and name.actor not in actors:
            report.ignored.append(str(path))
            continue
        report.found += 1
        if max_actor is not None and name.actor > max_actor:
            report.skipped.append(SkippedFile(str(path), f"actor {name.actor} is outside 1..{max_actor}"))
            continue
        if path.stem in seen:
            report.skipped.append(SkippedFile(str(path), f"duplicate of {seen[path.stem]}"))
            continue
        seen[path.stem] = path
        candidates.append((path, name))

    reasons = (
        check_media_files([(str(path), name.modality == 1, True) for path, name in candidates], num_workers=num_workers)
        if check_media
        else [None] * len(candidates)
    )
    records = []
    for (path, name), reason in zip(candidates, reasons):
        if reason is not None:
            report.skipped.append(SkippedFile(str(path), reason))
            continue
        audio_only = name.modality == 3
        records.append(
            {
                "clip_id": path.stem,
                # Full-AV: the video file carries its own audio track (`audio` None). Audio-only: no video.
                "video": None if audio_only else str(path),
                "audio": str(path) if audio_only else None,
                "label": name.emotion - 1,
                "speaker": name.actor,
                "gender": name.gender,
                "intensity": name.intensity,
                "statement": name.statement,
                "repetition": name.repetition,
                "vocal_channel": _CHANNELS[name.vocal_channel],
                "corpus": corpus,
            }
        )
    return records_to_dataset(records, report, features=ravdess_features(), on_error=on_error)


def build_ravdess(
    root: str | Path,
    *,
    modality: ModalitySelection = "full_av",
    vocal_channel: Literal["speech", "song", "all"] = "speech",
    actors: tuple[int, ...] | None = None,
    check_media: bool = True,
    on_error: OnError = "skip",
    num_workers: int = 4,
) -> CorpusBuild:
    """Build RAVDESS from `root` (any layout: `Actor_XX/` folders or flat; searched recursively).

    Args:
        root: Folder holding the clips: the unzipped official release (`.mp4` audio-video, `.wav` audio-only)
            or lossless `.flac` copies of its `.wav` files, alone or mixed.
        modality: `"full_av"` (`01-*.mp4`, the default), `"audio_only"` (`03-*.wav` / `03-*.flac`: rows with
            `video` None and `audio` the file, for the models' missing-video path) or `"all"` (both). The same
            recording present as both `.wav` and `.flac` is kept once (the other is reported as a duplicate).
        vocal_channel: `"speech"` (the 1440-clip set used by the papers), `"song"`, or `"all"`.
        actors: Keep only these actors (default all).
        check_media: Open each clip and decode a first video (full-AV only) and audio frame (`check_media_file`);
            unreadable clips are listed in the report. `False` trusts the names (faster on a known-good copy).
        on_error: `"skip"` leaves unusable files out (listed in the report); `"raise"` fails on the first.
        num_workers: Threads for the media check.

    Returns:
        `CorpusBuild(dataset, report)`; the dataset has the columns of `ravdess_features()` with `label` a
        `ClassLabel` over `RAVDESS_LABELS` and `speaker` the actor number. Rows are sorted by path. `video` is the
        clip's file for full-AV clips and None for audio-only ones, whose file is in `audio`.
    """
    return _build_from_names(
        check_root(root, "RAVDESS"),
        "ravdess",
        modality=modality,
        vocal_channel=vocal_channel,
        actors=actors,
        check_media=check_media,
        on_error=on_error,
        num_workers=num_workers,
        max_actor=len(RAVDESS_ACTORS),
    )


def build_synthetic_corpus(
    root: str | Path,
    *,
    check_media: bool = True,
    on_error: OnError = "skip",
    num_workers: int = 4,
) -> CorpusBuild:
    """Build the synthetic corpus written by `av_emotion.data.synthetic` from its folder.

    The clips carry RAVDESS names, so labels and actors come from the names; `metadata.jsonl`, when
    present, is cross-checked: a clip it lists that is missing on disk, or whose label or actor disagrees
    with its name, is reported. Same arguments and result as `build_ravdess` (no limit on the actor number).
    """
    root = check_root(root, "synthetic corpus")
    build = _build_from_names(
        root,
        "synthetic",
        modality="full_av",
        vocal_channel="all",
        actors=None,
        check_media=check_media,
        on_error="skip",
        num_workers=num_workers,
        max_actor=None,
    )
    dataset, report = build
    metadata = root / "metadata.jsonl"
    if metadata.is_file():
        by_id = {clip_id: index for index, clip_id in enumerate(dataset["clip_id"])}
        bad_rows: set[int] = set()
        for line_number, line in enumerate(metadata.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            entry = json.loads(line)
            clip_path = entry.get("path") or entry.get("file") or entry.get("video")
            if clip_path is None:
                continue
            clip_id = Path(clip_path).stem
            if clip_id not in by_id:
                if not any(item.path.endswith(Path(clip_path).name) for item in report.skipped):
                    report.skipped.append(SkippedFile(str(root / clip_path), f"listed in {metadata.name} but missing"))
                continue
            row = dataset[by_id[clip_id]]
            label = entry.get("label", entry.get("emotion"))
            actor = entry.get("actor", entry.get("speaker"))
            label_name = RAVDESS_LABELS[row["label"]]
            label_disagrees = (isinstance(label, str) and label != label_name) or (
                isinstance(label, int) and label != row["label"]
            )
            if label_disagrees or (actor is not None and int(actor) != row["speaker"]):
                report.skipped.append(
                    SkippedFile(
                        row["video"],
                        f"{metadata.name} line {line_number} says label={label!r} actor={actor!r}, "
                        f"the name says {label_name!r} actor {row['speaker']}",
                    )
                )
                bad_rows.add(by_id[clip_id])
        if bad_rows:
            dataset = dataset.select([index for index in range(len(dataset)) if index not in bad_rows])
            report.kept = len(dataset)
    return records_to_dataset(dataset.to_list(), report, features=ravdess_features(), on_error=on_error)
