"""av_emotion: audio-video emotion recognition models for the Hugging Face ecosystem.

Importing the package registers every architecture with the `transformers` Auto classes, the processor
classes with `AutoProcessor`/`AutoVideoProcessor`/`AutoFeatureExtractor`, and the
`"audio-video-emotion"` pipeline, so `AutoModel.from_pretrained(...)` and
`pipeline("audio-video-emotion", ...)` work without `trust_remote_code`.

The import itself is cheap (no torch): like `transformers`, the package is lazy. A public name is imported from
its module on first access (`av_emotion.AVTCAConfig`, `from av_emotion import AVEmotionProcessor`), and the
registration with transformers happens when transformers' registries are first used (see
`av_emotion.registration`).

`AutoVideoProcessor` here is transformers' own class: `transformers.AutoVideoProcessor` is a placeholder that
asks for torchvision when it is not installed, while av_emotion's video processor needs no torchvision.
"""

from __future__ import annotations

import importlib
from typing import Any

from av_emotion import registration

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first access).
_EXPORTS: dict[str, list[str]] = {
    "av_emotion.data.affwild2": ["build_affwild2_dataset"],
    "av_emotion.data.collate": ["AVEmotionCollator"],
    "av_emotion.data.corpus": ["BuildReport", "CorpusBuild", "build_corpus"],
    "av_emotion.data.cremad": ["build_cremad"],
    "av_emotion.data.folds": ["FOLD_PROTOCOLS", "Fold", "get_fold", "speaker_independent_folds", "split_by_fold"],
    "av_emotion.data.labels": ["CREMAD_LABELS", "RAVDESS_LABELS", "label_index_map", "map_label"],
    "av_emotion.data.manifest": ["ManifestDataset", "ManifestError", "ManifestReport", "build_manifest_dataset"],
    "av_emotion.data.ravdess": ["build_ravdess", "build_synthetic_corpus"],
    "av_emotion.export": ["ORTModelForAudioVideoEmotion", "export_onnx", "export_onnx_folder"],
    "av_emotion.metrics": ["load_metric", "compute_metrics_for_trainer"],
    "av_emotion.modeling": [
        "ARCHITECTURES",
        "AutoModelForAudioVideoClassification",
        "AutoModelForAudioVideoRegression",
        "AVEmotionOutput",
    ],
    "av_emotion.modeling.av_metric_fusion": [
        "AVMetricFusionConfig",
        "AVMetricFusionForEmotionClassification",
        "AVMetricFusionModel",
    ],
    "av_emotion.modeling.avt_ca": ["AVTCAConfig", "AVTCAForEmotionClassification", "AVTCAModel"],
    "av_emotion.modeling.joint_cross_attention": [
        "JointCrossAttentionConfig",
        "JointCrossAttentionForEmotionClassification",
        "JointCrossAttentionForEmotionRegression",
        "JointCrossAttentionModel",
    ],
    "av_emotion.modeling.losses": ["CCCLoss", "concordance_correlation_coefficient", "per_video_ccc"],
    "av_emotion.pipelines": ["AudioVideoEmotionPipeline", "NoFaceWarning"],
    "av_emotion.processing.presets": ["PROCESSOR_PRESETS"],
    "av_emotion.processing": [
        "AVEmotionFeatureExtractor",
        "AVEmotionProcessor",
        "AVEmotionVideoProcessor",
        "FaceCropper",
        "LongClipWarning",
        "MediaError",
        "MediaLimits",
        "SilentAudioWarning",
        "TruncatedMediaWarning",
        "decode_clip",
    ],
    "transformers.models.auto.video_processing_auto": ["AutoVideoProcessor"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [*sorted(_MODULE_OF), "__version__"]

registration.install()


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'av_emotion' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
