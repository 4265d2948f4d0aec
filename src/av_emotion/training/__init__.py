"""The library side of the training and evaluation recipes (`recipes/train.py`, `recipes/evaluate.py`).

- `config`: the recipe dataclasses and YAML loading (`load_config`).
- `factory`: config -> model and processor (`build_model`, `build_processor`); never names an architecture.
- `data`: corpus -> fold splits -> processed examples (`prepare_data`).
- `loop`: the Accelerate training loop (`train`) and evaluation pass (`evaluate_model`).
- `checkpointing`: atomic checkpoints and resume.
- `evaluation`: saved models on folds, mean ± std (`evaluate_saved_model`, `summarize_runs`).
- `reporting`: results JSON, confusion-matrix PNG, the model-card hook.
"""

from av_emotion.training.config import RecipeConfig, config_from_dict, load_config, save_config

__all__ = ["RecipeConfig", "config_from_dict", "load_config", "save_config", "train"]


def __getattr__(name: str):
    # `train` pulls in accelerate and datasets; import it on first use.
    if name == "train":
        from av_emotion.training.loop import train

        return train
    raise AttributeError(name)
