"""benchmarks/accuracy.py: summary statistics, goal verdicts, table and chart from run records (no training)."""

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy.py"


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location("accuracy_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(model_type, condition, seed, uar, wall_s=100.0):
    return {
        "config": f"recipes/configs/{model_type}_synthetic.yaml",
        "model_type": model_type,
        "condition": condition,
        "seed": seed,
        "speakers": {"train": [4, 5, 6], "validation": [3], "test": [1, 2]},
        "split_sizes": {"train": 96, "validation": 32, "test": 64},
        "accuracy": uar,
        "uar": uar,
        "wall_s": wall_s,
    }


def test_summary_verdicts_table_and_chart(accuracy, tmp_path):
    runs = [
        _run("arch_a", "fusion", 0, 0.95),
        _run("arch_a", "fusion", 1, 0.91, wall_s=950.0),
        _run("arch_a", "audio", 0, 0.50),
        _run("arch_a", "video", 0, 0.84),
        _run("arch_b", "fusion", 0, 0.70),
    ]
    summary = accuracy.summarize(runs)
    mean, std = summary["arch_a"]["fusion"]["uar"]
    assert mean == pytest.approx(0.93) and std == pytest.approx(statistics.stdev([0.95, 0.91]))
    assert summary["arch_a"]["audio"]["uar"] == (0.50, 0.0) and summary["arch_a"]["fusion"]["seeds"] == [0, 1]
    verdicts = accuracy.goals(summary)
    # Fusion 93% >= 90%; best single 84% is 9 points below (< 10); one run took 950 s > 900 s.
    assert verdicts["arch_a"]["fusion_uar_ge_90"] is True
    assert verdicts["arch_a"]["gap_points"] == pytest.approx(9.0)
    assert verdicts["arch_a"]["gap_ge_10_points"] is False
    assert verdicts["arch_a"]["every_run_within_15_min"] is False
    # arch_b has no single-modality run: the gap is "not run", not a pass or a fail.
    assert verdicts["arch_b"]["fusion_uar_ge_90"] is False and verdicts["arch_b"]["gap_ge_10_points"] is None

    text = accuracy.write_outputs(runs, tmp_path, "python benchmarks/accuracy.py --seeds 0 1")
    assert "| arch_a | audio + video | 93.0 ± 2.8 | 93.0 ± 2.8 | 0 1 |" in text
    assert "| arch_b | audio + video | 70.0 (1 seed) |" in text
    assert "| arch_a | yes | **no** (9.0 points) | **no** |" in text
    assert "| arch_b | **no** | not run | yes |" in text
    saved = json.loads((tmp_path / "accuracy.json").read_text())
    assert len(saved["runs"]) == 5 and saved["verdicts"]["arch_a"]["gap_ge_10_points"] is False
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"


def test_speaker_leak_is_refused(accuracy, tmp_path):
    results = {"speakers": {"train": [1, 2], "validation": [3], "test": [2, 4]}}
    with pytest.raises(RuntimeError, match="not speaker-independent"):
        accuracy.check_speaker_independent(results, tmp_path / "results.json")
    accuracy.check_speaker_independent({"speakers": {"train": [1], "validation": [], "test": [2]}}, tmp_path)


def test_single_modality_runs_drop_the_other_modality(accuracy, tmp_path):
    args = accuracy.parse_args(["--work-dir", str(tmp_path)])
    config = SCRIPT.parents[1] / "recipes" / "configs" / "avt_ca_synthetic.yaml"
    overrides = {
        condition: accuracy.run_overrides(args, config, 0, condition, tmp_path / "run")
        for condition in ("fusion", "audio", "video")
    }
    assert "data.drop_modality=null" in overrides["fusion"]
    assert "data.drop_modality=video" in overrides["audio"]
    assert "data.drop_modality=audio" in overrides["video"]


def test_finished_runs_are_read_back_only_for_the_same_recipe(accuracy, tmp_path, monkeypatch):
    import av_emotion.training
    from av_emotion.training import load_config, save_config

    config_path = SCRIPT.parents[1] / "recipes" / "configs" / "avt_ca_synthetic.yaml"
    args = accuracy.parse_args(["--work-dir", str(tmp_path)])
    trained = []

    def fake_train(config):
        # What a finished run leaves behind: the resolved recipe and the results.
        run_dir = Path(config.training.output_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "recipe.yaml")
        speakers = {"train": [5, 6], "validation": [3, 4], "test": [1, 2]}
        test = {"accuracy": 0.5, "uar": 0.5, "loss": 1.0}
        results = {"speakers": speakers, "split_sizes": {}, "test": test, "fold": 0, "best_epoch": 1}
        (run_dir / "results.json").write_text(json.dumps({**results, "epochs": 1, "best_validation": 0.5}))
        trained.append(config)

    monkeypatch.setattr(av_emotion.training, "train", fake_train)
    monkeypatch.setattr("av_emotion.training.data.ensure_synthetic_corpus", lambda *a, **k: None)
    accuracy.run_one(args, config_path, 0, "fusion")
    accuracy.run_one(args, config_path, 0, "fusion")
    assert len(trained) == 1  # the second call read the finished run back

    # The recipe changed since (here through an override): the old numbers no longer describe it.
    changed = accuracy.parse_args(["--work-dir", str(tmp_path), "--set", "training.num_epochs=3"])
    record = accuracy.run_one(changed, config_path, 0, "fusion")
    assert len(trained) == 2 and trained[-1].training.num_epochs == 3
    run_dir = tmp_path / config_path.stem / "fusion" / "seed_0"
    assert load_config(run_dir / "recipe.yaml").training.num_epochs == 3 and record["uar"] == 0.5
