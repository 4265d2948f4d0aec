"""benchmarks/real_speech.py: summary, goals, tables, chart, leak check and read-back, on fake runs (no training)."""

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "real_speech.py"
ROOT = SCRIPT.parents[1]


@pytest.fixture(scope="module")
def real_speech():
    spec = importlib.util.spec_from_file_location("real_speech_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("accuracy", None)


def _confusion(correct: int) -> list[list[int]]:
    matrix = np.zeros((8, 8), dtype=int)
    for row in range(8):
        matrix[row, row] = correct
        matrix[row, (row + 1) % 8] = 10 - correct
    return matrix.tolist()


def _record(system, fold, uar, variant="shipped", wall_s=300.0, seed=0):
    test = [4 * fold + k for k in range(1, 5)]
    others = [actor for actor in range(1, 25) if actor not in test]
    return {
        "system": system,
        "variant": variant,
        "seed": seed,
        "fold": fold,
        "speakers": {"train": others[4:], "validation": others[:4], "test": test},
        "split_sizes": {"train": 960, "validation": 240, "test": 240},
        "accuracy": uar + 0.01,
        "uar": uar,
        "macro_f1": uar - 0.01,
        "confusion_matrix": _confusion(5),
        "best_epoch": 7,
        "wall_s": wall_s,
    }


def _write(real_speech, results_dir, records):
    for record in records:
        path = real_speech.record_path(
            real_speech.parse_args(["--results-dir", str(results_dir)]),
            record["system"],
            record["variant"],
            record["fold"],
            record["seed"],
        )
        real_speech.write_json(path, record)


def test_summary_goals_tables_and_chart(real_speech, tmp_path):
    records = [_record("egemaps_linear", fold, 0.40, wall_s=5.0) for fold in range(6)]
    uars_a = [0.60, 0.62, 0.58, 0.66, 0.64, 0.62]
    records += [_record("arch_a", fold, uar, wall_s=500.0) for fold, uar in enumerate(uars_a)]
    records += [_record("arch_a", fold, 0.55, variant="no_metric_loss") for fold in range(6)]
    records += [_record("arch_b", fold, 0.43, wall_s=700.0) for fold in range(6)]  # 3 points over eGeMAPS, 70 min
    records += [_record("arch_c", fold, 0.70) for fold in range(3)]  # not all folds
    _write(real_speech, tmp_path, records)

    summary = real_speech.summarize(real_speech.load_records(tmp_path))
    mean, std = summary["arch_a/shipped"]["uar"]
    assert mean == pytest.approx(statistics.fmean(uars_a)) and std == pytest.approx(statistics.stdev(uars_a))
    assert summary["arch_a/shipped"]["total_wall_s"] == pytest.approx(3000.0)
    # The pooled confusion matrix sums the folds' test matrices.
    assert summary["arch_a/shipped"]["pooled_confusion"][0][:2] == [30, 30]
    verdicts = real_speech.goals(summary)
    arch_a, arch_b = verdicts["architectures"]["arch_a"], verdicts["architectures"]["arch_b"]
    assert arch_a["margin_over_egemaps_points"] == pytest.approx(100 * (statistics.fmean(uars_a) - 0.40))
    assert arch_a["beats_egemaps_by_5_points"] is True and arch_a["six_fold_within_60_min"] is True
    assert arch_b["beats_egemaps_by_5_points"] is False and arch_b["six_fold_within_60_min"] is False
    # arch_c has 3 folds: no verdict, and it cannot be "the best" however high its UAR.
    assert verdicts["architectures"]["arch_c"]["beats_egemaps_by_5_points"] is None
    assert verdicts["best"] == "arch_a" and verdicts["best_reaches_60"] is True
    assert "no_metric_loss" not in json.dumps(verdicts["architectures"])

    text = real_speech.write_outputs(tmp_path, "python benchmarks/real_speech.py")
    assert "| arch_a | shipped | 62.0 ± 2.8 |" in text
    assert "| arch_a | no_metric_loss | 55.0 ± 0.0 |" in text
    assert "| arch_b | yes | **no** (+3.0) | **no** (70 min) |" in text
    assert "| arch_c | **no** | not run (+30.0) | not run (15 min) |" in text
    assert "Emotional-metric loss ablation" not in text  # no av_metric_fusion runs here
    assert "| arch_c | shipped | 70.0 (ep 7) | 70.0 (ep 7) | 70.0 (ep 7) | not run | not run | not run |" in text
    saved = json.loads((tmp_path / "real_speech.json").read_text())
    assert len(saved["runs"]) == len(records) and saved["verdicts"]["best"] == "arch_a"
    assert (tmp_path / "real_speech.png").read_bytes()[:4] == b"\x89PNG"


def test_a_run_with_a_test_actor_in_training_is_refused(real_speech, tmp_path):
    leaky = _record("arch_a", 0, 0.9)
    leaky["speakers"]["train"].append(1)  # actor 1 is a test actor of fold 0
    _write(real_speech, tmp_path, [_record("arch_a", 1, 0.5), leaky])
    with pytest.raises(RuntimeError, match="not speaker-independent"):
        real_speech.write_outputs(tmp_path, "python benchmarks/real_speech.py")


def test_runs_are_read_back_only_for_the_same_recipe(real_speech, tmp_path, monkeypatch):
    import av_emotion.training

    config_path = ROOT / "recipes" / "configs" / "av_metric_fusion_ravdess_speech.yaml"
    trained = []

    def fake_train(config):
        run_dir = Path(config.training.output_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        fake = _record("av_metric_fusion", config.data.fold, 0.5)
        results = {**fake, "test": {key: fake[key] for key in ("accuracy", "uar", "macro_f1", "confusion_matrix")}}
        (run_dir / "results.json").write_text(json.dumps({**results, "epochs": 30, "best_validation": 0.5}))
        trained.append(config)

    monkeypatch.setattr(av_emotion.training, "train", fake_train)
    arguments = ["--work-dir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "results")]
    args = real_speech.parse_args(arguments)
    record = real_speech.run_model(args, config_path, "shipped", 2, 0)
    again = real_speech.run_model(args, config_path, "shipped", 2, 0)
    assert len(trained) == 1 and again == json.loads(json.dumps(record))  # read back from the record
    assert trained[0].data.fold == 2 and "data.fold=2" in record["overrides"]
    # The ablation is another run: the metric loss off, same fold and seed.
    real_speech.run_model(args, config_path, "no_metric_loss", 2, 0)
    assert len(trained) == 2 and trained[-1].model.config["metric_loss_weight"] == 0
    # A changed recipe trains again.
    changed = real_speech.parse_args([*arguments, "--set", "training.num_epochs=3"])
    real_speech.run_model(changed, config_path, "shipped", 2, 0)
    assert len(trained) == 3 and trained[-1].training.num_epochs == 3


def test_egemaps_baseline_chooses_c_on_validation_and_tests_unseen_actors(real_speech, tmp_path, monkeypatch):
    pytest.importorskip("sklearn", reason="the baseline needs the benchmarks extra: pip install -e .[benchmarks]")
    import datasets

    rng = np.random.default_rng(0)
    speakers = np.repeat(np.arange(1, 25), 16)
    labels = np.tile(np.arange(8), 48)
    # 88 "functionals": the class is readable from a few of them, plus a per-speaker offset and noise.
    features = rng.normal(size=(len(labels), 88)) + 3.0 * np.eye(8)[labels].repeat(11, axis=1)
    features += rng.normal(size=(24, 88))[speakers - 1]
    dataset = datasets.Dataset.from_dict(
        {
            "label": labels.tolist(),
            "speaker": speakers.tolist(),
            "audio": [""] * len(labels),
            "video": [None] * len(labels),
        }
    )
    monkeypatch.setattr(real_speech, "egemaps_features", lambda args, data: features)
    args = real_speech.parse_args(["--work-dir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "results")])
    args.corpus_root = str(tmp_path)
    record = real_speech.run_egemaps(args, None, 3, dataset)
    assert record["speakers"]["test"] == [13, 14, 15, 16] and record["speakers"]["validation"] == [17, 18, 19, 20]
    assert record["split_sizes"] == {"train": 16 * 16, "validation": 64, "test": 64}
    assert record["chosen_c"] in real_speech.EGEMAPS_C_GRID
    assert record["best_validation_uar"] == max(record["validation_uar_by_c"].values())
    assert record["uar"] > 0.8 and np.sum(record["confusion_matrix"]) == 64
    assert real_speech.record_path(args, "egemaps_linear", "shipped", 3, 0).is_file()


def test_metric_loss_ablation_is_compared_on_shared_folds(real_speech, tmp_path):
    with_metric = [0.30, 0.40, 0.35, 0.50, 0.45, 0.40]
    records = [_record("av_metric_fusion", fold, uar) for fold, uar in enumerate(with_metric)]
    records += [_record("av_metric_fusion", fold, 0.30, variant="no_metric_loss") for fold in (1, 3)]
    _write(real_speech, tmp_path, records)
    ablation = real_speech.ablation_on_shared_folds(real_speech.summarize(real_speech.load_records(tmp_path)))
    # Only folds 1 and 3 are compared: 0.40 and 0.50 against 0.30 and 0.30.
    assert ablation["folds"] == [1, 3]
    assert ablation["with_metric"] == pytest.approx(0.45) and ablation["without_metric"] == pytest.approx(0.30)
    assert ablation["difference"][0] == pytest.approx(0.15)
    text = real_speech.write_outputs(tmp_path, "python benchmarks/real_speech.py")
    assert "on the folds both variants ran (1,3): UAR 45.0% with the loss, 30.0% without" in text
