"""`av-emotion predict`: emotions of video files, through `pipeline("audio-video-emotion")`.

Examples:
    av-emotion predict clip.mp4 --model ./my-model
    av-emotion predict a.mp4 b.mp4 --model user/repo --top-k 3 --json
    av-emotion predict talk.mp4 --model ./my-model --window 4 --stride 2 --plot timeline.png

Results go to stdout (a table, or JSON with `--json`); progress bars, warnings and errors go to stderr, so `--json`
output can be piped. Every result says what the model saw: the share of sampled frames with a face and the modalities
used (a silent audio track is not one); a file in which no face was found gets a warning line, and
`--min-face-fraction` abstains below a share. A file that cannot be decoded gets a one-line error naming it; the others
are still predicted and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

# Heavy imports (torch, transformers, matplotlib) happen inside `run` so `av-emotion --help` stays fast.

# The pipeline's `DETAIL_KEYS` (what the model saw), repeated here so that importing this module stays light.
DETAIL_KEYS = ("face_fraction", "modalities", "abstained")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `predict` arguments to its sub-parser."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  av-emotion predict clip.mp4 --model ./my-model\n"
        "  av-emotion predict a.mp4 b.mp4 --model user/repo --top-k 3 --json\n"
        "  av-emotion predict talk.mp4 --model ./my-model --window 4 --stride 2 --plot timeline.png\n\n"
        'JSON output: a list with one object per file: {"path", "labels": [{"label", "score"}]} for a\n'
        'classification model, {"path", "valence", "arousal"} for a regression model, or with --window\n'
        '{"path", "timeline": [{"start", "end", "labels"}], "aggregate": [...]} (aggregate = mean of the\n'
        'window probabilities). Each file and each window also has "face_fraction" (share of the sampled\n'
        'frames with a detected face, null without video), "modalities" (["video", "audio"]: the branches that\n'
        'ran) and "abstained" (true below --min-face-fraction; its labels are then []).\n'
        "Files that fail are reported on stderr and the exit status is 1."
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="video files (mp4, mkv, avi, flv, webm, ...)")
    parser.add_argument(
        "--model", required=True, metavar="DIR_OR_REPO", help="a local model directory or a Hugging Face Hub repo id"
    )
    parser.add_argument(
        "--top-k", type=int, default=None, metavar="N", help="print only the N most likely emotions (default: all)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON to stdout instead of a table")
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        metavar="S",
        help="predict on windows of S seconds along the video and print a timeline plus an aggregate",
    )
    parser.add_argument(
        "--stride", type=float, default=None, metavar="S", help="seconds between window starts (default: --window)"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PNG",
        help="with --window: draw each emotion's probability over time to this PNG (several files: one PNG each, "
        "named PNG-stem_file-stem.png)",
    )
    parser.add_argument(
        "--allow-missing-audio",
        action="store_true",
        help="predict from the video alone for files without an audio track (default: error)",
    )
    parser.add_argument(
        "--allow-missing-video",
        action="store_true",
        help="predict from the audio alone for files without a video stream (default: error)",
    )
    parser.add_argument(
        "--modalities",
        nargs="+",
        choices=("video", "audio"),
        default=None,
        metavar="M",
        help="run only these branches: video, audio or both (default both); e.g. --modalities video for a file whose "
        "audio track is silent",
    )
    parser.add_argument(
        "--min-face-fraction",
        type=float,
        default=None,
        metavar="F",
        help="abstain (no labels) for a file or window where fewer than this share of the sampled frames, in [0, 1], "
        "had a face",
    )
    parser.add_argument(
        "--device",
        default=None,
        help='"cpu", "cuda", "cuda:1", ... (default: first GPU if CUDA is available, else CPU)',
    )
    parser.add_argument(
        "--batch-size", type=int, default=1, metavar="N", help="clips or windows per forward pass (default: 1)"
    )


def _as_flags(message: str) -> str:
    """Library messages name the keyword argument; on the command line the fix is the flag."""
    for keyword in ("allow_missing_audio", "allow_missing_video"):
        message = message.replace(f"{keyword}=True", "--" + keyword.replace("_", "-"))
    message = message.replace("pass window_s (pipeline, CLI) or use iter_clips", "pass --window")
    return message.replace("modalities=('video',)", "--modalities video")


def _error(message: str) -> None:
    first_line = str(message).strip().splitlines()[0] if str(message).strip() else "unknown error"
    print(f"av-emotion predict: error: {_as_flags(first_line)}", file=sys.stderr)


def _check_arguments(args: argparse.Namespace) -> str | None:
    if args.stride is not None and args.window is None:
        return "--stride needs --window"
    if args.plot is not None and args.window is None:
        return "--plot draws a timeline and needs --window (for example --window 4)"
    if args.window is not None and args.window <= 0:
        return f"--window must be a positive number of seconds, got {args.window}"
    if args.stride is not None and args.stride <= 0:
        return f"--stride must be a positive number of seconds, got {args.stride}"
    if args.top_k is not None and args.top_k < 1:
        return f"--top-k must be at least 1, got {args.top_k}"
    if args.batch_size < 1:
        return f"--batch-size must be at least 1, got {args.batch_size}"
    if args.min_face_fraction is not None and not 0.0 <= args.min_face_fraction <= 1.0:
        return f"--min-face-fraction must be a share of frames in [0, 1], got {args.min_face_fraction}"
    return None


def _parse_device(device: str | None) -> Any:
    if device is None:
        return None
    try:
        return int(device)
    except ValueError:
        return device


def _trim(result: Any, top_k: int | None) -> Any:
    """Keep the `top_k` first labels of every label list in a pipeline result (lists are already sorted)."""
    if top_k is None:
        return result
    if isinstance(result, list):
        return result[:top_k]
    if isinstance(result, dict) and "timeline" in result:
        return {
            **result,
            "timeline": [_trim(entry, top_k) for entry in result["timeline"]],
            "aggregate": _trim(result["aggregate"], top_k),
        }
    if isinstance(result, dict) and "labels" in result:
        return {**result, "labels": result["labels"][:top_k]}
    return result


def _record(path: str, result: Any) -> dict[str, Any]:
    """One JSON record per file: the path plus the pipeline result (a label list goes under "labels")."""
    if isinstance(result, list):
        return {"path": path, "labels": result}
    return {"path": path, **result}


def _scores_of(result: Any) -> Any:
    """Return the label list (classification) or `{name: value}` (regression) of a result, window or aggregate."""
    if isinstance(result, dict) and "labels" in result:
        return result["labels"]
    if isinstance(result, dict):
        return {k: v for k, v in result.items() if k not in ("start", "end", "path", *DETAIL_KEYS)}
    return result


def _format_scores(result: Any) -> str:
    scores = _scores_of(result)
    if not scores or (isinstance(scores, dict) and all(value is None for value in scores.values())):
        return "abstained"
    if isinstance(scores, list):
        return ", ".join(f"{item['label']} {item['score']:.3f}" for item in scores)
    return ", ".join(f"{name} {value:+.3f}" for name, value in scores.items())


def _format_seen(result: dict[str, Any]) -> str:
    """Say what the model saw: `face in 94% of sampled frames; modalities: video, audio`."""
    fraction = result.get("face_fraction")
    face = "face not measured" if fraction is None else f"face in {fraction:.0%} of sampled frames"
    used = ", ".join(result.get("modalities") or []) or "none"
    return f"{face}; modalities: {used}" + ("; abstained" if result.get("abstained") else "")


def _format_time(seconds: float) -> str:
    minutes, seconds = divmod(seconds, 60.0)
    return f"{int(minutes):02d}:{seconds:05.2f}"


def _print_table(path: str, result: Any) -> None:
    print(path)
    if isinstance(result, dict) and "modalities" in result:
        print(f"  seen: {_format_seen(result)}")
    if isinstance(result, dict) and "timeline" in result:
        for entry in result["timeline"]:
            seen = f"  ({_format_seen(entry)})" if "modalities" in entry else ""
            print(f"  {_format_time(entry['start'])}-{_format_time(entry['end'])}  {_format_scores(entry)}{seen}")
        print(f"  aggregate  {_format_scores(result['aggregate'])}")
        return
    scores = _scores_of(result)
    if _format_scores(result) == "abstained":
        print("  abstained")
    elif isinstance(scores, list):
        width = max(len(item["label"]) for item in scores)
        for item in scores:
            print(f"  {item['label']:<{width}}  {item['score']:.4f}")
    else:
        for name, value in scores.items():
            print(f"  {name:<8}  {value:+.4f}")


def plot_timeline(result: dict[str, Any], output: Path, title: str = "") -> None:
    """Draw each emotion's score over time (window centres, seconds) from a windowed pipeline result to a PNG.

    Classification: one line per label, probability in [0, 1]. Regression: valence and arousal in [-1, 1].
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = result["timeline"]
    centres = [(entry["start"] + entry["end"]) / 2 for entry in timeline]
    # One value per window; an abstained window (no labels, or None values) is a gap in every line.
    rows = [
        {item["label"]: item["score"] for item in entry["labels"]} if "labels" in entry else _scores_of(entry)
        for entry in timeline
    ]
    names = list(dict.fromkeys(name for row in rows for name in row))
    series = {name: [math.nan if row.get(name) is None else row[name] for row in rows] for name in names}
    is_regression = "labels" not in timeline[0]
    # Legend ordered by the aggregate (most likely emotion first).
    if not is_regression and result["aggregate"]:
        order = [item["label"] for item in result["aggregate"]]
        series = {label: series[label] for label in order if label in series}
    figure, axes = plt.subplots(figsize=(10, 4), dpi=100)
    for name, values in series.items():
        axes.plot(centres, values, marker="o", markersize=3, label=name)
    axes.set_xlabel("time (s, window centre)")
    axes.set_ylabel("value" if is_regression else "probability")
    axes.set_ylim((-1.05, 1.05) if is_regression else (0.0, 1.0))
    axes.set_xlim(timeline[0]["start"], timeline[-1]["end"])
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, format="png")
    plt.close(figure)


def _plot_path(plot: Path, path: str, several: bool) -> Path:
    if not several:
        return plot
    return plot.with_name(f"{plot.stem}_{Path(path).stem}{plot.suffix or '.png'}")


def run(args: argparse.Namespace) -> int:
    """Run `av-emotion predict`; returns the exit status (0 ok, 1 some file failed, 2 bad arguments or model)."""
    problem = _check_arguments(args)
    if problem:
        _error(problem)
        return 2

    from tqdm.auto import tqdm
    from transformers import pipeline
    from transformers.utils import logging as transformers_logging

    import av_emotion  # noqa: F401  (registers the pipeline)
    from av_emotion.pipelines import NoFaceWarning
    from av_emotion.processing import LongClipWarning, SilentAudioWarning, TruncatedMediaWarning
    from av_emotion.processing.media import MediaError

    transformers_logging.set_verbosity_error()
    # The weight-loading bar of every from_pretrained is noise here; Hub downloads keep their own bars.
    transformers_logging.disable_progress_bar()
    try:
        classifier = pipeline(
            "audio-video-emotion", model=args.model, device=_parse_device(args.device), batch_size=args.batch_size
        )
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        _error(f"cannot load the model from {args.model!r}: {error}")
        return 2

    call_kwargs: dict[str, Any] = {
        "allow_missing_audio": args.allow_missing_audio,
        "allow_missing_video": args.allow_missing_video,
        "return_details": True,
    }
    if args.modalities:
        call_kwargs["modalities"] = tuple(args.modalities)
    if args.min_face_fraction is not None:
        call_kwargs["min_face_fraction"] = args.min_face_fraction
    if args.window is not None:
        call_kwargs.update(window_s=args.window, stride_s=args.stride or args.window, progress=sys.stderr.isatty())

    paths = list(args.paths)
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    bar = tqdm(total=len(paths), unit="file", file=sys.stderr, disable=None if len(paths) > 1 else True)
    # Fast path: all files through one lazy pipeline call, so --batch-size batches across files. If a file fails
    # mid-stream, the remaining files go one at a time so each failure is attributed to its own file.
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            for path, result in zip(paths, classifier((path for path in paths), **call_kwargs)):
                results[path] = result
                bar.update(1)
        except (MediaError, ValueError, OSError):
            for path in paths:
                if path in results:
                    continue
                try:
                    results[path] = classifier(path, **call_kwargs)
                except (MediaError, ValueError, OSError) as error:
                    errors[path] = str(error) if str(path) in str(error) else f"{path}: {error}"
                bar.update(1)
    bar.close()

    records = [_record(path, _trim(results[path], args.top_k)) for path in paths if path in results]
    if args.json:
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for path in paths:
            if path in results:
                _print_table(path, _trim(results[path], args.top_k))
    if args.plot is not None:
        for path in paths:
            if path in results:
                target = _plot_path(args.plot, path, several=len(paths) > 1)
                plot_timeline(results[path], target, title=Path(path).name)
                print(f"timeline plot written to {target}", file=sys.stderr)
    # What the model could not see, one line each (a file retried after a failure in the batch warns only once).
    ours = (NoFaceWarning, SilentAudioWarning, TruncatedMediaWarning, LongClipWarning)
    for message in dict.fromkeys(str(w.message) for w in warned if issubclass(w.category, ours)):
        print(f"av-emotion predict: warning: {_as_flags(message)}", file=sys.stderr)
    for other in warned:
        if not issubclass(other.category, ours):
            warnings.showwarning(other.message, other.category, other.filename, other.lineno)
    for message in errors.values():
        _error(message)
    return 1 if errors else 0
