"""Accuracy benchmark on the synthetic corpus: fusion vs audio-only vs video-only, per architecture.

Every run is one call of the recipe library (`av_emotion.training.train`) on a shipped recipe YAML (by default
every `recipes/configs/*_synthetic.yaml`; the script never names an architecture, the YAML's `model.model_type`
does), on fold `data.fold` of the YAML: speaker-independent, the test actors are never seen in training or
validation (checked on every run's `results.json`). Three input conditions per architecture and seed:

- `fusion`: both modalities, the recipe as shipped;
- `audio`: a single-modality baseline trained and tested with the video left out of every batch for the
  whole run (`data.drop_modality=video`: the model runs its audio branch alone, the documented
  "missing modality" path of every architecture);
- `video`: the same with the audio left out.

These are true unimodal baselines (a separate model per condition, same architecture, same recipe, same
epochs), not a missing-modality test of the fusion model.

The synthetic corpus is built so that each modality alone confuses four pairs of emotions (at best 50%
accuracy) and only the two together separate the eight classes (`av_emotion.data.synthetic`). The goals
(issue 9): fusion UAR >= 90% for every architecture; the best single modality at least 10 points below fusion;
every run within 15 minutes on 2 CPU cores.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/accuracy.py                      # 3 seeds, all configs
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/accuracy.py --seeds 0 \\
        --configs recipes/configs/avt_ca_synthetic.yaml --conditions fusion audio video

Runs already finished in `--work-dir` (their `results.json` exists and their saved `recipe.yaml` is the recipe
asked for now) are read back, not retrained, so the benchmark can be run piecemeal; the JSON of raw numbers merges with the one already in `--results-dir`. Writes
`accuracy.md` (the table, also printed), `accuracy.png` (bar chart) and `accuracy.json` (every run's numbers).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from av_emotion.training import load_config

CONDITIONS = {"fusion": None, "audio": "video", "video": "audio"}  # condition -> modality dropped
FUSION_UAR_GOAL = 0.90
GAP_GOAL_POINTS = 10.0
TIME_GOAL_S = 15 * 60
RESULTS_NAME = "accuracy"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        type=Path,
        default=sorted(Path("recipes/configs").glob("*_synthetic.yaml")),
        help="recipe YAMLs (default: recipes/configs/*_synthetic.yaml)",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (default: 0 1 2)")
    parser.add_argument(
        "--conditions", nargs="+", choices=list(CONDITIONS), default=list(CONDITIONS), help="input conditions"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=Path("runs/benchmarks/accuracy"), help="corpus, cache and run folders"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=Path("benchmarks/results"), help="where accuracy.{md,png,json} go"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="*",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="extra recipe overrides applied to every run (recorded in the JSON)",
    )
    parser.add_argument("--report-only", action="store_true", help="only rebuild the table and chart from the JSON")
    return parser.parse_args(argv)


def corpus_dir(args: argparse.Namespace, config_path: Path) -> Path:
    """One corpus folder per distinct `data.generate` setting of the recipes (shared by the runs that agree)."""
    generate = load_config(config_path, args.overrides).data.generate
    if generate is None:
        raise ValueError(f"{config_path}: the accuracy benchmark needs a synthetic recipe with data.generate")
    key = hashlib.sha1(json.dumps(generate, sort_keys=True).encode()).hexdigest()[:10]
    return args.work_dir / f"corpus-{key}"


def run_overrides(args: argparse.Namespace, config_path: Path, seed: int, condition: str, run_dir: Path) -> list[str]:
    """The dotted overrides that turn a shipped recipe into one benchmark run (nothing else is changed)."""
    dropped = CONDITIONS[condition]
    return [
        f"training.seed={seed}",
        f"training.output_dir={run_dir}",
        # The corpus is written from the YAML's own `data.generate` settings; one preprocessing cache for every
        # run (keyed by the processor's settings and the split's clips).
        f"data.root={corpus_dir(args, config_path)}",
        f"data.cache_dir={args.work_dir / 'cache'}",
        f"data.drop_modality={'null' if dropped is None else dropped}",
        # No mid-run checkpoints or TensorBoard files: they change no number, only cost time and disk.
        "training.checkpoint_every_steps=0",
        "training.report_to=none",
        *args.overrides,
    ]


def check_speaker_independent(results: dict[str, Any], where: Path) -> None:
    """Raise if a test speaker was also a training or validation speaker."""
    speakers = results["speakers"]
    seen = set(map(str, speakers["train"])) | set(map(str, speakers["validation"]))
    leaked = sorted(seen & set(map(str, speakers["test"])))
    if leaked or not speakers["test"]:
        raise RuntimeError(f"{where}: not speaker-independent (test speakers {speakers['test']}, leaked {leaked})")


def run_one(args: argparse.Namespace, config_path: Path, seed: int, condition: str) -> dict[str, Any]:
    """Train (or read back) one run and return its record."""
    from av_emotion.training import train
    from av_emotion.training.data import ensure_synthetic_corpus

    run_dir = args.work_dir / config_path.stem / condition / f"seed_{seed}"
    overrides = run_overrides(args, config_path, seed, condition, run_dir)
    config = load_config(config_path, overrides)
    results_file = run_dir / "results.json"
    wall_s, load = None, None
    if results_file.is_file() and load_config(run_dir / "recipe.yaml") != config:
        # The YAML (or an override) changed since this run: its numbers no longer describe the recipe.
        print(f"[accuracy] {run_dir} was trained with another recipe; training it again", flush=True)
        results_file.unlink()
    if results_file.is_file():
        print(f"[accuracy] reading back {results_file}", flush=True)
        previous = run_dir / "benchmark_run.json"
        if previous.is_file():
            saved = json.loads(previous.read_text())
            wall_s, load = saved.get("wall_s"), saved.get("load_average_1_5_15_min_at_end")
    else:
        # Write the corpus before the clock starts: it is shared by every run, not part of one.
        ensure_synthetic_corpus(Path(config.data.root), config.data.generate, print)
        print(f"[accuracy] training {config_path.name} {condition} seed {seed} -> {run_dir}", flush=True)
        start = time.perf_counter()
        train(config)
        wall_s = time.perf_counter() - start
        load = os.getloadavg()
        # The machine may be shared: the load average says how much else ran beside this run.
        record = {"wall_s": wall_s, "load_average_1_5_15_min_at_end": load, "overrides": overrides}
        (run_dir / "benchmark_run.json").write_text(json.dumps(record, indent=2))
    results = json.loads(results_file.read_text())
    check_speaker_independent(results, results_file)
    test = results["test"]
    return {
        "config": str(config_path),
        "model_type": config.model.model_type,
        "condition": condition,
        "dropped_modality": CONDITIONS[condition],
        "seed": seed,
        "fold": results["fold"],
        "speakers": results["speakers"],
        "split_sizes": results["split_sizes"],
        "accuracy": float(test["accuracy"]),
        "uar": float(test["uar"]),
        "macro_f1": float(test.get("macro_f1", math.nan)),
        "test_loss": float(test["loss"]),
        "confusion_matrix": test.get("confusion_matrix"),
        "best_epoch": results["best_epoch"],
        "epochs": results["epochs"],
        "best_validation_uar": results["best_validation"],
        "wall_s": wall_s,
        "load_average_1_5_15_min_at_end": load,
        "overrides": overrides,
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _speaker_list(runs: list[dict[str, Any]], split: str) -> list[str]:
    """The speakers of `split` over `runs`, as strings, in natural order (actor 5 before actor 10)."""
    speakers = {str(speaker) for run in runs for speaker in run["speakers"][split]}
    return sorted(
        speakers, key=lambda speaker: (not speaker.isdigit(), int(speaker) if speaker.isdigit() else 0, speaker)
    )


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """`{model_type: {condition: {accuracy: (mean, std), uar: (mean, std), n, seeds, max_wall_s}}}`."""
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for run in runs:
        summary.setdefault(run["model_type"], {}).setdefault(run["condition"], {"runs": []})["runs"].append(run)
    for conditions in summary.values():
        for entry in conditions.values():
            group = entry.pop("runs")
            entry["accuracy"] = mean_std([run["accuracy"] for run in group])
            entry["uar"] = mean_std([run["uar"] for run in group])
            entry["n"] = len(group)
            entry["test_speakers"] = _speaker_list(group, "test")
            entry["train_speakers"] = _speaker_list(group, "train")
            entry["test_clips"] = sorted({run["split_sizes"]["test"] for run in group})
            entry["seeds"] = sorted(run["seed"] for run in group)
            times = [run["wall_s"] for run in group if run["wall_s"] is not None]
            entry["max_wall_s"] = max(times) if times else None
            entry["mean_wall_s"] = statistics.fmean(times) if times else None
    return summary


def goals(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per architecture: whether each goal of issue 9 is met (None where a condition was not run)."""
    verdicts = {}
    for model_type, conditions in summary.items():
        fusion = conditions.get("fusion")
        singles = [conditions[name]["uar"][0] for name in ("audio", "video") if name in conditions]
        fusion_uar = fusion["uar"][0] if fusion else None
        best_single = max(singles) if singles else None
        times = [entry["max_wall_s"] for entry in conditions.values() if entry["max_wall_s"] is not None]
        verdicts[model_type] = {
            "fusion_uar_ge_90": None if fusion_uar is None else fusion_uar >= FUSION_UAR_GOAL,
            "gap_points": None
            if fusion_uar is None or best_single is None or len(singles) < 2
            else 100 * (fusion_uar - best_single),
            "gap_ge_10_points": None
            if fusion_uar is None or len(singles) < 2
            else 100 * (fusion_uar - best_single) >= GAP_GOAL_POINTS,
            "every_run_within_15_min": None if not times else max(times) <= TIME_GOAL_S,
            "slowest_run_s": max(times) if times else None,
        }
    return verdicts


def _cell(entry: dict[str, Any] | None, metric: str) -> str:
    if entry is None:
        return "not run"
    mean, std = entry[metric]
    # One seed has no spread to report.
    return f"{100 * mean:.1f} ± {100 * std:.1f}" if entry["n"] > 1 else f"{100 * mean:.1f} (1 seed)"


def _yes_no(value: bool | None) -> str:
    return "not run" if value is None else ("yes" if value else "**no**")


def markdown_table(summary: dict[str, dict[str, dict[str, Any]]], verdicts: dict[str, dict[str, Any]]) -> str:
    """The results as Markdown: one row per architecture and condition, then the goals."""
    lines = [
        "| architecture | input | accuracy (%) | UAR (%) | seeds | train / test actors (test clips) "
        "| mean / max wall time per run (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for model_type, conditions in sorted(summary.items()):
        for condition in CONDITIONS:
            entry = conditions.get(condition)
            if entry is None:
                continue
            wall = "n/a" if entry["max_wall_s"] is None else f"{entry['mean_wall_s']:.0f} / {entry['max_wall_s']:.0f}"
            label = {"fusion": "audio + video", "audio": "audio only", "video": "video only"}[condition]
            seeds = " ".join(map(str, entry["seeds"]))
            actors = (
                f"{','.join(entry['train_speakers'])} / {','.join(entry['test_speakers'])} "
                f"({','.join(map(str, entry['test_clips']))})"
            )
            lines.append(
                f"| {model_type} | {label} | {_cell(entry, 'accuracy')} | {_cell(entry, 'uar')} | {seeds} | {actors} "
                f"| {wall} |"
            )
    lines += [
        "",
        "| architecture | fusion UAR >= 90% | best single modality >= 10 points below fusion (gap) "
        "| every run <= 15 min |",
        "|---|---|---|---|",
    ]
    for model_type, verdict in sorted(verdicts.items()):
        gap = "" if verdict["gap_points"] is None else f" ({verdict['gap_points']:.1f} points)"
        lines.append(
            f"| {model_type} | {_yes_no(verdict['fusion_uar_ge_90'])} | {_yes_no(verdict['gap_ge_10_points'])}{gap} "
            f"| {_yes_no(verdict['every_run_within_15_min'])} |"
        )
    return "\n".join(lines)


def bar_chart(summary: dict[str, dict[str, dict[str, Any]]], path: Path) -> None:
    """Grouped bars of test UAR (mean ± std over seeds) per architecture and condition, with the 90% goal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted(summary)
    width = 0.26
    colors = {"audio": "#4c72b0", "video": "#dd8452", "fusion": "#55a868"}
    figure, axis = plt.subplots(figsize=(max(6.5, 2.6 + 2.2 * len(models)), 5.0))
    for offset, condition in enumerate(["audio", "video", "fusion"]):
        xs, means, stds = [], [], []
        for index, model_type in enumerate(models):
            entry = summary[model_type].get(condition)
            if entry is None:
                continue
            xs.append(index + (offset - 1) * width)
            means.append(100 * entry["uar"][0])
            stds.append(100 * entry["uar"][1])
        if not xs:
            continue
        label = {"fusion": "audio + video", "audio": "audio only", "video": "video only"}[condition]
        bars = axis.bar(xs, means, width, yerr=stds, capsize=3, color=colors[condition], label=label)
        axis.bar_label(bars, fmt="%.0f", padding=2, fontsize=8)
    axis.axhline(100 * FUSION_UAR_GOAL, color="black", linestyle="--", linewidth=1, label="fusion goal (90%)")
    axis.axhline(50, color="grey", linestyle="-.", linewidth=1, label="single-modality ceiling by design (50%)")
    axis.axhline(100 / 8, color="grey", linestyle=":", linewidth=1, label="chance (12.5%)")
    axis.set_xticks(range(len(models)), models)
    axis.set_ylabel("test UAR (%), unseen actors")
    axis.set_ylim(0, 109)
    axis.set_title(
        "Synthetic corpus, unseen actors: single modality vs fusion (error bars: std over seeds)", fontsize=9
    )
    # Below the axes: inside, it would hide the bars that reach the top.
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def environment() -> dict[str, Any]:
    """Where the numbers were measured."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def write_outputs(runs: list[dict[str, Any]], results_dir: Path, command: str) -> str:
    """Write accuracy.json / .md / .png and return the Markdown."""
    results_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(runs)
    verdicts = goals(summary)
    table = markdown_table(summary, verdicts)
    json_summary = {
        model: {
            condition: {**entry, "accuracy": list(entry["accuracy"]), "uar": list(entry["uar"])}
            for condition, entry in conditions.items()
        }
        for model, conditions in summary.items()
    }
    payload = {
        "goals": {"fusion_uar": FUSION_UAR_GOAL, "gap_points": GAP_GOAL_POINTS, "time_s": TIME_GOAL_S},
        "verdicts": verdicts,
        "summary": json_summary,
        "runs": sorted(runs, key=lambda run: (run["model_type"], run["condition"], run["seed"])),
        "last_command": command,
        "environment": environment(),
    }
    (results_dir / f"{RESULTS_NAME}.json").write_text(json.dumps(payload, indent=2) + "\n")
    text = (
        "# Accuracy on the synthetic corpus (speaker-independent)\n\n"
        "Test actors never seen in training or validation; mean ± sample std over seeds. audio only / video "
        "only: a separate model of the same architecture trained and tested with the other modality left out "
        "for the whole run (`data.drop_modality`), not the fusion model with a modality missing. "
        "Wall time: the whole run (preprocessing, training, validation, test) on this machine; each run's load "
        "average at its end is in `accuracy.json`. A single modality can name the pair of emotions it sees but "
        "not the emotion within it, so its expected UAR is at most 50%; on 64 test clips chance moves it a few "
        "points either way.\n\n"
        "Each run's recipe YAML and overrides are in `accuracy.json` (raw numbers); the runs may come from "
        "several invocations (finished runs are read back). Full benchmark: `OMP_NUM_THREADS=1 PYTHONPATH=src "
        f"python benchmarks/accuracy.py`; last command: `{command}`.\n\n{table}\n"
    )
    (results_dir / f"{RESULTS_NAME}.md").write_text(text)
    bar_chart(summary, results_dir / f"{RESULTS_NAME}.png")
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = " ".join(["python benchmarks/accuracy.py", *(sys.argv[1:] if argv is None else argv)])
    json_path = args.results_dir / f"{RESULTS_NAME}.json"
    previous = json.loads(json_path.read_text())["runs"] if json_path.is_file() else []
    runs = {(run["config"], run["condition"], run["seed"]): run for run in previous}
    if not args.report_only:
        for config_path in args.configs:
            for seed in args.seeds:
                for condition in args.conditions:
                    record = run_one(args, config_path, seed, condition)
                    runs[(record["config"], condition, seed)] = record
                    print(
                        f"[accuracy] {record['model_type']} {condition} seed {seed}: accuracy "
                        f"{100 * record['accuracy']:.1f}%, UAR {100 * record['uar']:.1f}%, "
                        f"{record['wall_s'] or float('nan'):.0f} s",
                        flush=True,
                    )
                    write_outputs(list(runs.values()), args.results_dir, command)
    print(write_outputs(list(runs.values()), args.results_dir, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
