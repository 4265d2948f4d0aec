"""Real speech: every architecture on the 24 RAVDESS actors' audio-only speech, 6 speaker-independent folds.

Every neural run is one call of the recipe library (`av_emotion.training.train`) on a shipped recipe YAML (by
default every `recipes/configs/*_ravdess_speech.yaml`; the YAML names the architecture), on fold `k` of the
HiCMAE protocol `ravdess_6fold` (`av_emotion.data.folds`: test actors 4k+1..4k+4, validation the 4 actors after
them, training the other 16). The models train from scratch through their missing-video path. Epochs and
settings were chosen on validation actors only; the epoch kept is the best on validation, never on test.

Beside them, on the same folds:

- `egemaps_linear`: the baseline a speech-emotion user would pick: openSMILE eGeMAPSv02 functionals (88 per
  utterance, Eyben et al. 2016), standardised, and a multinomial logistic regression (scikit-learn) whose
  inverse regularisation C is chosen on the fold's validation actors, then scored on its test actors;
- for `av_metric_fusion`, the ablation the paper's claim rests on: the same recipe with the emotional-metric
  loss off (`model.config.metric_loss_weight=0`), same folds and seeds (variant `no_metric_loss`).

Every run is checked speaker-independent (no test actor among the training or validation actors). Each run's
record is written to `benchmarks/results/real_speech_runs/` as soon as it finishes; a run whose record exists
with the same recipe is read back, not retrained, so the benchmark is resumable per (system, variant, fold,
seed) and may run as several processes (the summary is rebuilt from every record each time).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/real_speech.py                 # everything, seed 0
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/real_speech.py --systems egemaps
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/real_speech.py \\
        --configs recipes/configs/avt_ca_ravdess_speech.yaml --folds 0 1 2

Needs the `benchmarks` extra (`pip install -e .[benchmarks]`: opensmile, scikit-learn, matplotlib). Writes
`real_speech.md` (tables, also printed), `real_speech.png` (UAR per system, pooled confusion matrices) and
`real_speech.json` (summary and every run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import check_speaker_independent, environment, mean_std  # noqa: E402

from av_emotion.data.labels import RAVDESS_LABELS  # noqa: E402
from av_emotion.training import load_config  # noqa: E402

RESULTS_NAME = "real_speech"
RUNS_FOLDER = "real_speech_runs"
PROTOCOL = "ravdess_6fold"
NUM_FOLDS = 6
VALIDATION_SPEAKERS = 4
BASELINE = "egemaps_linear"
# Variants of a recipe: name -> extra overrides. The metric-loss ablation only applies to av_metric_fusion.
VARIANTS: dict[str, list[str]] = {"shipped": [], "no_metric_loss": ["model.config.metric_loss_weight=0"]}
MARGIN_GOAL_POINTS = 5.0
BEST_UAR_GOAL = 0.60
TIME_GOAL_S = 60 * 60
EGEMAPS_C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
# eGeMAPS is computed on 16 kHz audio (the usual rate in speech-emotion work; at RAVDESS' 48 kHz openSMILE takes
# about 0.7 s a file here, 1.7x the time at 16 kHz).
EGEMAPS_SAMPLING_RATE = 16000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs",
        nargs="+",
        type=Path,
        default=sorted(Path("recipes/configs").glob("*_ravdess_speech.yaml")),
        help="recipe YAMLs (default: recipes/configs/*_ravdess_speech.yaml)",
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=["models", "egemaps", "ablation"],
        default=["egemaps", "models", "ablation"],
        help="what to run: the recipes as shipped, the eGeMAPS baseline, the metric-loss ablation",
    )
    parser.add_argument("--folds", nargs="+", type=int, default=list(range(NUM_FOLDS)), help="folds (default 0-5)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds (default: 0)")
    parser.add_argument("--data-root", default=None, help="corpus folder (default: each recipe's data.root)")
    parser.add_argument(
        "--work-dir", type=Path, default=Path("runs/benchmarks/real_speech"), help="cache and run folders"
    )
    parser.add_argument(
        "--results-dir", type=Path, default=Path("benchmarks/results"), help="where real_speech.{md,png,json} go"
    )
    parser.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the tables and chart")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------------------


def record_path(args: argparse.Namespace, system: str, variant: str, fold: int, seed: int) -> Path:
    """Where one run's record lives (committed with the results)."""
    return args.results_dir / RUNS_FOLDER / f"{system}-{variant}-fold{fold}-seed{seed}.json"


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically (another benchmark process may be reading the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    temporary.write_text(json.dumps(payload, indent=2) + "\n")
    temporary.replace(path)


def recipe_overrides(args: argparse.Namespace, variant: str, fold: int, seed: int, run_dir: Path) -> list[str]:
    """The dotted overrides that turn a shipped recipe into one benchmark run."""
    overrides = [
        f"data.fold={fold}",
        f"training.seed={seed}",
        f"training.output_dir={run_dir}",
        # One preprocessing cache for every fold and architecture (same processor, same clips).
        f"data.cache_dir={args.work_dir / 'cache'}",
        "training.checkpoint_every_steps=0",
        "training.report_to=none",
        *VARIANTS[variant],
        *args.overrides,
    ]
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    return overrides


def summary_of_results(results: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a run's `results.json` that the benchmark reports."""
    test = results["test"]
    return {
        "fold": results["fold"],
        "speakers": results["speakers"],
        "split_sizes": results["split_sizes"],
        "accuracy": float(test["accuracy"]),
        "uar": float(test["uar"]),
        "macro_f1": float(test["macro_f1"]),
        "confusion_matrix": test["confusion_matrix"],
        "best_epoch": results.get("best_epoch"),
        "epochs": results.get("epochs"),
        "best_validation_uar": results.get("best_validation"),
    }


def run_model(args: argparse.Namespace, config_path: Path, variant: str, fold: int, seed: int) -> dict[str, Any]:
    """Train (or read back) one recipe run and return its record."""
    from av_emotion.training import train

    run_dir = args.work_dir / config_path.stem / variant / f"fold_{fold}" / f"seed_{seed}"
    overrides = recipe_overrides(args, variant, fold, seed, run_dir)
    config = load_config(config_path, overrides)
    system = config.model.model_type
    path = record_path(args, system, variant, fold, seed)
    if path.is_file():
        record = json.loads(path.read_text())
        if record.get("recipe") == config.to_dict():
            print(f"[real_speech] reading back {path}", flush=True)
            return record
        print(f"[real_speech] {path} was made with another recipe; training it again", flush=True)
    print(f"[real_speech] training {config_path.name} ({variant}) fold {fold} seed {seed} -> {run_dir}", flush=True)
    start = time.perf_counter()
    train(config)
    wall_s = time.perf_counter() - start
    results = json.loads((run_dir / "results.json").read_text())
    check_speaker_independent(results, run_dir / "results.json")
    record = {
        "system": system,
        "variant": variant,
        "config": str(config_path),
        "seed": seed,
        **summary_of_results(results),
        "wall_s": wall_s,
        "torch_threads": torch.get_num_threads(),
        # The machine may be shared: the load average says how much else ran beside this run.
        "load_average_1_5_15_min_at_end": os.getloadavg(),
        "overrides": overrides,
        "recipe": config.to_dict(),
    }
    write_json(path, record)
    return record


# ---------------------------------------------------------------------------------------------------------------
# eGeMAPS baseline
# ---------------------------------------------------------------------------------------------------------------


def decode_mono(path: str, rate: int) -> np.ndarray:
    """The file's first audio stream as float32 mono samples in [-1, 1] at `rate` Hz (PyAV's resampler)."""
    import av

    with av.open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        pieces = [
            frame.to_ndarray().reshape(-1)
            for packet_frame in container.decode(stream)
            for frame in resampler.resample(packet_frame)
        ]
        pieces += [frame.to_ndarray().reshape(-1) for frame in resampler.resample(None)]
        return np.concatenate(pieces).astype(np.float32)


def egemaps_features(args: argparse.Namespace, dataset: Any) -> np.ndarray:
    """(clips, 88) eGeMAPSv02 functionals of every clip, cached in the work folder (keyed by the file list)."""
    import hashlib

    import opensmile

    files = [row_audio or row_video for row_audio, row_video in zip(dataset["audio"], dataset["video"])]
    key = hashlib.sha1(json.dumps([files, EGEMAPS_SAMPLING_RATE]).encode()).hexdigest()[:12]
    cache = args.work_dir / f"egemaps-{key}.npy"
    if cache.is_file():
        return np.load(cache)
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    rows = []
    start = time.perf_counter()
    for index, path in enumerate(files):
        signal = decode_mono(path, EGEMAPS_SAMPLING_RATE)
        rows.append(smile.process_signal(signal, EGEMAPS_SAMPLING_RATE).to_numpy().reshape(-1))
        if index % 200 == 0:
            print(f"[real_speech] eGeMAPS {index}/{len(files)} ({time.perf_counter() - start:.0f} s)", flush=True)
    features = np.stack(rows).astype(np.float64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, features)
    return features


def classification_scores(labels: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    """WAR, UAR, macro-F1 and confusion matrix (rows: reference, columns: predicted) over the 8 classes."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

    classes = list(range(len(RAVDESS_LABELS)))
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "uar": float(recall_score(labels, predictions, labels=classes, average="macro", zero_division=0)),
        "macro_f1": float(f1_score(labels, predictions, labels=classes, average="macro", zero_division=0)),
        "confusion_matrix": confusion_matrix(labels, predictions, labels=classes).tolist(),
    }


def run_egemaps(args: argparse.Namespace, config_path: Path, fold: int, dataset: Any) -> dict[str, Any]:
    """Fit and score the eGeMAPS + standardised logistic-regression baseline on one fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from av_emotion.data.folds import get_fold

    path = record_path(args, BASELINE, "shipped", fold, 0)
    settings = {
        "c_grid": list(EGEMAPS_C_GRID),
        "sampling_rate": EGEMAPS_SAMPLING_RATE,
        "corpus_root": str(Path(args.corpus_root).resolve()),
    }
    if path.is_file() and json.loads(path.read_text()).get("settings") == settings:
        print(f"[real_speech] reading back {path}", flush=True)
        return json.loads(path.read_text())
    start = time.perf_counter()
    features = egemaps_features(args, dataset)
    labels = np.asarray(dataset["label"])
    speakers = np.asarray(dataset["speaker"])
    split = get_fold(PROTOCOL, fold, validation_speakers=VALIDATION_SPEAKERS)
    rows = {name: np.isin(speakers, getattr(split, name)) for name in ("train", "validation", "test")}

    def fit(c: float) -> Any:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
        return model.fit(features[rows["train"]], labels[rows["train"]])

    # C by validation UAR (never by test).
    validation_uar = {
        c: classification_scores(labels[rows["validation"]], fit(c).predict(features[rows["validation"]]))["uar"]
        for c in EGEMAPS_C_GRID
    }
    best_c = max(EGEMAPS_C_GRID, key=lambda c: (validation_uar[c], -c))
    predictions = fit(best_c).predict(features[rows["test"]])
    results = {
        "fold": fold,
        "speakers": {name: sorted(int(s) for s in set(speakers[rows[name]])) for name in rows},
        "split_sizes": {name: int(mask.sum()) for name, mask in rows.items()},
    }
    check_speaker_independent(results, path)
    record = {
        "system": BASELINE,
        "variant": "shipped",
        "config": "eGeMAPSv02 functionals + StandardScaler + LogisticRegression",
        "seed": 0,
        **results,
        **classification_scores(labels[rows["test"]], predictions),
        "best_epoch": None,
        "epochs": None,
        "best_validation_uar": validation_uar[best_c],
        "chosen_c": best_c,
        "validation_uar_by_c": {str(c): value for c, value in validation_uar.items()},
        "wall_s": time.perf_counter() - start,
        "load_average_1_5_15_min_at_end": os.getloadavg(),
        "settings": settings,
    }
    write_json(path, record)
    return record


# ---------------------------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------------------------


def check_every_run(runs: list[dict[str, Any]]) -> None:
    """Raise if any run had a test actor among its training or validation actors (or no test actor)."""
    for run in runs:
        check_speaker_independent(run, Path(f"{run['system']}/{run['variant']}/fold {run['fold']}"))


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`{"system/variant": {uar|accuracy|macro_f1: (mean, std), folds, n, pooled_confusion, total_wall_s, ...}}`.

    Mean and sample standard deviation over every run of the system (folds x seeds); the pooled confusion matrix
    sums the test confusion matrices of all its runs.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(f"{run['system']}/{run['variant']}", []).append(run)
    summary = {}
    for name, group in sorted(groups.items()):
        group = sorted(group, key=lambda run: (run["fold"], run["seed"]))
        times = [run["wall_s"] for run in group if run.get("wall_s") is not None]
        seeds = sorted({run["seed"] for run in group})
        # Wall time of one 6-fold run: the folds of one seed, summed (mean over seeds).
        per_seed = [sum(run["wall_s"] for run in group if run["seed"] == seed) for seed in seeds]
        summary[name] = {
            "system": group[0]["system"],
            "variant": group[0]["variant"],
            **{metric: mean_std([run[metric] for run in group]) for metric in ("uar", "accuracy", "macro_f1")},
            "n": len(group),
            "folds": sorted({run["fold"] for run in group}),
            "seeds": seeds,
            "per_fold": [
                {key: run[key] for key in ("fold", "seed", "uar", "accuracy", "macro_f1", "best_epoch", "wall_s")}
                for run in group
            ],
            "pooled_confusion": np.sum([run["confusion_matrix"] for run in group], axis=0).tolist(),
            "total_wall_s": statistics.fmean(per_seed) if times else None,
        }
    return summary


def goals(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's goals, per architecture (as shipped): margin over eGeMAPS, 6-fold time; and the best UAR."""
    baseline = summary.get(f"{BASELINE}/shipped")
    complete = {name: entry for name, entry in summary.items() if len(entry["folds"]) == NUM_FOLDS}
    verdicts: dict[str, Any] = {"architectures": {}}
    for name, entry in summary.items():
        if entry["system"] == BASELINE or entry["variant"] != "shipped":
            continue
        margin = None if baseline is None else 100 * (entry["uar"][0] - baseline["uar"][0])
        verdicts["architectures"][entry["system"]] = {
            "all_folds_run": name in complete,
            "margin_over_egemaps_points": margin,
            "beats_egemaps_by_5_points": None
            if margin is None or name not in complete
            else margin >= MARGIN_GOAL_POINTS,
            "six_fold_wall_s": entry["total_wall_s"],
            "six_fold_within_60_min": None
            if name not in complete or entry["total_wall_s"] is None
            else entry["total_wall_s"] <= TIME_GOAL_S,
        }
    architectures = [
        entry for name, entry in complete.items() if entry["system"] != BASELINE and entry["variant"] == "shipped"
    ]
    best = max(architectures, key=lambda entry: entry["uar"][0], default=None)
    verdicts["best"] = None if best is None else best["system"]
    verdicts["best_uar"] = None if best is None else best["uar"][0]
    verdicts["best_reaches_60"] = None if best is None else best["uar"][0] >= BEST_UAR_GOAL
    return verdicts


def ablation_on_shared_folds(summary: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """av_metric_fusion with vs without the metric loss on the (fold, seed) pairs both ran; None if none."""
    shipped = summary.get("av_metric_fusion/shipped")
    ablated = summary.get("av_metric_fusion/no_metric_loss")
    if shipped is None or ablated is None:
        return None
    with_metric = {(run["fold"], run["seed"]): run["uar"] for run in shipped["per_fold"]}
    without = {(run["fold"], run["seed"]): run["uar"] for run in ablated["per_fold"]}
    shared = sorted(set(with_metric) & set(without))
    if not shared:
        return None
    return {
        "folds": sorted({fold for fold, _ in shared}),
        "with_metric": statistics.fmean(with_metric[key] for key in shared),
        "without_metric": statistics.fmean(without[key] for key in shared),
        "difference": mean_std([with_metric[key] - without[key] for key in shared]),
    }


def _pm(pair: tuple[float, float] | list[float]) -> str:
    return f"{100 * pair[0]:.1f} ± {100 * pair[1]:.1f}"


def _yes_no(value: bool | None) -> str:
    return "not run" if value is None else ("yes" if value else "**no**")


def markdown(summary: dict[str, dict[str, Any]], verdicts: dict[str, Any]) -> str:
    """The summary table, the per-fold table and the goals, as Markdown."""
    lines = [
        "| system | variant | UAR (%) | WAR (%) | macro-F1 (%) | folds | seeds | 6-fold wall time (min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in summary.values():
        wall = "n/a" if entry["total_wall_s"] is None else f"{entry['total_wall_s'] / 60:.1f}"
        lines.append(
            f"| {entry['system']} | {entry['variant']} | {_pm(entry['uar'])} | {_pm(entry['accuracy'])} "
            f"| {_pm(entry['macro_f1'])} | {','.join(map(str, entry['folds']))} "
            f"| {','.join(map(str, entry['seeds']))} | {wall} |"
        )
    lines += ["", "Per fold (test UAR %, seed; best validation epoch):", ""]
    folds = sorted({run["fold"] for entry in summary.values() for run in entry["per_fold"]})
    lines.append("| system | variant | " + " | ".join(f"fold {fold}" for fold in folds) + " |")
    lines.append("|---|---|" + "---|" * len(folds))
    for entry in summary.values():
        cells = []
        for fold in folds:
            runs = [run for run in entry["per_fold"] if run["fold"] == fold]
            cells.append(
                " / ".join(
                    f"{100 * run['uar']:.1f}" + ("" if run["best_epoch"] is None else f" (ep {run['best_epoch']})")
                    for run in runs
                )
                or "not run"
            )
        lines.append(f"| {entry['system']} | {entry['variant']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| architecture | all 6 folds run | UAR margin over eGeMAPS >= 5 points | 6-fold run <= 60 min |",
        "|---|---|---|---|",
    ]
    for system, verdict in sorted(verdicts["architectures"].items()):
        margin = verdict["margin_over_egemaps_points"]
        margin_text = "" if margin is None else f" ({margin:+.1f})"
        wall = verdict["six_fold_wall_s"]
        wall_text = "" if wall is None else f" ({wall / 60:.0f} min)"
        lines.append(
            f"| {system} | {_yes_no(verdict['all_folds_run'])} "
            f"| {_yes_no(verdict['beats_egemaps_by_5_points'])}{margin_text} "
            f"| {_yes_no(verdict['six_fold_within_60_min'])}{wall_text} |"
        )
    ablation = ablation_on_shared_folds(summary)
    if ablation is not None:
        lines += [
            "",
            f"Emotional-metric loss ablation (av_metric_fusion), on the folds both variants ran "
            f"({','.join(map(str, ablation['folds']))}): UAR {100 * ablation['with_metric']:.1f}% with the loss, "
            f"{100 * ablation['without_metric']:.1f}% without (paired difference "
            f"{100 * ablation['difference'][0]:+.1f} ± {100 * ablation['difference'][1]:.1f} points).",
        ]
    best = verdicts["best"]
    lines += [
        "",
        f"Best architecture over all 6 folds: {best or 'none complete'}"
        + ("" if best is None else f", mean UAR {100 * verdicts['best_uar']:.1f}%")
        + f"; reaches 60%: {_yes_no(verdicts['best_reaches_60'])}.",
    ]
    return "\n".join(lines)


def chart(summary: dict[str, dict[str, Any]], path: Path) -> None:
    """Mean test UAR ± std per system, and the pooled test confusion matrix of each system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    figure, axes = plt.subplots(
        1, 1 + len(names), figsize=(4.2 * (1 + len(names)), 4.4), gridspec_kw={"width_ratios": [1.4] + [1] * len(names)}
    )
    axes = np.atleast_1d(axes)
    means = [100 * summary[name]["uar"][0] for name in names]
    stds = [100 * summary[name]["uar"][1] for name in names]
    labels = [name.replace("/shipped", "").replace("/", "\n") for name in names]
    bars = axes[0].bar(range(len(names)), means, yerr=stds, capsize=3, color="#4c72b0")
    axes[0].bar_label(bars, fmt="%.1f", padding=2, fontsize=8)
    axes[0].axhline(100 / len(RAVDESS_LABELS), color="grey", linestyle=":", linewidth=1, label="chance (12.5%)")
    axes[0].axhline(100 * BEST_UAR_GOAL, color="black", linestyle="--", linewidth=1, label="goal for the best (60%)")
    axes[0].set_xticks(range(len(names)), labels, fontsize=7)
    axes[0].set_ylabel("test UAR (%), unseen actors, mean ± std over folds")
    axes[0].set_ylim(0, 100)
    axes[0].legend(fontsize=7, loc="upper left")
    axes[0].set_title("RAVDESS speech, 6 speaker-independent folds", fontsize=9)
    short = [label[:3] for label in RAVDESS_LABELS]
    for axis, name, label in zip(axes[1:], names, labels):
        matrix = np.asarray(summary[name]["pooled_confusion"], dtype=float)
        rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        axis.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        for row in range(rates.shape[0]):
            for column in range(rates.shape[1]):
                axis.text(
                    column,
                    row,
                    f"{100 * rates[row, column]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if rates[row, column] > 0.5 else "black",
                )
        axis.set_xticks(range(len(short)), short, fontsize=6, rotation=90)
        axis.set_yticks(range(len(short)), short, fontsize=6)
        axis.set_xlabel("predicted", fontsize=7)
        axis.set_ylabel("true", fontsize=7)
        axis.set_title(f"{label.replace(chr(10), ' ')}\npooled test (% of row)", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def load_records(results_dir: Path) -> list[dict[str, Any]]:
    """Every run record written so far (by this or another benchmark process)."""
    folder = results_dir / RUNS_FOLDER
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def write_outputs(results_dir: Path, command: str) -> str:
    """Rebuild real_speech.{json,md,png} from every run record and return the Markdown."""
    runs = load_records(results_dir)
    if not runs:
        return "no runs yet"
    check_every_run(runs)
    summary = summarize(runs)
    verdicts = goals(summary)
    table = markdown(summary, verdicts)
    payload = {
        "protocol": PROTOCOL,
        "goals": {"margin_points": MARGIN_GOAL_POINTS, "best_uar": BEST_UAR_GOAL, "six_fold_time_s": TIME_GOAL_S},
        "verdicts": verdicts,
        "metric_loss_ablation": ablation_on_shared_folds(summary),
        "summary": summary,
        "runs": [{key: value for key, value in run.items() if key != "recipe"} for run in runs],
        "last_command": command,
        "environment": environment(),
    }
    write_json(results_dir / f"{RESULTS_NAME}.json", payload)
    env = payload["environment"]
    # The runs' own thread counts (the report may be rebuilt by a process with other settings).
    threads = Counter(str(run.get("torch_threads", "not recorded")) for run in runs)
    threads_text = ", ".join(f"{value} for {count} run(s)" for value, count in sorted(threads.items()))
    text = (
        "# Real speech: RAVDESS audio-only speech, 24 actors, 6 speaker-independent folds\n\n"
        "1,440 real utterances (8 emotions, chance 12.5%). HiCMAE's folds (`ravdess_6fold`): each fold tests 4 "
        "actors never seen in training or validation (checked on every run), validates on the next 4 and trains on "
        "the other 16. Neural models: the shipped `recipes/configs/*_ravdess_speech.yaml`, trained from scratch on "
        "audio through each model's missing-video path, epoch chosen on validation UAR. `egemaps_linear`: openSMILE "
        "eGeMAPSv02 functionals + standardised logistic regression, C chosen on validation UAR. "
        "`no_metric_loss`: av_metric_fusion with the emotional-metric loss off, same folds and seeds. Mean ± sample "
        "std over folds; WAR = accuracy. Wall time: the folds of a run summed (training, validation, test, and the "
        "one-off preprocessing for the first run), on a shared machine "
        f"({env['cpu_count']} CPU cores; torch threads per run process: {threads_text}; at most 3 runs at once; "
        f"each run's load average is in `{RESULTS_NAME}.json`).\n\n"
        f"Last command: `{command}`; per-run records in `{RUNS_FOLDER}/`.\n\n{table}\n"
    )
    (results_dir / f"{RESULTS_NAME}.md").write_text(text)
    chart(summary, results_dir / f"{RESULTS_NAME}.png")
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = " ".join(["python benchmarks/real_speech.py", *(sys.argv[1:] if argv is None else argv)])
    if not args.report_only:
        if "egemaps" in args.systems:
            from av_emotion.data.ravdess import build_ravdess

            config = load_config(args.configs[0], [f"data.root={args.data_root}"] if args.data_root else [])
            args.corpus_root = config.data.root
            dataset, _ = build_ravdess(config.data.root, **config.data.builder)
            for fold in args.folds:
                record = run_egemaps(args, args.configs[0], fold, dataset)
                print(f"[real_speech] eGeMAPS fold {fold}: UAR {100 * record['uar']:.1f}%", flush=True)
                write_outputs(args.results_dir, command)
        jobs = []
        if "models" in args.systems:
            jobs += [(config_path, "shipped") for config_path in args.configs]
        if "ablation" in args.systems:
            jobs += [
                (config_path, "no_metric_loss")
                for config_path in args.configs
                if load_config(config_path).model.model_type == "av_metric_fusion"
            ]
        for config_path, variant in jobs:
            for seed in args.seeds:
                for fold in args.folds:
                    record = run_model(args, config_path, variant, fold, seed)
                    print(
                        f"[real_speech] {record['system']} ({variant}) fold {fold} seed {seed}: UAR "
                        f"{100 * record['uar']:.1f}%, WAR {100 * record['accuracy']:.1f}%, {record['wall_s']:.0f} s",
                        flush=True,
                    )
                    write_outputs(args.results_dir, command)
    print(write_outputs(args.results_dir, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
