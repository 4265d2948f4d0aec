"""Optimisers and learning-rate schedules of the recipes: the AVT-CA recipe's SGD against a hand computation,
multi-step and plateau schedules, and a training run that steps them per epoch."""

from __future__ import annotations

import json

import pytest
import torch

from av_emotion.training.config import OptimizerSection, SchedulerSection, config_from_dict, load_config
from av_emotion.training.loop import build_optimizer, build_scheduler, train
from tests.recipes.conftest import CONFIGS
from tests.training.conftest import tiny_config_dict


def _toy_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))


def test_avt_ca_recipe_sgd_matches_a_hand_computed_sgd_with_dampening():
    # Chumachenko et al. 2022 (whose code AVT-CA forks): SGD lr 0.04, momentum 0.9, dampening 0.9, weight
    # decay 1e-3 on every parameter. torch.optim.SGD's rule, written out: g <- g + wd p; the momentum buffer
    # starts as g on the first step, then b <- mu b + (1 - dampening) g; p <- p - lr b.
    section = load_config(CONFIGS / "avt_ca_ravdess.yaml").optimizer
    assert (section.name, section.lr, section.momentum, section.dampening, section.weight_decay) == (
        "sgd",
        0.04,
        0.9,
        0.9,
        1e-3,
    )
    assert section.decay_all_parameters
    model = _toy_model()
    optimizer = build_optimizer(model, section)
    parameters = list(model.parameters())
    expected = [p.detach().double().clone() for p in parameters]
    buffers = [None] * len(parameters)
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        gradients = [torch.randn(p.shape, generator=generator) for p in parameters]
        for parameter, gradient in zip(parameters, gradients):
            parameter.grad = gradient.clone()
        optimizer.step()
        for index, gradient in enumerate(gradients):
            g = gradient.double() + 1e-3 * expected[index]  # biases and LayerNorm weights decay too
            buffers[index] = g if buffers[index] is None else 0.9 * buffers[index] + (1 - 0.9) * g
            expected[index] = expected[index] - 0.04 * buffers[index]
    for index, parameter in enumerate(parameters):
        torch.testing.assert_close(parameter.detach().double(), expected[index], rtol=1e-6, atol=1e-7)
        state = optimizer.state[parameter]["momentum_buffer"]
        torch.testing.assert_close(state.double(), buffers[index], rtol=1e-6, atol=1e-7)


def test_default_sgd_exempts_biases_and_norms_from_weight_decay():
    section = load_config(CONFIGS / "avt_ca_ravdess.yaml", ["optimizer.decay_all_parameters=false"]).optimizer
    groups = build_optimizer(_toy_model(), section).param_groups
    assert [group["weight_decay"] for group in groups] == [1e-3, 0.0]
    assert [len(group["params"]) for group in groups] == [2, 4]  # two weight matrices; biases + LayerNorm
    assert all(group["dampening"] == 0.9 for group in groups)


def test_avt_ca_recipe_divides_the_rate_by_10_at_epochs_40_55_65_70():
    config = load_config(CONFIGS / "avt_ca_ravdess.yaml")
    optimizer = build_optimizer(_toy_model(), config.optimizer)
    scheduler, by_epoch = build_scheduler(optimizer, config.scheduler, total_steps=1000, warmup_steps=0)
    assert by_epoch
    rates = []
    for _ in range(75):  # the rate used in each epoch, then the loop's end-of-epoch step
        rates.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
    for epoch, expected in [(0, 0.04), (39, 0.04), (40, 4e-3), (54, 4e-3), (55, 4e-4), (65, 4e-5), (70, 4e-6)]:
        assert rates[epoch] == pytest.approx(expected), epoch


def test_reduce_on_plateau_follows_the_validation_metric():
    section = SchedulerSection(name="reduce_on_plateau", kwargs={"factor": 0.5, "patience": 1})
    optimizer = build_optimizer(_toy_model(), OptimizerSection(name="sgd", lr=1.0))
    scheduler, by_epoch = build_scheduler(optimizer, section, total_steps=10, warmup_steps=0, greater_is_better=True)
    assert by_epoch
    rates = []
    for accuracy in [0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7]:
        scheduler.step(accuracy)
        rates.append(optimizer.param_groups[0]["lr"])
    # Two epochs without improvement (patience 1) halve the rate; improving resets the count.
    assert rates == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ({"name": "multistep", "milestones": []}, "needs milestones"),
        ({"name": "multistep", "milestones": [5, 3]}, "increasing epochs"),
        ({"name": "multistep", "milestones": [3], "warmup_steps": 2}, "has no warm-up"),
    ],
)
def test_schedule_errors_name_the_fix(scheduler, message):
    raw = {"model": {"model_type": "avt_ca"}, "data": {"corpus": "ravdess"}, "scheduler": scheduler}
    with pytest.raises(ValueError, match=message):
        config_from_dict(raw)
    with pytest.raises(ValueError, match="dampening applies to 'sgd' only"):
        config_from_dict({**raw, "scheduler": {}, "optimizer": {"name": "adamw", "dampening": 0.5}})


def test_training_steps_a_multistep_schedule_once_per_epoch(tiny_corpus, tiny_stack, tmp_path):
    raw = tiny_config_dict(tiny_corpus, tmp_path / "run")
    raw["optimizer"] = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.9, "decay_all_parameters": True}
    raw["scheduler"] = {"name": "multistep", "milestones": [1, 2], "gamma": 0.1}
    train(config_from_dict(raw), log=lambda line: None)
    history = json.loads((tmp_path / "run" / "results.json").read_text())["history"]
    # The rate after each epoch's step: 0.1 -> 0.01 (milestone 1) -> 0.001 (milestone 2) -> stays.
    assert [entry["lr"] for entry in history] == pytest.approx([0.01, 0.001, 0.001])


def test_resuming_restores_a_per_epoch_schedule(tiny_corpus, tiny_stack, tmp_path):
    from safetensors.torch import load_file

    def run_config(name):
        raw = tiny_config_dict(tiny_corpus, tmp_path / name, num_epochs=4, keep_last_checkpoints=10)
        raw["optimizer"] = {"name": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.9}
        raw["scheduler"] = {"name": "multistep", "milestones": [1, 2], "gamma": 0.1}
        return config_from_dict(raw)

    train(run_config("full"), log=lambda line: None)
    partial = run_config("resumed")
    train(partial, log=lambda line: None)
    # Checkpoint at step 9: epoch 3 of 4, after the schedule's two end-of-epoch steps (rate 0.001). A schedule
    # restarted from scratch would count its milestones again and train epoch 4 at 0.0001.
    train(partial, resume=str(tmp_path / "resumed" / "checkpoints" / "checkpoint-00000009"), log=lambda line: None)
    history = [json.loads((tmp_path / name / "results.json").read_text())["history"] for name in ("full", "resumed")]
    assert [entry["lr"] for entry in history[0]] == pytest.approx([0.01, 0.001, 0.001, 0.001])
    assert [entry["lr"] for entry in history[1]] == pytest.approx([entry["lr"] for entry in history[0]])
    full, resumed = (
        load_file(tmp_path / "full" / "model.safetensors"),
        load_file(tmp_path / "resumed" / "model.safetensors"),
    )
    for key in full:
        assert torch.equal(full[key], resumed[key]), key
