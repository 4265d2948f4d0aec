"""Model cards: they load as Hub cards, carry the run's real numbers, say what the model is, and their code runs."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import jinja2
import pytest
from huggingface_hub import ModelCard

from av_emotion.hub import MODEL_ID_PLACEHOLDER, render_model_card, template_path_for, templates_dir
from av_emotion.hub.model_card import EXAMPLE_CLIP, RELATION_MATRIX_FILE
from av_emotion.modeling import ARCHITECTURES
from tests.hub.conftest import python_blocks, recipe, save_processor, save_run


def _eval_values(card: ModelCard) -> dict[tuple[str, str | None], float]:
    """(metric type, args) -> value, from the card's parsed model-index."""
    values = {}
    for result in card.data.eval_results or []:
        args = json.dumps(result.metric_args, sort_keys=True) if result.metric_args else None
        values[(result.metric_type, args)] = result.metric_value
    return values


def test_card_loads_and_carries_the_run_metrics(tmp_path: Path, model_type: str):
    _, results = save_run(tmp_path, model_type)
    path = render_model_card(tmp_path, results=results, config=recipe(model_type))

    assert path == tmp_path / "README.md"
    card = ModelCard.load(path)  # parses the YAML metadata and the model-index (raises on malformed ones)
    test = results["test"]
    assert _eval_values(card) == {
        ("accuracy", None): test["accuracy"],
        ("recall", '{"average": "macro"}'): test["uar"],
        ("f1", '{"average": "macro"}'): test["macro_f1"],
    }
    result = card.data.eval_results[0]
    assert (result.dataset_type, result.dataset_split, result.dataset_config) == (
        "ravdess",
        "test",
        "ravdess_6fold/fold_0",
    )
    assert card.data.model_name == f"{model_type}-ravdess-fold0"
    assert card.data.license == "cc-by-nc-sa-4.0"  # RAVDESS' non-commercial licence carries over
    text = card.text
    assert f"{100 * test['accuracy']:.2f} %" in text and f"{100 * test['uar']:.2f} %" in text
    assert "| test | 1, 2, 3, 4 | 240 |" in text  # which actors
    assert "2 female and 2 male" in text  # RAVDESS: even actors female, odd male
    assert "![Confusion matrix on the test fold](confusion_matrix.png)" in text
    for label in results["label_names"]:
        assert f"`{label}`" in text
    for needle in ("```bibtex", "EU AI Act", "Article 5(1)(f)", "not the inner state", "24 professional actors"):
        assert needle in text, needle


def test_card_reads_the_run_files_when_not_given(tmp_path: Path):
    _, results = save_run(tmp_path, "avt_ca")
    card = ModelCard.load(render_model_card(tmp_path))
    assert _eval_values(card)[("accuracy", None)] == results["test"]["accuracy"]
    assert "AdamW (learning rate 0.001" in card.text  # from recipe.yaml
    assert "/home/someone" not in card.text  # local paths of the recipe and report stay out of the card


def test_cross_validation_summary_gives_mean_and_std(tmp_path: Path):
    save_run(tmp_path, "avt_ca")
    uar = [0.41, 0.52, 0.47]
    mean = sum(uar) / 3
    std = math.sqrt(sum((value - mean) ** 2 for value in uar) / 2)
    evaluation = {
        "runs": [{"model": f"fold_{i}", "fold": i, "split": "test", "uar": value} for i, value in enumerate(uar)],
        "summary": {"uar": {"mean": mean, "std": std, "n": 3, "values": uar}},
    }
    (tmp_path / "evaluation.json").write_text(json.dumps(evaluation))
    card = ModelCard.load(render_model_card(tmp_path))

    (result,) = card.data.eval_results
    assert result.metric_value == mean
    assert "mean over 3 runs" in result.metric_name and f"{std:.4f}" in result.metric_name
    assert f"{100 * mean:.2f} % ± {100 * std:.2f} %" in card.text
    assert result.dataset_config == "ravdess_6fold"


def test_regression_card(tmp_path: Path):
    regressors = [name for name, arch in ARCHITECTURES.items() if arch.regression_class is not None]
    if not regressors:
        pytest.skip("no registered architecture has a regression head")
    _, results = save_run(tmp_path, regressors[0], head="regression")
    card = ModelCard.load(render_model_card(tmp_path, results=results))
    assert _eval_values(card) == {
        ("ccc", None): results["test"]["ccc"],
        ("ccc", '{"target": "arousal"}'): results["test"]["ccc_arousal"],
        ("ccc", '{"target": "valence"}'): results["test"]["ccc_valence"],
    }
    assert "AutoModelForAudioVideoRegression" in card.text


def test_untrained_tiny_synthetic_models_say_so(tmp_path: Path):
    untrained = tmp_path / "untrained"
    save_run(untrained, "avt_ca", with_results=False, with_picture=False)
    card = ModelCard.load(render_model_card(untrained))
    assert "**Untrained model.**" in card.text and "No training record" in card.text
    assert "**Tiny configuration.**" in card.text
    assert not card.data.eval_results  # no numbers, no model-index
    assert "No scores" in card.text

    synthetic = tmp_path / "synthetic"
    _, results = save_run(synthetic, "avt_ca", corpus="synthetic")
    card = ModelCard.load(render_model_card(synthetic, results=results, config=recipe("avt_ca", "synthetic")))
    assert "**Trained on synthetic data only.**" in card.text
    assert "**Untrained model.**" not in card.text
    assert card.data.license == "apache-2.0"

    zero_steps = tmp_path / "zero_steps"
    _, results = save_run(zero_steps, "avt_ca")
    results["global_step"] = 0
    assert "0 optimizer steps" in ModelCard.load(render_model_card(zero_steps, results=results)).text


def test_paper_size_model_is_not_called_tiny(tmp_path: Path):
    from av_emotion import AVTCAConfig, AVTCAForEmotionClassification

    AVTCAForEmotionClassification(AVTCAConfig()).save_pretrained(tmp_path)
    text = ModelCard.load(render_model_card(tmp_path)).text
    assert "Tiny configuration" not in text
    assert "**Untrained model.**" in text


def test_usage_snippets_run_against_the_saved_folder(tmp_path: Path, model_type: str):
    model, results = save_run(tmp_path, model_type)
    text = render_model_card(tmp_path, results=results).read_text()
    blocks = python_blocks(text)
    assert blocks, "the card has no python snippet"
    assert all(MODEL_ID_PLACEHOLDER in block for block in blocks)
    for block in blocks:
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(block.replace(MODEL_ID_PLACEHOLDER, str(tmp_path)), "<card snippet>", "exec"), {})
        printed = eval(output.getvalue())  # the snippet prints a dict of label -> probability
        assert list(printed) == results["label_names"]
        assert sum(printed.values()) == pytest.approx(1.0, abs=0.01)


def test_usage_snippets_with_the_processor_run_on_a_clip(tmp_path: Path, generated_av_clip: Path):
    _, results = save_run(tmp_path, "avt_ca")
    save_processor(tmp_path)
    text = render_model_card(tmp_path, results=results).read_text()
    assert "`video_processor.num_frames` | `4`" in text  # the processor's settings, from processor_config.json
    assert "video: 4 frames sampled uniformly, 16×16 pixels, faces cropped" in text
    blocks = python_blocks(text)
    assert any("AutoProcessor.from_pretrained" in block for block in blocks)
    for block in blocks:
        code = block.replace(MODEL_ID_PLACEHOLDER, str(tmp_path)).replace(EXAMPLE_CLIP, str(generated_av_clip))
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(compile(code, "<card snippet>", "exec"), {})
        printed = eval(output.getvalue())
        if isinstance(printed, dict):  # the processor + model snippet: label -> probability
            assert list(printed) == results["label_names"]
            assert sum(printed.values()) == pytest.approx(1.0, abs=0.01)
        else:  # the pipeline: [{"label", "score"}, ...]
            assert {item["label"] for item in printed} <= set(results["label_names"])


def test_repo_id_goes_into_the_snippets(tmp_path: Path):
    save_run(tmp_path, "avt_ca")
    text = render_model_card(tmp_path, repo_id="alice/avt-ca-tiny", remote_code=True).read_text()
    assert MODEL_ID_PLACEHOLDER not in text
    assert '.from_pretrained("alice/avt-ca-tiny")' in text
    assert 'from_pretrained("alice/avt-ca-tiny", trust_remote_code=True)' in text
    assert ModelCard.load(tmp_path / "README.md").data.model_name == "avt-ca-tiny"


def test_relation_matrix_picture_when_the_model_has_one(tmp_path: Path, model_type: str):
    import matplotlib.image

    model, results = save_run(tmp_path, model_type)
    text = render_model_card(tmp_path, results=results).read_text()
    picture = tmp_path / RELATION_MATRIX_FILE
    if hasattr(model, "emotion_relation_matrix"):
        assert picture.is_file()
        assert matplotlib.image.imread(picture).ndim == 3
        assert f"]({RELATION_MATRIX_FILE})" in text
    else:
        assert not picture.exists()
        assert RELATION_MATRIX_FILE not in text


@pytest.mark.parametrize("template", ["own", "default"])
def test_templates_use_only_defined_variables(tmp_path: Path, model_type: str, template: str, monkeypatch):
    # ModelCard.from_template renders with jinja2.Template, which prints nothing for a misspelt variable: make
    # every undefined name an error while rendering.
    strict = jinja2.Environment(undefined=jinja2.StrictUndefined)
    monkeypatch.setattr(jinja2, "Template", strict.from_string)
    _, results = save_run(tmp_path, model_type)
    path = template_path_for(model_type) if template == "own" else templates_dir() / "default.md"
    card = ModelCard.load(render_model_card(tmp_path, results=results, template_path=path))
    assert card.data.eval_results


def test_every_registered_architecture_has_its_own_template():
    missing = [name for name in ARCHITECTURES if template_path_for(name).name == "default.md"]
    assert not missing, f"add av_emotion/hub/templates/<model_type>.md for {missing}"


def test_missing_config_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        render_model_card(tmp_path)


def test_training_hook_renders_the_card(tmp_path: Path):
    reporting = pytest.importorskip("av_emotion.training.reporting")
    _, results = save_run(tmp_path, "avt_ca")
    path = reporting.write_model_card_hook(tmp_path, results, recipe("avt_ca"))
    assert path == tmp_path / "README.md" and path.is_file()
