"""`av-emotion synth`: write a synthetic audio-video emotion corpus (see `av_emotion.data.synthetic`)."""

from __future__ import annotations

import argparse
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `synth` options; defaults come from `SyntheticCorpusConfig`."""
    from av_emotion.data.synthetic import SyntheticCorpusConfig

    defaults = SyntheticCorpusConfig()
    parser.add_argument("--out", required=True, help="folder to write the mp4 files and metadata.jsonl into")
    parser.add_argument("--actors", type=int, default=defaults.num_actors, help="number of actors (1-99)")
    parser.add_argument(
        "--clips-per-emotion", type=int, default=defaults.clips_per_emotion, help="clips per actor and emotion"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="master seed (same seed, same corpus)")
    parser.add_argument("--duration", type=float, default=defaults.duration_s, help="clip length in seconds")
    parser.add_argument("--size", type=int, default=defaults.frame_size, help="frame height and width in pixels (even)")
    parser.add_argument("--fps", type=float, default=defaults.fps, help="video frame rate")
    parser.add_argument("--sampling-rate", type=int, default=defaults.sampling_rate, help="audio sampling rate in Hz")
    parser.add_argument(
        "--nuisance",
        type=float,
        default=defaults.nuisance,
        help="scale of the emotion-independent variation: 0 clean, 1 default, >1 harder",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes rendering and encoding clips in parallel")
    parser.add_argument("--overwrite", action="store_true", help="write into a folder that already holds a corpus")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")


def run(args: argparse.Namespace) -> int:
    """Generate the corpus and print one progress line per clip on stderr; returns the exit code."""
    from av_emotion.data.synthetic import SyntheticClip, SyntheticCorpusConfig, generate_corpus

    try:
        config = SyntheticCorpusConfig(
            num_actors=args.actors,
            clips_per_emotion=args.clips_per_emotion,
            duration_s=args.duration,
            fps=args.fps,
            frame_size=args.size,
            sampling_rate=args.sampling_rate,
            seed=args.seed,
            nuisance=args.nuisance,
        )
    except ValueError as error:
        print(f"av-emotion synth: {error}", file=sys.stderr)
        return 2
    started = time.perf_counter()

    def progress(done: int, total: int, clip: SyntheticClip) -> None:
        if args.quiet:
            return
        elapsed = time.perf_counter() - started
        print(
            f"[{done:{len(str(total))}d}/{total}] {elapsed:6.1f}s {clip.path.name} ({clip.emotion}, actor {clip.actor})",
            file=sys.stderr,
            flush=True,
        )

    try:
        clips = generate_corpus(args.out, config, num_workers=args.workers, overwrite=args.overwrite, progress=progress)
    except (FileExistsError, ValueError) as error:
        print(f"av-emotion synth: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {len(clips)} clips ({config.num_actors} actors x 8 emotions x {config.clips_per_emotion}) "
        f"and metadata.jsonl to {args.out} in {time.perf_counter() - started:.1f}s"
    )
    return 0
