"""`transformers.Trainer` on a builder's dataset with `AVEmotionCollator` and the packaged metrics, as the README shows."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import Trainer, TrainingArguments

from av_emotion import ARCHITECTURES, AVEmotionCollator, build_ravdess
from av_emotion.metrics import compute_metrics_for_trainer
from tests.data.fake_media import write_clip
from tests.modeling.tiny_configs import TINY_CONFIGS
from tests.pipelines.tiny_checkpoint import tiny_processor


@pytest.fixture(scope="module")
def ravdess_dataset(tmp_path_factory):
    """16 RAVDESS-named clips (4 actors x 4 emotions), 0.4 s of noise frames and a tone each."""
    root = tmp_path_factory.mktemp("ravdess_trainer")
    for actor in range(1, 5):
        for emotion in (1, 3, 5, 7):
            name = f"01-01-{emotion:02d}-{1 if emotion == 1 else 2:02d}-01-01-{actor:02d}.mp4"
            write_clip(root / f"Actor_{actor:02d}" / name, seed=10 * actor + emotion)
    build = build_ravdess(root, num_workers=1)
    assert len(build.dataset) == 16
    return build.dataset


def _arguments(tmp_path, epochs: int) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path / "trainer"),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        num_train_epochs=epochs,
        learning_rate=3e-3,
        # The collator decodes the `video` path column: Trainer must not drop the columns forward does not name.
        remove_unused_columns=False,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        dataloader_num_workers=0,
        seed=0,
    )


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_trainer_trains_and_evaluates_with_loss_and_uar(model_type, ravdess_dataset, tmp_path):
    architecture = ARCHITECTURES[model_type]
    torch.manual_seed(0)
    config = architecture.config_class(**TINY_CONFIGS[model_type])
    model = architecture.classification_class(config)
    if not hasattr(config, "num_frames"):  # av_metric_fusion reads snippets x frames per snippet
        config.num_frames = config.num_snippets * config.frames_per_snippet
    collator = AVEmotionCollator(processor=tiny_processor(config), on_media_error="raise")
    trainer = Trainer(
        model=model,
        args=_arguments(tmp_path, epochs=12),
        train_dataset=ravdess_dataset,
        eval_dataset=ravdess_dataset,
        data_collator=collator,
        compute_metrics=compute_metrics_for_trainer("classification", num_labels=config.num_labels),
    )
    before = trainer.evaluate()
    assert {"eval_loss", "eval_uar", "eval_accuracy", "eval_macro_f1"} <= set(before)

    result = trainer.train()
    assert math.isfinite(result.training_loss)
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 24  # 2 batches x 12 epochs, every one with a loss from the model

    after = trainer.evaluate()
    assert 0.0 <= after["eval_uar"] <= 1.0
    # It learns: 16 clips, 4 classes, fitted on the same clips it is scored on.
    assert after["eval_loss"] < 0.95 * before["eval_loss"], (before, after)
    assert after["eval_uar"] >= before["eval_uar"], (before, after)


def test_compute_metrics_takes_the_logits_of_a_tuple():
    from transformers import EvalPrediction

    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 1.0]]).numpy()
    labels = torch.tensor([0, 1, 1, 1]).numpy()
    compute = compute_metrics_for_trainer("classification")
    plain = compute(EvalPrediction(predictions=logits, label_ids=labels))
    as_tuple = compute(EvalPrediction(predictions=(logits, logits[:, :1]), label_ids=labels))
    assert plain == as_tuple
    # recall of class 0: 1/1; of class 1: 2/3 -> UAR 5/6; accuracy 3/4
    assert plain["uar"] == pytest.approx(5 / 6) and plain["accuracy"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="task must be"):
        compute_metrics_for_trainer("ranking")
