"""Every architecture, at its shipped synthetic-recipe size, learns the synthetic corpus.

The clips are real mp4 files from `av_emotion.data.synthetic`, decoded and featurised by the processor
preset the recipes use; the model is built from the `model.config` section of
`recipes/configs/<model_type>_synthetic.yaml`. Training is a plain full-batch AdamW loop so the test
measures the model, not the recipe (the recipe has its own tests): the training loss must fall and the
training accuracy must reach at least 4x chance (1/8). Slow: run with `-m slow`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from av_emotion.data.synthetic import SyntheticCorpusConfig, generate_corpus
from av_emotion.modeling import ARCHITECTURES, AutoModelForAudioVideoClassification
from av_emotion.processing import AVEmotionProcessor

CONFIGS = Path(__file__).resolve().parents[2] / "recipes" / "configs"
STEPS = 60


@pytest.fixture(scope="module")
def corpus_batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    clips = generate_corpus(out, SyntheticCorpusConfig(num_actors=2, clips_per_emotion=2, seed=3))
    processor = AVEmotionProcessor.from_preset("synthetic")
    batch = processor(paths=[str(clip.path) for clip in clips], labels=[clip.label_id for clip in clips])
    names = set(processor.model_input_names) | {"labels"}
    return {key: value for key, value in batch.items() if key in names}


@pytest.mark.slow  # about a minute per architecture on 2 cores
@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_learns_the_synthetic_corpus(model_type, corpus_batch):
    recipe = yaml.safe_load((CONFIGS / f"{model_type}_synthetic.yaml").read_text())
    assert recipe["model"]["model_type"] == model_type
    config = ARCHITECTURES[model_type].config_class(**recipe["model"]["config"])
    torch.manual_seed(0)
    model = AutoModelForAudioVideoClassification.from_config(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    labels = corpus_batch["labels"]

    losses = []
    model.train()
    for _ in range(STEPS):
        loss = model(**corpus_batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        accuracy = (model(**corpus_batch).logits.argmax(-1) == labels).float().mean().item()

    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
    assert accuracy >= 0.5, f"train accuracy {accuracy:.2f} after {STEPS} steps (chance 0.125)"
