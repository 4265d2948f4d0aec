"""What every corpus builder shares: the build report, the media probe, and the builder registry.

A builder scans a local folder, parses labels and speakers from file names, checks that each file opens
as media with the streams the corpus promises, and returns a `datasets.Dataset` whose media columns are
path strings (decoding happens later, through the model's processor, so `datasets` never needs
torchcodec). Files that cannot be used are never dropped silently: each one is listed, with its reason,
in the `BuildReport` returned beside the dataset, and `on_error="raise"` turns the first problem into an
error instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import datasets

if TYPE_CHECKING:
    from av_emotion.processing.media import MediaLimits

OnError = Literal["skip", "raise"]


class CorpusBuildError(ValueError):
    """A corpus folder could not be turned into a dataset (raised with `on_error="raise"`, or when empty)."""


@dataclass
class SkippedFile:
    """One file a builder did not use, and why."""

    path: str
    reason: str


@dataclass
class BuildReport:
    """What a builder found in a corpus folder.

    Attributes:
        corpus: Corpus name (`"ravdess"`, `"cremad"`, `"synthetic"`, ...).
        root: The folder that was scanned.
        found: Candidate files that matched the corpus' naming scheme.
        kept: Rows in the returned dataset.
        skipped: Matching files left out (unreadable, missing partner file, duplicate, known broken), each
            with its reason.
        ignored: Files that do not belong to the selection (another modality or vocal channel, an unknown
            name); listed so a wrong `root` is easy to spot, but not errors.
    """

    corpus: str
    root: str
    found: int = 0
    kept: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One human-readable paragraph: counts, then every skipped file with its reason."""
        lines = [
            f"{self.corpus} at {self.root}: {self.found} matching files, {self.kept} kept, "
            f"{len(self.skipped)} skipped, {len(self.ignored)} ignored (not in the selection)."
        ]
        lines += [f"  skipped {item.path}: {item.reason}" for item in self.skipped]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form (for the run's metrics file)."""
        return asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the report as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))


class CorpusBuild(NamedTuple):
    """A builder's result: `dataset, report = build_ravdess(root)`."""

    dataset: datasets.Dataset
    report: BuildReport


def check_media_file(
    path: str | Path, *, need_video: bool = True, need_audio: bool = True, limits: MediaLimits | None = None
) -> str | None:
    """Check that `path` is media within `limits`, with the needed streams, each decoding a first frame.

    Returns `None` when the file is usable, else a short reason (`"no audio stream"`, or what `probe_media`
    found: not media, truncated header, a `MediaLimits` bound exceeded, ...). The headers are checked first,
    with the same limits the processor applies (default `MediaLimits()`), so a file the processor would refuse
    is reported here rather than at its first batch; then one packet pass decodes a first frame of each
    needed stream. A cheap check (tens of milliseconds for a 720p clip): a file truncated in the middle can
    still pass and is then reported when the processor decodes it.
    """
    import av

    from av_emotion.processing.media import MediaError, open_media, primary_audio_stream, primary_video_stream

    path = Path(path)
    if not path.is_file():
        return "no such file"
    try:
        with open_media(path, limits) as (container, info):
            if need_video and not info.has_video:
                return "no video stream"
            if need_audio and not info.has_audio:
                return "no audio stream"
            # The streams the processor decodes: the first video stream that is not cover art, the first audio.
            video = primary_video_stream(container) if need_video else None
            audio = primary_audio_stream(container) if need_audio else None
            wanted = [stream for stream in (video, audio) if stream is not None]
            # One pass over the packets, no seeking (FLV has no index to seek with).
            pending = {stream.index: stream for stream in wanted}
            for packet in container.demux(*wanted):
                if packet.stream.index in pending and packet.decode():
                    del pending[packet.stream.index]
                    if not pending:
                        break
            if pending:
                return f"{next(iter(pending.values())).type} stream has no decodable frame"
    except MediaError as error:
        # The report names the file beside the reason: keep only the reason.
        return str(error).removeprefix(f"{path}: ")
    except (av.FFmpegError, OSError, ValueError) as error:
        return f"not readable as media ({type(error).__name__}: {error})"
    return None


def check_media_files(
    jobs: Sequence[tuple[str, bool, bool]], *, num_workers: int = 4, limits: MediaLimits | None = None
) -> list[str | None]:
    """`check_media_file` over `(path, need_video, need_audio)` jobs, in threads (PyAV releases the GIL)."""
    if not jobs:
        return []

    def run(job: tuple[str, bool, bool]) -> str | None:
        path, need_video, need_audio = job
        return check_media_file(path, need_video=need_video, need_audio=need_audio, limits=limits)

    if num_workers <= 1:
        return [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        return list(pool.map(run, jobs))


def records_to_dataset(
    records: list[dict[str, Any]],
    report: BuildReport,
    *,
    features: datasets.Features,
    on_error: OnError,
) -> CorpusBuild:
    """Turn parsed records into a `CorpusBuild`, enforcing `on_error` and refusing an empty result."""
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    if report.skipped and on_error == "raise":
        raise CorpusBuildError(
            f"{len(report.skipped)} file(s) of {report.corpus} at {report.root} cannot be used "
            f"(pass on_error='skip' to build without them):\n{report.summary()}"
        )
    report.kept = len(records)
    if not records:
        raise CorpusBuildError(
            f"no usable {report.corpus} clips under {report.root} ({report.found} matching names, "
            f"{len(report.skipped)} skipped, {len(report.ignored)} ignored); check the folder and the naming "
            f"scheme in the builder's docstring.\n{report.summary()}"
        )
    columns = {name: [record[name] for record in records] for name in features}
    return CorpusBuild(datasets.Dataset.from_dict(columns, features=features), report)


def find_files(root: Path, suffixes: Iterable[str]) -> list[Path]:
    """Every file under `root` (recursively) with one of `suffixes` (case-insensitive), sorted by path.

    Sorting makes a build independent of filesystem order.
    """
    wanted = {suffix.lower() for suffix in suffixes}
    return sorted(path for path in root.rglob("*") if path.is_file() and path.suffix.lower() in wanted)


def check_root(root: str | Path, corpus: str) -> Path:
    """Resolve a corpus folder, with a clear error when it does not exist."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise CorpusBuildError(f"{corpus} folder {path} does not exist or is not a directory; pass the corpus root")
    return path.resolve()


# ---------------------------------------------------------------------------------------------------
# Registry: corpus name -> builder, so recipes select a corpus by name from their config.
# ---------------------------------------------------------------------------------------------------


def build_manifest_corpus(
    root: str | Path,
    *,
    label_set: str | None = None,
    on_error: OnError = "skip",
    **kwargs: Any,
) -> CorpusBuild:
    """Build a corpus from a CSV/JSONL manifest (`av_emotion.data.manifest`), in the recipes' column names.

    Args:
        root: The manifest file (`path`, optional `audio_path`, `label` or `valence`/`arousal`, `speaker`).
        label_set: Check labels against this label set (`"ravdess"`, `"cremad"`) and make `label` a
            `ClassLabel` over it; None keeps the manifest's strings.
        on_error: `"skip"` drops rows whose media is missing (listed in the report); `"raise"` fails.
        **kwargs: Passed to `build_manifest_dataset` (`value_range`, `require_targets`).

    Returns:
        `CorpusBuild` whose dataset has `video` (the manifest's `path`) and `audio` (its `audio_path`, or None)
        beside the manifest's other columns.
    """
    from av_emotion.data.labels import get_label_set
    from av_emotion.data.manifest import build_manifest_dataset

    label_names = list(get_label_set(label_set)) if label_set else None
    dataset, manifest_report = build_manifest_dataset(
        root, label_names=label_names, missing_files="error" if on_error == "raise" else "report", **kwargs
    )
    dataset = dataset.rename_column("path", "video")
    if "audio_path" in dataset.column_names:
        dataset = dataset.rename_column("audio_path", "audio")
    else:
        dataset = dataset.add_column("audio", [None] * len(dataset), feature=datasets.Value("string"))
    report = BuildReport(corpus="manifest", root=str(root), found=manifest_report.rows_read, kept=len(dataset))
    report.skipped = [
        SkippedFile(problem.path, f"manifest line {problem.line}: {problem.reason}")
        for problem in manifest_report.problems
    ]
    return CorpusBuild(dataset, report)


def _builders() -> dict[str, Callable[..., CorpusBuild]]:
    # Imported here: the builders import this module.
    from av_emotion.data.affwild2 import build_affwild2_corpus
    from av_emotion.data.cremad import build_cremad
    from av_emotion.data.ravdess import build_ravdess, build_synthetic_corpus

    return {
        "affwild2": build_affwild2_corpus,
        "ravdess": build_ravdess,
        "cremad": build_cremad,
        "synthetic": build_synthetic_corpus,
        "manifest": build_manifest_corpus,
    }


def available_corpora() -> list[str]:
    """Names accepted by `build_corpus`."""
    return sorted(_builders())


def build_corpus(name: str, root: str | Path, **kwargs: Any) -> CorpusBuild:
    """Build the corpus called `name` from the folder `root` (keyword arguments go to its builder)."""
    builders = _builders()
    if name not in builders:
        raise ValueError(f"unknown corpus {name!r}; choose one of {sorted(builders)}")
    return builders[name](root, **kwargs)
