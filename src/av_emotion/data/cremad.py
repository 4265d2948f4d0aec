"""CREMA-D (Cao et al. 2014) from its local folder, into a `datasets.Dataset`.

File names are `AAAA_SSS_EEE_LL`: actor 1001..1091, sentence (IEO, TIE, IOM, IWW, TAI, MTI, IWL, ITH,
DFA, ITS, TSI, WSI), emotion (ANG DIS FEA HAP NEU SAD) and level (LO, MD, HI, or XX unspecified).

The distribution keeps video and audio apart: `VideoFlash/*.flv` (VP6 480x360 with an MP3 track) and
`AudioWAV/*.wav` (16 kHz mono), paired by name; the builder uses the WAV as the clip's audio. A folder
without `VideoFlash/` is searched for `.flv` files directly, and without `AudioWAV/` the audio track of
the `.flv` itself is used (the `audio` column is then None).

The CREMA-D repository lists clips that are broken in the distribution (`CREMAD_KNOWN_BROKEN`); they are
skipped and reported unless `skip_known_broken=False`, and any other unreadable file is found by the media
check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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
from av_emotion.data.labels import CREMAD_CODE_TO_LABEL, CREMAD_CODES, CREMAD_LABELS

CREMAD_SPEAKERS: tuple[int, ...] = tuple(range(1001, 1092))
CREMAD_SENTENCES: tuple[str, ...] = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
CREMAD_LEVELS: tuple[str, ...] = ("LO", "MD", "HI", "XX")

# Listed as broken by the corpus maintainers (github.com/CheyneyComputerScience/CREMA-D), and excluded by
# HiCMAE's CREMA-D preparation for the same reason.
CREMAD_KNOWN_BROKEN: tuple[str, ...] = ("1076_MTI_NEU_XX", "1076_MTI_SAD_XX", "1064_TIE_SAD_XX", "1064_IEO_DIS_MD")

_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


@dataclass(frozen=True)
class CremadName:
    """The fields of one CREMA-D file name."""

    speaker: int
    sentence: str
    emotion_code: str
    level: str

    @property
    def label(self) -> str:
        """Emotion name in the shared vocabulary (`CREMAD_LABELS`)."""
        return CREMAD_CODE_TO_LABEL[self.emotion_code]


def parse_cremad_name(name: str | Path) -> CremadName:
    """Parse a CREMA-D file name (with or without folder and extension); `ValueError` names a bad one."""
    stem = Path(name).stem
    match = _NAME.match(stem)
    if match is None:
        raise ValueError(f"{name}: not a CREMA-D name; expected ACTOR_SENTENCE_EMOTION_LEVEL, e.g. 1001_DFA_ANG_XX")
    speaker, sentence, emotion, level = match.groups()
    parsed = CremadName(int(speaker), sentence, emotion, level)
    if parsed.speaker not in CREMAD_SPEAKERS:
        raise ValueError(f"{name}: actor {parsed.speaker} is outside 1001..1091")
    if emotion not in CREMAD_CODES:
        raise ValueError(f"{name}: emotion {emotion!r} is not one of {list(CREMAD_CODES)}")
    if sentence not in CREMAD_SENTENCES:
        raise ValueError(f"{name}: sentence {sentence!r} is not one of {list(CREMAD_SENTENCES)}")
    if level not in CREMAD_LEVELS:
        raise ValueError(f"{name}: level {level!r} is not one of {list(CREMAD_LEVELS)}")
    return parsed


def cremad_features() -> datasets.Features:
    """Columns of a CREMA-D dataset: `video` a path, `audio` the paired WAV path (or None: in-file track)."""
    return datasets.Features(
        {
            "clip_id": datasets.Value("string"),
            "video": datasets.Value("string"),
            "audio": datasets.Value("string"),
            "label": datasets.ClassLabel(names=list(CREMAD_LABELS)),
            "emotion_code": datasets.Value("string"),
            "speaker": datasets.Value("int32"),
            "sentence": datasets.Value("string"),
            "level": datasets.Value("string"),
            "corpus": datasets.Value("string"),
        }
    )


def build_cremad(
    root: str | Path,
    *,
    video_dir: str = "VideoFlash",
    audio_dir: str = "AudioWAV",
    speakers: tuple[int, ...] | None = None,
    skip_known_broken: bool = True,
    check_media: bool = True,
    on_error: OnError = "skip",
    num_workers: int = 4,
) -> CorpusBuild:
    """Build CREMA-D from `root`, pairing each `VideoFlash/X.flv` with `AudioWAV/X.wav`.

    Args:
        root: Corpus folder (holding `video_dir` and `audio_dir`, or the `.flv` files themselves).
        video_dir: Sub-folder of the videos; when absent, `root` itself is searched for `.flv`.
        audio_dir: Sub-folder of the WAVs; when absent, each video's own audio track is used. When present,
            a video without its WAV is skipped and reported, and so is a WAV without its video.
        speakers: Keep only these actors (default all).
        skip_known_broken: Skip `CREMAD_KNOWN_BROKEN` (reported).
        check_media: Open each file and decode a first frame (`check_media_file`); unreadable files are reported.
        on_error: `"skip"` (report and continue) or `"raise"` (fail listing every problem).
        num_workers: Threads for the media check.

    Returns:
        `CorpusBuild(dataset, report)` with the columns of `cremad_features()`; `label` is a `ClassLabel`
        over `CREMAD_LABELS` and `speaker` the actor id. Rows are sorted by video path.
    """
    root = check_root(root, "CREMA-D")
    video_root = root / video_dir if (root / video_dir).is_dir() else root
    audio_root = root / audio_dir if (root / audio_dir).is_dir() else None
    report = BuildReport(corpus="cremad", root=str(root))

    wavs: dict[str, Path] = {}
    if audio_root is not None:
        for path in find_files(audio_root, (".wav",)):
            wavs.setdefault(path.stem, path)

    candidates: list[tuple[Path, Path | None, CremadName]] = []
    seen: dict[str, Path] = {}
    for path in find_files(video_root, (".flv",)):
        try:
            name = parse_cremad_name(path)
        except ValueError:
            report.ignored.append(str(path))
            continue
        if speakers is not None and name.speaker not in speakers:
            report.ignored.append(str(path))
            continue
        report.found += 1
        if path.stem in seen:
            report.skipped.append(SkippedFile(str(path), f"duplicate of {seen[path.stem]}"))
            continue
        seen[path.stem] = path
        if skip_known_broken and path.stem in CREMAD_KNOWN_BROKEN:
            report.skipped.append(
                SkippedFile(str(path), "listed as broken by the CREMA-D maintainers (skip_known_broken=False keeps it)")
            )
            continue
        audio_path = None
        if audio_root is not None:
            audio_path = wavs.get(path.stem)
            if audio_path is None:
                report.skipped.append(SkippedFile(str(path), f"no matching {audio_dir}/{path.stem}.wav"))
                continue
        candidates.append((path, audio_path, name))
    for stem, wav in wavs.items():
        if stem not in seen and (speakers is None or _speaker_of(stem) in speakers):
            report.skipped.append(SkippedFile(str(wav), f"no matching {video_root.name}/{stem}.flv"))

    if check_media:
        # The video file must have a video stream; its own audio is needed only when there is no WAV.
        jobs = [(str(video), True, audio is None) for video, audio, _ in candidates]
        jobs += [(str(audio), False, True) for _, audio, _ in candidates if audio is not None]
        reasons = check_media_files(jobs, num_workers=num_workers)
        video_reasons = reasons[: len(candidates)]
        audio_reasons = iter(reasons[len(candidates) :])
    else:
        video_reasons = [None] * len(candidates)
        audio_reasons = iter([])
    records = []
    for (video, audio, name), video_reason in zip(candidates, video_reasons):
        audio_reason = next(audio_reasons) if check_media and audio is not None else None
        if video_reason is not None:
            report.skipped.append(SkippedFile(str(video), video_reason))
            continue
        if audio_reason is not None:
            report.skipped.append(SkippedFile(str(audio), audio_reason))
            continue
        records.append(
            {
                "clip_id": video.stem,
                "video": str(video),
                "audio": None if audio is None else str(audio),
                "label": CREMAD_LABELS.index(name.label),
                "emotion_code": name.emotion_code,
                "speaker": name.speaker,
                "sentence": name.sentence,
                "level": name.level,
                "corpus": "cremad",
            }
        )
    return records_to_dataset(records, report, features=cremad_features(), on_error=on_error)


def _speaker_of(stem: str) -> int | None:
    try:
        return parse_cremad_name(stem).speaker
    except ValueError:
        return None
