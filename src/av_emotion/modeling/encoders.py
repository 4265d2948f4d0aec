"""Where each architecture keeps its pretrainable encoders (backbones), by modality.

The converters (`av_emotion.convert`) load published backbone weights into these modules, and the recipes
freeze them or give them their own learning rate (`av_emotion.training.freezing`). Paths are relative to the
architecture's base model (`model.base_model`), so they hold for every head. Only the backbones are listed:
attention, projection and fusion layers on top of them always train.

An architecture whose frozen encoders the recipes may compute once (`av_emotion.training.feature_cache`) gives its
base model `encode_<modality>(values, mask) -> (outputs, step_mask)` and its forward `<modality>_encoder_outputs` /
`<modality>_encoder_mask` inputs that replace the modality's input (Joint Cross-Attention: video and audio;
`av_metric_fusion` and AVT-CA: video).
"""

from __future__ import annotations

from torch import nn

# model_type -> modality -> sub-module path under the base model.
ENCODER_PATHS: dict[str, dict[str, str]] = {
    # EfficientFace stem (Chumachenko et al. 2022 load EfficientFace trained on AffectNet-7 here); the audio branch
    # is a few Conv1d blocks trained from scratch in the paper, so it has no pretrained encoder by default
    # (or, with `audio_encoder_config`, a transformers speech model in front of them).
    "avt_ca": {"video": "video_encoder", "audio": "audio_encoder"},
    # R(2+1)D-18 and the one-channel ResNet-18 (Praveen et al. 2022, from TSAV / torchvision).
    "joint_cross_attention": {"video": "video_encoder", "audio": "audio_encoder"},
    # The 3D and 2D ResNets inside each branch; the channel, spatial and temporal attention stay trainable.
    "av_metric_fusion": {"video": "video_encoder.backbone", "audio": "audio_encoder.backbone"},
}


def register_encoders(model_type: str, paths: dict[str, str]) -> None:
    """Declare the encoders of an architecture registered outside av_emotion."""
    ENCODER_PATHS[model_type] = dict(paths)


def encoder_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Return `{modality: module}` for the backbones of an av_emotion model (any head, or the base model).

    Raises:
        ValueError: the model's `model_type` has no declared encoders.
    """
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in ENCODER_PATHS:
        raise ValueError(
            f"no pretrained encoders are declared for model_type {model_type!r}; known: {sorted(ENCODER_PATHS)} "
            "(declare them with av_emotion.modeling.encoders.register_encoders)"
        )
    base = getattr(model, "base_model", model)
    modules = {}
    for modality, path in ENCODER_PATHS[model_type].items():
        parent_path, _, name = path.rpartition(".")
        module = getattr(base.get_submodule(parent_path) if parent_path else base, name, None)
        if module is not None:  # an optional encoder this configuration does not build
            modules[modality] = module
    return modules


def encoder_parameter_prefixes(model: nn.Module) -> dict[str, str]:
    """Return `{modality: "prefix."}` of each encoder's parameter names in `model.named_parameters()`."""
    modules = encoder_modules(model)
    names = {id(module): name for name, module in model.named_modules()}
    return {modality: names[id(module)] + "." for modality, module in modules.items()}


__all__ = ["ENCODER_PATHS", "encoder_modules", "encoder_parameter_prefixes", "register_encoders"]
