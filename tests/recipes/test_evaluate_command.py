"""`recipes/evaluate.py --fold all`: every fold's model on its own fold, several models (seeds), one summary."""

from __future__ import annotations

import argparse
import json

import yaml

from av_emotion.commands import evaluate as evaluate_command


def test_fold_all_formats_model_paths_and_summarises(tmp_path, monkeypatch, capsys):
    config = tmp_path / "recipe.yaml"
    config.write_text(
        yaml.safe_dump(
            {"model": {"model_type": "avt_ca"}, "data": {"corpus": "ravdess", "fold_protocol": "ravdess_6fold"}}
        )
    )
    calls = []

    def fake_evaluate(model_dir, fold_config, *, split, log, corpus, accelerator=None):
        calls.append((model_dir, fold_config.data.fold, split, corpus))
        seed = 1 if "seed1" in model_dir else 2
        return {
            "model": model_dir,
            "fold": fold_config.data.fold,
            "split": split,
            "accuracy": 0.5 + 0.01 * fold_config.data.fold * seed,
        }

    monkeypatch.setattr("av_emotion.training.evaluation.evaluate_saved_model", fake_evaluate)
    monkeypatch.setattr("av_emotion.training.data.build_corpus_of", lambda config, log: "CORPUS")
    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    args = parser.parse_args(
        [
            "--config", str(config),
            "--model", "runs/seed1/fold_{fold}",
            "--model", "runs/seed2/fold_{fold}",
            "--fold", "all",
            "--output", str(tmp_path / "summary.json"),
        ]
    )  # fmt: skip
    assert evaluate_command.run(args) == 0
    assert [(model, fold) for model, fold, _, _ in calls] == [
        *[(f"runs/seed1/fold_{k}", k) for k in range(6)],
        *[(f"runs/seed2/fold_{k}", k) for k in range(6)],
    ]
    assert {corpus for *_, corpus in calls} == {"CORPUS"}  # built once
    summary = json.loads((tmp_path / "summary.json").read_text())["summary"]["accuracy"]
    assert summary["n"] == 12
    assert summary["mean"] == sum(0.5 + 0.01 * k * s for s in (1, 2) for k in range(6)) / 12
    assert "(n=12)" in capsys.readouterr().out
