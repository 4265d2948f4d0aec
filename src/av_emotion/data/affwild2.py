"""Aff-Wild2-style corpora: videos with per-frame valence/arousal annotations (ABAW VA challenge layout).

The official layout (Kollias et al., ABAW challenges) that this builder reads:

    <root>/
      <any folders>/<video>.mp4 | .avi            the videos (for example batch1/, batch2/)
      <any folders>/VA_Estimation_Challenge/
          Train_Set/<video>.txt                   one annotation file per annotated subject
          Validation_Set/<video>.txt
          Validation_Set/<video>_left.txt         two subjects in one video: _left / _right
          Validation_Set/<video>_right.txt

Each annotation file has the header line `valence,arousal` and then one line per video frame, in frame
order (line 2 is frame 0). Values are in [-1, 1]; a frame annotated -5 was not annotated (no face, for
example) and is skipped. The annotation's frame count is trusted: videos are not decoded here.

`build_affwild2_dataset` returns one row per annotation file (one subject of one video), or one row per
window of frames with `window_frames`. Every row keeps only the annotated frames: `frame_index` (absolute,
0-based), `valence` and `arousal` have one entry per annotated frame. Media stay path strings (DESIGN 2).
`subclip_targets` turns a row into per-sub-clip labels for the Joint Cross-Attention regression head.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasets import Dataset, Features, List, Value

logger = logging.getLogger(__name__)

AFFWILD2_SPLIT_FOLDERS = {"train": "Train_Set", "validation": "Validation_Set"}
"""Split name -> the folder holding its annotation files under `VA_Estimation_Challenge/`."""

AFFWILD2_INVALID_VALUE = -5.0
"""The value Aff-Wild2 writes for a frame that was not annotated."""

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")
SUBJECT_SUFFIXES = ("_left", "_right")

AFFWILD2_FEATURES = Features(
    {
        "video_id": Value("string"),
        "path": Value("string"),
        "speaker": Value("string"),
        "start_frame": Value("int32"),
        "end_frame": Value("int32"),
        "frame_index": List(Value("int32")),
        "valence": List(Value("float32")),
        "arousal": List(Value("float32")),
    }
)


@dataclass
class AffWild2Annotation:
    """The annotated frames of one annotation file.

    `frame_index` (N,) int: 0-based frame numbers of the annotated frames; `valence`, `arousal` (N,) float
    in [-1, 1]; `num_frames`: the frames the file covers, annotated or not.
    """

    frame_index: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    num_frames: int


def read_affwild2_annotation(path: str | os.PathLike) -> AffWild2Annotation:
    """Parse one `valence,arousal` annotation file, skipping frames annotated -5.

    Raises:
        ValueError: naming the file and line, for a wrong header, a malformed line, or a value outside
            [-1, 1] other than -5.
    """
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or lines[0].replace(" ", "").lower() != "valence,arousal":
        got = lines[0] if lines else ""
        raise ValueError(f"{path}:1: expected the header line 'valence,arousal', got {got!r}")
    frame_index, valence, arousal = [], [], []
    for line_number, text in enumerate(lines[1:], start=2):
        parts = text.split(",")
        if len(parts) != 2:
            raise ValueError(f"{path}:{line_number}: expected 'valence,arousal' (two numbers), got {text!r}")
        try:
            values = [float(part) for part in parts]
        except ValueError:
            raise ValueError(f"{path}:{line_number}: expected two numbers, got {text!r}") from None
        if AFFWILD2_INVALID_VALUE in values:
            continue
        if not all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in values):
            raise ValueError(f"{path}:{line_number}: values must be in [-1, 1] (or -5 for no annotation), got {text!r}")
        frame_index.append(line_number - 2)
        valence.append(values[0])
        arousal.append(values[1])
    return AffWild2Annotation(
        frame_index=np.asarray(frame_index, dtype=np.int64),
        valence=np.asarray(valence, dtype=np.float32),
        arousal=np.asarray(arousal, dtype=np.float32),
        num_frames=len(lines) - 1,
    )


def find_affwild2_videos(videos_dir: str | os.PathLike) -> dict[str, Path]:
    """Index the video files under `videos_dir` (recursively) by file stem.

    Raises:
        ValueError: two videos share a stem (for example `a.mp4` and `b/a.avi`): the annotation names could
            not tell them apart.
    """
    videos: dict[str, Path] = {}
    for path in sorted(Path(videos_dir).rglob("*")):
        if path.suffix.lower() not in VIDEO_EXTENSIONS or not path.is_file():
            continue
        if path.stem in videos:
            raise ValueError(
                f"two videos named {path.stem!r}: {videos[path.stem]} and {path}; keep one, or pass videos_dir "
                "pointing at one copy"
            )
        videos[path.stem] = path
    return videos


def _find_annotation_dir(root: Path, split: str) -> Path:
    folder = AFFWILD2_SPLIT_FOLDERS[split]
    matches = sorted(p / folder for p in root.rglob("VA_Estimation_Challenge") if (p / folder).is_dir())
    if len(matches) != 1:
        found = ", ".join(str(m) for m in matches) or "none"
        raise ValueError(
            f"expected one VA_Estimation_Challenge/{folder} folder under {root}, found {found}; pass annotations_dir"
        )
    return matches[0]


def _video_for(annotation_stem: str, videos: dict[str, Path]) -> Path | None:
    if annotation_stem in videos:
        return videos[annotation_stem]
    for suffix in SUBJECT_SUFFIXES:
        if annotation_stem.endswith(suffix) and annotation_stem[: -len(suffix)] in videos:
            return videos[annotation_stem[: -len(suffix)]]
    return None


def _window_starts(num_frames: int, window: int, stride: int) -> list[int]:
    """Window starts covering every frame: a regular grid, plus one window flush with the end if needed."""
    if num_frames <= window:
        return [0]
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


def build_affwild2_dataset(
    root: str | os.PathLike | None = None,
    split: str = "train",
    *,
    annotations_dir: str | os.PathLike | None = None,
    videos_dir: str | os.PathLike | None = None,
    window_frames: int | None = None,
    window_stride: int | None = None,
    missing_videos: str = "error",
) -> Dataset:
    """Build an Aff-Wild2-style valence/arousal dataset: one row per annotated video, or per window.

    Args:
        root: the corpus folder in the official layout (see the module docstring). Optional when both
            `annotations_dir` and `videos_dir` are given.
        split: `"train"` or `"validation"` (the `Train_Set` / `Validation_Set` annotation folders).
        annotations_dir: the folder of `.txt` annotation files, overriding the search under `root`.
        videos_dir: the folder searched (recursively) for videos; defaults to `root`.
        window_frames: None for one row per video; otherwise rows of `window_frames` consecutive frames
            (for the Joint Cross-Attention model: `num_subclips * frames_per_subclip`, 64 by default). The
            last window is moved back to end at the last frame, so every frame is covered; a video shorter
            than one window gives one shorter window; windows without an annotated frame are left out.
        window_stride: frames between window starts (default: `window_frames`, no overlap).
        missing_videos: `"error"` (default) raises listing every annotation without a video; `"skip"` logs a
            warning and leaves them out.

    Returns:
        A `datasets.Dataset` sorted by `video_id` then `start_frame`, with columns `video_id` (annotation file
        stem), `path` (the video), `speaker` (the annotation stem: Aff-Wild2 annotates one subject per file
        and gives no identities across videos), `start_frame`, `end_frame` (exclusive), and the annotated
        frames in the row: `frame_index` (absolute), `valence`, `arousal`.
    """
    if split not in AFFWILD2_SPLIT_FOLDERS:
        raise ValueError(f"split must be one of {sorted(AFFWILD2_SPLIT_FOLDERS)}, got {split!r}")
    if missing_videos not in ("error", "skip"):
        raise ValueError(f"missing_videos must be 'error' or 'skip', got {missing_videos!r}")
    if window_frames is not None and window_frames < 1:
        raise ValueError(f"window_frames must be >= 1, got {window_frames}")
    stride = window_stride if window_stride is not None else window_frames
    if window_frames is not None and stride < 1:
        raise ValueError(f"window_stride must be >= 1, got {window_stride}")
    if root is None and (annotations_dir is None or videos_dir is None):
        raise ValueError("pass root, or both annotations_dir and videos_dir")
    annotation_folder = (
        Path(annotations_dir) if annotations_dir is not None else _find_annotation_dir(Path(root), split)
    )
    if not annotation_folder.is_dir():
        raise ValueError(f"annotations_dir {annotation_folder} is not a folder")
    annotation_files = sorted(annotation_folder.glob("*.txt"))
    if not annotation_files:
        raise ValueError(f"no .txt annotation files in {annotation_folder}")
    videos = find_affwild2_videos(videos_dir if videos_dir is not None else root)

    missing = [f for f in annotation_files if _video_for(f.stem, videos) is None]
    if missing and missing_videos == "error":
        names = ", ".join(f.name for f in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise ValueError(
            f"{len(missing)} annotation files in {annotation_folder} have no video (by name, .mp4/.avi/...) under "
            f"{videos_dir if videos_dir is not None else root}: {names}; pass missing_videos='skip' to leave them out"
        )
    for annotation_file in missing:
        logger.warning("%s: no video found, skipped", annotation_file)

    rows = []
    for annotation_file in annotation_files:
        video = _video_for(annotation_file.stem, videos)
        if video is None:
            continue
        annotation = read_affwild2_annotation(annotation_file)
        if annotation.frame_index.size == 0:
            logger.warning("%s: no annotated frame (all -5), skipped", annotation_file)
            continue
        windows = (
            [(0, annotation.num_frames)]
            if window_frames is None
            else [
                (start, min(start + window_frames, annotation.num_frames))
                for start in _window_starts(annotation.num_frames, window_frames, stride)
            ]
        )
        for start, end in windows:
            inside = (annotation.frame_index >= start) & (annotation.frame_index < end)
            if not inside.any():
                continue
            rows.append(
                {
                    "video_id": annotation_file.stem,
                    "path": str(video.resolve()),
                    "speaker": annotation_file.stem,
                    "start_frame": start,
                    "end_frame": end,
                    "frame_index": annotation.frame_index[inside].tolist(),
                    "valence": annotation.valence[inside].tolist(),
                    "arousal": annotation.arousal[inside].tolist(),
                }
            )
    if not rows:
        raise ValueError(f"no annotated frame in any annotation file of {annotation_folder}")
    return Dataset.from_list(rows, features=AFFWILD2_FEATURES)


def subclip_targets(
    row: dict, num_subclips: int, frames_per_subclip: int, start_frame: int | None = None
) -> np.ndarray:
    """Per-sub-clip (valence, arousal) labels for the frames [start, start + L * F) of a dataset row.

    Sub-clip i covers frames start + i F ... start + (i + 1) F - 1; its target is the mean of its annotated
    frames (our choice: the paper predicts per sub-clip and does not say how frame labels are pooled), or
    NaN when none is annotated, which the CCC loss leaves out.

    Args:
        row: a row of `build_affwild2_dataset` (`frame_index`, `valence`, `arousal`, `start_frame`).
        num_subclips: L, the model's sub-clips per clip.
        frames_per_subclip: F, frames per sub-clip.
        start_frame: the first frame fed to the model; defaults to the row's `start_frame`.

    Returns:
        (L, 2) float32 array of [valence, arousal].
    """
    start = row["start_frame"] if start_frame is None else start_frame
    frames = np.asarray(row["frame_index"], dtype=np.int64) - start
    values = np.stack([np.asarray(row["valence"]), np.asarray(row["arousal"])], axis=-1).astype(np.float64)
    keep = (frames >= 0) & (frames < num_subclips * frames_per_subclip)
    subclip = frames[keep] // frames_per_subclip
    sums = np.zeros((num_subclips, 2))
    counts = np.zeros(num_subclips)
    np.add.at(sums, subclip, values[keep])
    np.add.at(counts, subclip, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        targets = sums / counts[:, None]
    return targets.astype(np.float32)


__all__ = [
    "AFFWILD2_INVALID_VALUE",
    "AFFWILD2_OFFICIAL_PROTOCOL",
    "AFFWILD2_SPLIT_FOLDERS",
    "AffWild2Annotation",
    "affwild2_per_video_ccc",
    "build_affwild2_corpus",
    "build_affwild2_dataset",
    "official_split_fold",
    "find_affwild2_videos",
    "read_affwild2_annotation",
    "subclip_targets",
]


# ---------------------------------------------------------------------------------------------------
# The recipes' corpus: windows with per-sub-clip targets, the official split, per-video CCC
# ---------------------------------------------------------------------------------------------------

AFFWILD2_OFFICIAL_PROTOCOL = "affwild2_official"
"""`data.fold_protocol` of the Aff-Wild2 recipe: train on `Train_Set`, test on `Validation_Set` (see
`official_split_fold`)."""


def _video_fps(path: str) -> float:
    from av_emotion.processing.media import probe_media

    info = probe_media(path)
    if not info.fps:
        raise ValueError(f"{path}: the video stream declares no frame rate; Aff-Wild2 frame numbers need one")
    return float(info.fps)


def build_affwild2_corpus(
    root: str | os.PathLike,
    *,
    window_frames: int = 256,
    window_stride: int | None = None,
    num_subclips: int = 8,
    missing_videos: str = "error",
    annotations_dir: str | os.PathLike | None = None,
):
    """Build the Aff-Wild2 corpus of the recipes: windows of frames with per-sub-clip valence/arousal targets.

    Both official splits are read (`Train_Set` and `Validation_Set` under `VA_Estimation_Challenge/`, the
    ABAW split files; see `build_affwild2_dataset`) and marked in a `split` column. Each row is one window of
    `window_frames` consecutive frames of one annotated subject, cut into `num_subclips` sub-clips: with the
    defaults, the authors' loader (256 frames, 8 sub-clips of 32; the "jca2022_authors_context" processor
    preset samples every 4th frame of it).

    Columns: `video` (path), `audio` (None: the video's own track), `clip_id` (`<video_id>@<start_frame>`),
    `speaker` (the annotation stem: one subject of one video), `split` (`"train"` / `"validation"`),
    `start_s`, `end_s` (the window in seconds, from the video's frame rate, which the processor decodes),
    `valence`, `arousal` (one value per sub-clip, the mean of its annotated frames, NaN when none: see
    `subclip_targets`), and for the per-video evaluation `video_id`, `start_frame`, `end_frame`,
    `frame_index`, `frame_valence`, `frame_arousal` (the annotated frames of the window).

    Returns:
        `CorpusBuild(dataset, report)`.
    """
    from av_emotion.data.corpus import BuildReport, CorpusBuild

    if window_frames < num_subclips:
        raise ValueError(f"window_frames ({window_frames}) must hold at least one frame per sub-clip ({num_subclips})")
    root = Path(root)
    rows, fps_of = [], {}
    annotation_files = 0
    for split in AFFWILD2_SPLIT_FOLDERS:
        split_dir = None if annotations_dir is None else Path(annotations_dir) / AFFWILD2_SPLIT_FOLDERS[split]
        windows = build_affwild2_dataset(
            root,
            split,
            annotations_dir=split_dir,
            videos_dir=root,
            window_frames=window_frames,
            window_stride=window_stride,
            missing_videos=missing_videos,
        )
        annotation_files += len(set(windows["video_id"]))
        for row in windows:
            path = row["path"]
            if path not in fps_of:
                fps_of[path] = _video_fps(path)
            fps = fps_of[path]
            # Sub-clips split the window the model sees (shorter than window_frames only for a short video).
            frames = row["end_frame"] - row["start_frame"]
            targets = _window_subclip_targets(row, num_subclips, frames)
            rows.append(
                {
                    "video": path,
                    "audio": None,
                    "clip_id": f"{row['video_id']}@{row['start_frame']}",
                    "speaker": row["video_id"],
                    "split": split,
                    "start_s": row["start_frame"] / fps,
                    "end_s": row["end_frame"] / fps,
                    "valence": targets[:, 0].tolist(),
                    "arousal": targets[:, 1].tolist(),
                    "video_id": row["video_id"],
                    "start_frame": row["start_frame"],
                    "end_frame": row["end_frame"],
                    "frame_index": row["frame_index"],
                    "frame_valence": row["valence"],
                    "frame_arousal": row["arousal"],
                }
            )
    features = Features(
        {
            "video": Value("string"),
            "audio": Value("string"),
            "clip_id": Value("string"),
            "speaker": Value("string"),
            "split": Value("string"),
            "start_s": Value("float64"),
            "end_s": Value("float64"),
            "valence": List(Value("float32")),
            "arousal": List(Value("float32")),
            "video_id": Value("string"),
            "start_frame": Value("int32"),
            "end_frame": Value("int32"),
            "frame_index": List(Value("int32")),
            "frame_valence": List(Value("float32")),
            "frame_arousal": List(Value("float32")),
        }
    )
    report = BuildReport(corpus="affwild2", root=str(root), found=annotation_files, kept=len(rows))
    return CorpusBuild(Dataset.from_list(rows, features=features), report)


def _window_subclip_targets(row: dict, num_subclips: int, frames: int) -> np.ndarray:
    """(L, 2) targets of a window of `frames` frames cut into L sub-clips of `frames / L` frames each."""
    start = row["start_frame"]
    offsets = np.asarray(row["frame_index"], dtype=np.int64) - start
    subclip = offsets * num_subclips // max(frames, 1)
    values = np.stack([np.asarray(row["valence"]), np.asarray(row["arousal"])], axis=-1).astype(np.float64)
    sums, counts = np.zeros((num_subclips, 2)), np.zeros(num_subclips)
    np.add.at(sums, subclip, values)
    np.add.at(counts, subclip, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts[:, None]).astype(np.float32)


def official_split_fold(dataset: Dataset, validation_speakers: int = 0):
    """Return the official split as a `Fold`: train on `Train_Set` subjects, test on `Validation_Set` ones.

    ABAW's test labels are not public; Praveen et al. 2022 report the validation set, so it is the test
    split here. A fold cannot use one set for both model selection and testing: `validation_speakers`
    carves that many training subjects out for model selection (0: none, the last epoch is kept).
    """
    from av_emotion.data.folds import Fold

    splits = dataset["split"]
    speakers = dataset["speaker"]
    train = tuple(sorted({s for s, split in zip(speakers, splits) if split == "train"}))
    test = tuple(sorted({s for s, split in zip(speakers, splits) if split == "validation"}))
    fold = Fold(index=0, test=test, validation=(), train=train)
    return fold.with_validation(validation_speakers) if validation_speakers else fold


def affwild2_per_video_ccc(
    step_predictions: np.ndarray, rows: Dataset | list[dict], smoothing_window: int | None = None
) -> dict[str, float]:
    """Score per-sub-clip predictions of windows with the per-video protocol of Praveen et al. 2022.

    Each annotated frame of a window takes the prediction of the sub-clip it falls in; a frame covered by
    several windows (the last window of a video is moved back to end at its last frame) takes their mean.
    Then `losses.per_video_ccc`: optional smoothing within each video, one global CCC per dimension over
    every annotated frame of every video.

    Args:
        step_predictions: `(N, L, 2)` (valence, arousal) per sub-clip, in the order of `rows`.
        rows: the N windows (`video_id`, `start_frame`, `end_frame`, `frame_index`, `frame_valence`,
            `frame_arousal`).
        smoothing_window: odd window in annotated frames, or None.

    Returns:
        `{"ccc_valence", "ccc_arousal", "ccc_mean", "num_frames"}`.
    """
    import torch

    from av_emotion.modeling.losses import per_video_ccc

    step_predictions = np.asarray(step_predictions, dtype=np.float64)
    if step_predictions.ndim != 3 or step_predictions.shape[0] != len(rows) or step_predictions.shape[-1] != 2:
        raise ValueError(
            f"step_predictions must be (windows={len(rows)}, sub-clips, 2), got {tuple(step_predictions.shape)}"
        )
    sums: dict[str, dict[int, np.ndarray]] = {}
    counts: dict[str, dict[int, int]] = {}
    targets: dict[str, dict[int, tuple[float, float]]] = {}
    num_subclips = step_predictions.shape[1]
    for prediction, row in zip(step_predictions, rows):
        frames = max(row["end_frame"] - row["start_frame"], 1)
        video = row["video_id"]
        for frame, valence, arousal in zip(row["frame_index"], row["frame_valence"], row["frame_arousal"]):
            subclip = min((frame - row["start_frame"]) * num_subclips // frames, num_subclips - 1)
            sums.setdefault(video, {}).setdefault(frame, np.zeros(2))
            sums[video][frame] = sums[video][frame] + prediction[subclip]
            counts.setdefault(video, {})[frame] = counts.get(video, {}).get(frame, 0) + 1
            targets.setdefault(video, {})[frame] = (valence, arousal)
    predictions, references = {}, {}
    for video, by_frame in sums.items():
        ordered = sorted(by_frame)
        predictions[video] = torch.tensor(np.stack([by_frame[f] / counts[video][f] for f in ordered]))
        references[video] = torch.tensor([targets[video][f] for f in ordered])
    return per_video_ccc(predictions, references, smoothing_window=smoothing_window, invalid_value=None)
