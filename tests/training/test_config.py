import pytest
import yaml

from av_emotion.training.config import RecipeConfig, apply_overrides, config_from_dict, load_config, save_config

MINIMAL = {"model": {"model_type": "x"}, "data": {"corpus": "ravdess", "root": "/data"}}


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(MINIMAL))
    config = load_config(
        path,
        ["training.seed=3", "model.config.hidden_size=64", "optimizer.betas=[0.8, 0.9]", "data.cache_dir=null"],
    )
    assert isinstance(config, RecipeConfig)
    assert config.training.seed == 3 and config.model.config == {"hidden_size": 64}
    assert config.optimizer.betas == (0.8, 0.9) and config.data.cache_dir is None
    assert config.data.preprocessing == "map" and config.optimizer.name == "adamw"


def test_round_trip_through_yaml(tmp_path):
    config = config_from_dict({**MINIMAL, "training": {"output_dir": "runs/{model_type}/{corpus}/f{fold}-s{seed}"}})
    save_config(config, tmp_path / "saved.yaml")
    again = load_config(tmp_path / "saved.yaml")
    assert again == config
    assert str(again.resolved_output_dir()) == "runs/x/ravdess/f0-s42"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({**MINIMAL, "trainig": {}}, r"unknown section\(s\) \['trainig'\]"),
        ({**MINIMAL, "training": {"sed": 1}}, r"unknown key\(s\) \['sed'\]; valid keys are"),
        ({"data": {"corpus": "ravdess"}}, "model.model_type is required"),
        ({"model": {"model_type": "x"}}, "data.corpus is required"),
        ({**MINIMAL, "optimizer": {"name": "lamb"}}, "adamw' or 'sgd"),
        ({**MINIMAL, "data": {"corpus": "ravdess", "preprocessing": "lazy"}}, "'map' or 'on_the_fly'"),
        ({**MINIMAL, "optimizer": {"lr": "fast"}}, r"optimizer: lr must be a number \(float\), got 'fast'"),
        ({**MINIMAL, "training": {"num_epochs": 2.5}}, "num_epochs must be a whole number, got 2.5"),
        ({**MINIMAL, "training": {"seed": True}}, "seed must be a number"),
    ],
)
def test_errors_name_the_key(raw, message):
    with pytest.raises(ValueError, match=message):
        config_from_dict(raw, source="recipe.yaml")


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="section.key=value"):
        apply_overrides(MINIMAL, ["training.seed"])
    with pytest.raises(ValueError, match="must start with one of"):
        apply_overrides(MINIMAL, ["seed=1"])
    with pytest.raises(FileNotFoundError, match="recipes/configs"):
        load_config(tmp_path / "nope.yaml")


def test_numbers_in_scientific_notation_are_floats(tmp_path):
    # PyYAML follows YAML 1.1, where `3e-3` (no dot) is a string; recipes read it as the float anyone means.
    path = tmp_path / "recipe.yaml"
    path.write_text("model: {model_type: x}\ndata: {corpus: ravdess}\noptimizer: {lr: 3e-3, weight_decay: 1E-2}\n")
    config = load_config(path, ["optimizer.eps=1e-6", "scheduler.warmup_ratio=0", "training.max_grad_norm=null"])
    assert config.optimizer.lr == 3e-3 and config.optimizer.weight_decay == 1e-2 and config.optimizer.eps == 1e-6
    assert isinstance(config.scheduler.warmup_ratio, float) and config.training.max_grad_norm is None
    # Only numbers: a version-like or word value is left a string (and then refused where a number is needed).
    assert apply_overrides({}, ["model.config.name=1e3x"])["model"]["config"]["name"] == "1e3x"
