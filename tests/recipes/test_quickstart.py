"""`av-emotion quickstart`, shrunk: every step runs and prints, and the saved model predicts a held-out clip."""

from __future__ import annotations

import json

from av_emotion.cli import main


def test_quickstart_small(tmp_path, capsys):
    output_dir = tmp_path / "quickstart"
    status = main(
        [
            "quickstart",
            "--output-dir",
            str(output_dir),
            "--num-actors",
            "3",
            "--clips-per-emotion",
            "1",
            "--epochs",
            "1",
            "--workers",
            "1",
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0
    for step in range(1, 6):
        assert f"[{step}/5]" in printed
    assert "24 mp4 clips" in printed and "accuracy (WAR)" in printed and "truly angry" in printed
    assert "through pipeline(" in printed
    results = json.loads((output_dir / "model" / "results.json").read_text())
    assert results["speakers"] == {"train": [3], "validation": [2], "test": [1]}
    assert (output_dir / "model" / "model.safetensors").is_file()
    # A second run refuses to overwrite without --overwrite.
    assert main(["quickstart", "--output-dir", str(output_dir)]) == 2


def test_print_config_is_a_loadable_recipe(tmp_path, capsys):
    from av_emotion.training.config import load_config

    assert main(["quickstart", "--output-dir", str(tmp_path / "q"), "--print-config"]) == 0
    path = tmp_path / "recipe.yaml"
    path.write_text(capsys.readouterr().out)
    config = load_config(path)
    assert config.model.model_type == "avt_ca" and config.data.corpus == "synthetic"
    assert config.processor.preset == "synthetic"


def test_default_quickstart_runs_the_avt_ca_synthetic_recipe(tmp_path):
    # The quickstart is the benchmarked recipe (README accuracy table), not a look-alike: keep them together.
    import argparse
    import dataclasses

    from av_emotion.commands.quickstart import QUICKSTART_MODEL_TYPE, add_arguments, quickstart_recipe
    from av_emotion.training import load_config
    from av_emotion.training.config import config_from_dict
    from tests.recipes.conftest import CONFIGS

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = parser.parse_args([])
    recipe = quickstart_recipe(
        tmp_path,
        num_actors=defaults.num_actors,
        clips_per_emotion=defaults.clips_per_emotion,
        epochs=defaults.epochs,
        seed=defaults.seed,
        workers=defaults.workers,
    )
    quickstart = config_from_dict(recipe)
    shipped = load_config(CONFIGS / f"{QUICKSTART_MODEL_TYPE}_synthetic.yaml")
    for section in ("model", "processor", "augmentation", "optimizer", "scheduler"):
        assert getattr(quickstart, section) == getattr(shipped, section), section
    for key in ("generate", "num_folds", "fold", "validation_speakers"):
        assert getattr(quickstart.data, key) == getattr(shipped.data, key), key
    differing = {
        item.name
        for item in dataclasses.fields(quickstart.training)
        if getattr(quickstart.training, item.name) != getattr(shipped.training, item.name)
    }
    assert differing <= {"output_dir", "checkpoint_every_steps", "report_to"}, differing
