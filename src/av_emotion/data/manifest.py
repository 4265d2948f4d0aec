"""Build a `datasets.Dataset` from a CSV or JSONL manifest of media files.

A manifest lists one clip per row (CSV with a header line, or one JSON object per line):

    path,label,speaker                      path,valence,arousal,speaker
    clips/a.mp4,happy,actor01               clips/a.mp4,0.4,-0.1,s01

Columns:
    path       (required) the media file (video with its audio track, or audio only). Relative paths are
               resolved against the manifest's folder, so a corpus folder can be moved with its manifest.
    audio_path (optional) a separate audio file for the clip (CREMA-D style), resolved the same way.
    label      (optional) categorical emotion name; checked against `label_names` when given, which then
               makes the column a `datasets.ClassLabel`.
    valence, arousal (optional, both or neither) clip-level affect, floats within `value_range`.
    speaker    (optional) speaker id, kept as a string (for speaker-independent splits).
    any other  passed through unchanged (strings from CSV, JSON values from JSONL).

At least one target (`label` or valence/arousal) is required unless `require_targets=False`.

Media stay path strings: nothing is decoded here (DESIGN section 2: `datasets` 5.x decodes only through
torchcodec; av_emotion decodes with PyAV in the processor). A malformed row raises `ManifestError` naming the
manifest file and line. A row whose file is missing, a directory, empty or unreadable is dropped and listed
in the returned `ManifestReport` (or, with `missing_files="error"`, all such rows are listed in one error).
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
from datasets import ClassLabel, Dataset, Features, Value

PATH_COLUMNS = ("path", "audio_path")
AFFECT_COLUMNS = ("valence", "arousal")


class ManifestError(ValueError):
    """A manifest that cannot be read: the message names the file and line."""


@dataclass(frozen=True)
class ManifestProblem:
    """A manifest row whose media file cannot be used."""

    line: int
    path: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.path}: {self.reason}"


@dataclass
class ManifestReport:
    """What `build_manifest_dataset` read: rows read, rows kept, and the rows dropped with the reason."""

    manifest: Path
    rows_read: int = 0
    rows_kept: int = 0
    problems: list[ManifestProblem] = field(default_factory=list)

    def summary(self) -> str:
        """One line per dropped row, after a header with the counts."""
        head = f"{self.manifest}: {self.rows_kept} of {self.rows_read} rows kept"
        return "\n".join([head, *(f"  {problem}" for problem in self.problems)])


class ManifestDataset(NamedTuple):
    """The dataset built from a manifest and the report of the rows left out."""

    dataset: Dataset
    report: ManifestReport


def _read_rows(manifest: Path) -> tuple[list[str] | None, list[tuple[int, dict[str, Any]]]]:
    """Return (CSV header or None, [(line number, row)]) from a .csv or .jsonl manifest."""
    suffix = manifest.suffix.lower()
    rows: list[tuple[int, dict[str, Any]]] = []
    if suffix == ".csv":
        with manifest.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, restkey="__extra__")
            header = reader.fieldnames
            if not header:
                raise ManifestError(f"{manifest}:1: empty manifest; the first line must be the header, e.g. path,label")
            for row in reader:
                line = reader.line_num
                if "__extra__" in row:
                    raise ManifestError(
                        f"{manifest}:{line}: {len(header) + len(row['__extra__'])} fields for a header of "
                        f"{len(header)}; quote values that contain commas"
                    )
                if any(value is None for value in row.values()):
                    raise ManifestError(f"{manifest}:{line}: fewer fields than the {len(header)} of the header")
                rows.append((line, row))
        return [name.strip() for name in header], [
            (line, {key.strip(): value for key, value in row.items()}) for line, row in rows
        ]
    if suffix in (".jsonl", ".ndjson"):
        with manifest.open(encoding="utf-8") as handle:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as error:
                    raise ManifestError(f"{manifest}:{line}: not valid JSON ({error.msg})") from None
                if not isinstance(row, dict):
                    raise ManifestError(f"{manifest}:{line}: each line must be a JSON object, got {type(row).__name__}")
                rows.append((line, row))
        return None, rows
    raise ManifestError(f"{manifest}: unknown manifest format {suffix!r}; use .csv (with a header) or .jsonl")


def _check_media_file(path: Path) -> str | None:
    """Return why `path` cannot be used as a media file, or None when it can."""
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "is a directory, not a media file"
    try:
        with path.open("rb") as handle:
            if not handle.read(1):
                return "empty file"
    except OSError as error:
        return f"not readable ({error.strerror or error})"
    return None


def _parse_affect(manifest: Path, line: int, name: str, value: Any, value_range: tuple[float, float] | None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{manifest}:{line}: {name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ManifestError(f"{manifest}:{line}: {name} must be finite, got {value!r}")
    if value_range is not None and not value_range[0] <= number <= value_range[1]:
        raise ManifestError(
            f"{manifest}:{line}: {name} = {number} is outside {list(value_range)}; rescale the annotations or pass "
            "value_range=None"
        )
    return number


def build_manifest_dataset(
    manifest_path: str | os.PathLike,
    *,
    label_names: list[str] | tuple[str, ...] | None = None,
    value_range: tuple[float, float] | None = (-1.0, 1.0),
    missing_files: str = "report",
    require_targets: bool = True,
) -> ManifestDataset:
    """Read a CSV/JSONL manifest into a `datasets.Dataset` of media paths and targets.

    Args:
        manifest_path: the `.csv` or `.jsonl` manifest.
        label_names: the allowed `label` values, in class-index order (for example the 8 RAVDESS emotions);
            the column becomes a `ClassLabel`. None keeps labels as strings, unchecked.
        value_range: inclusive bounds for valence and arousal, or None for no check.
        missing_files: `"report"` drops rows whose file is missing or unreadable and lists them in the
            report; `"error"` raises one `ManifestError` listing every such row.
        require_targets: whether the manifest must have `label` or `valence`/`arousal` columns.

    Returns:
        `ManifestDataset(dataset, report)`. The dataset has `path` (absolute path string), then whichever of
        `audio_path`, `label`, `valence`, `arousal` (float32), `speaker` the manifest has, then any other
        columns, in manifest order.

    Raises:
        ManifestError: a malformed manifest or row (the message names the file and line), no usable row, or
            missing files with `missing_files="error"`.
    """
    manifest = Path(manifest_path)
    if not manifest.is_file():
        raise ManifestError(f"{manifest}: manifest not found")
    if missing_files not in ("report", "error"):
        raise ValueError(f"missing_files must be 'report' or 'error', got {missing_files!r}")
    header, rows = _read_rows(manifest)
    if not rows:
        raise ManifestError(f"{manifest}: the manifest has no rows")
    columns = header if header is not None else list(dict.fromkeys(key for _, row in rows for key in row))
    if "path" not in columns:
        raise ManifestError(f"{manifest}: no 'path' column (columns: {columns})")
    affect = [name for name in AFFECT_COLUMNS if name in columns]
    if len(affect) == 1:
        raise ManifestError(f"{manifest}: has {affect[0]!r} but not its pair; give both valence and arousal")
    if require_targets and "label" not in columns and not affect:
        raise ManifestError(
            f"{manifest}: no target column; add 'label' or 'valence' and 'arousal' (or pass require_targets=False)"
        )
    if label_names is not None and "label" not in columns:
        raise ManifestError(f"{manifest}: label_names given but the manifest has no 'label' column")

    base = manifest.resolve().parent
    report = ManifestReport(manifest=manifest, rows_read=len(rows))
    records = []
    for line, row in rows:
        record: dict[str, Any] = {}
        problem = None
        for name in PATH_COLUMNS:
            if name not in columns:
                continue
            value = row.get(name)
            if not isinstance(value, str) or not value.strip():
                if name == "audio_path" and value in (None, ""):
                    record[name] = None
                    continue
                raise ManifestError(f"{manifest}:{line}: empty or non-text {name!r}: {value!r}")
            path = Path(os.path.normpath(base / Path(value.strip()).expanduser()))
            reason = _check_media_file(path)
            if reason is not None and problem is None:
                problem = ManifestProblem(line, str(path), reason)
            record[name] = str(path)
        if "label" in columns:
            label = row.get("label")
            label = label.strip() if isinstance(label, str) else label
            if label in (None, ""):
                raise ManifestError(f"{manifest}:{line}: empty label")
            if label_names is not None and label not in label_names:
                raise ManifestError(f"{manifest}:{line}: unknown label {label!r}; expected one of {list(label_names)}")
            record["label"] = list(label_names).index(label) if label_names is not None else str(label)
        for name in affect:
            record[name] = _parse_affect(manifest, line, name, row.get(name), value_range)
        if "speaker" in columns:
            speaker = row.get("speaker")
            if speaker is None or str(speaker).strip() == "":
                raise ManifestError(f"{manifest}:{line}: empty speaker")
            record["speaker"] = str(speaker).strip()
        for name in columns:
            if name not in record and name not in PATH_COLUMNS:
                record[name] = row.get(name)
        if problem is not None:
            report.problems.append(problem)
            continue
        records.append(record)

    if report.problems and missing_files == "error":
        listed = "\n".join(f"  {problem}" for problem in report.problems[:20])
        more = f"\n  ... and {len(report.problems) - 20} more" if len(report.problems) > 20 else ""
        raise ManifestError(f"{manifest}: {len(report.problems)} rows point to unusable files:\n{listed}{more}")
    if not records:
        raise ManifestError(f"{report.summary()}\nno usable row: every file is missing or unreadable")
    report.rows_kept = len(records)

    ordered = ["path"] + [name for name in ("audio_path", "label", *AFFECT_COLUMNS, "speaker") if name in columns]
    ordered += [name for name in columns if name not in ordered]
    features = {}
    for name in ordered:
        if name in PATH_COLUMNS or name == "speaker":
            features[name] = Value("string")
        elif name == "label":
            features[name] = ClassLabel(names=list(label_names)) if label_names is not None else Value("string")
        elif name in AFFECT_COLUMNS:
            features[name] = Value("float32")
    table = [{name: record[name] for name in ordered} for record in records]
    try:
        if len(features) == len(ordered):
            dataset = Dataset.from_list(table, features=Features(features))
        else:
            # Pass-through columns: let Arrow infer their types, then set ours.
            dataset = Dataset.from_list(table)
            dataset = dataset.cast(Features({**dataset.features, **features}))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ManifestError(f"{manifest}: a pass-through column mixes value types across rows ({error})") from None
    return ManifestDataset(dataset, report)


__all__ = ["ManifestDataset", "ManifestError", "ManifestProblem", "ManifestReport", "build_manifest_dataset"]
