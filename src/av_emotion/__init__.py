"""av_emotion: audio-video emotion recognition models for the Hugging Face ecosystem.

Importing the package registers every architecture with the `transformers` Auto classes, the processor
classes with `AutoProcessor`/`AutoVideoProcessor`/`AutoFeatureExtractor`, and the
`"audio-video-emotion"` pipeline, so `AutoModel.from_pretrained(...)` and
`pipeline("audio-video-emotion", ...)` work without `trust_remote_code`.
"""

from av_emotion.data.affwild2 import build_affwild2_dataset
from av_emotion.data.collate import AVEmotionCollator
from av_emotion.data.corpus import BuildReport, CorpusBuild, build_corpus
from av_emotion.data.cremad import build_cremad
from av_emotion.data.folds import FOLD_PROTOCOLS, Fold, get_fold, speaker_independent_folds, split_by_fold
from av_emotion.data.labels import CREMAD_LABELS, RAVDESS_LABELS, label_index_map, map_label
from av_emotion.data.manifest import ManifestDataset, ManifestError, ManifestReport, build_manifest_dataset
from av_emotion.data.ravdess import build_ravdess, build_synthetic_corpus
from av_emotion.metrics import load_metric
from av_emotion.modeling import (
    ARCHITECTURES,
    AutoModelForAudioVideoClassification,
    AutoModelForAudioVideoRegression,
    AVEmotionOutput,
)
from av_emotion.modeling.av_metric_fusion import (
    AVMetricFusionConfig,
    AVMetricFusionForEmotionClassification,
    AVMetricFusionModel,
)
from av_emotion.modeling.avt_ca import AVTCAConfig, AVTCAForEmotionClassification, AVTCAModel
from av_emotion.modeling.joint_cross_attention import (
    JointCrossAttentionConfig,
    JointCrossAttentionForEmotionClassification,
    JointCrossAttentionForEmotionRegression,
    JointCrossAttentionModel,
)
from av_emotion.modeling.losses import CCCLoss, concordance_correlation_coefficient, per_video_ccc
from av_emotion.pipelines import AudioVideoEmotionPipeline  # registers pipeline("audio-video-emotion")
from av_emotion.processing import (
    PROCESSOR_PRESETS,
    AVEmotionFeatureExtractor,
    AVEmotionProcessor,
    AVEmotionVideoProcessor,
    FaceCropper,
    MediaError,
    MediaLimits,
    decode_clip,
)

__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "PROCESSOR_PRESETS",
    "AVEmotionFeatureExtractor",
    "AVEmotionOutput",
    "AVTCAConfig",
    "AVTCAForEmotionClassification",
    "AVTCAModel",
    "AVMetricFusionConfig",
    "AVMetricFusionForEmotionClassification",
    "AVMetricFusionModel",
    "AVEmotionProcessor",
    "AVEmotionVideoProcessor",
    "FaceCropper",
    "MediaError",
    "MediaLimits",
    "decode_clip",
    "AudioVideoEmotionPipeline",
    "AutoModelForAudioVideoClassification",
    "AutoModelForAudioVideoRegression",
    "CCCLoss",
    "JointCrossAttentionConfig",
    "JointCrossAttentionForEmotionClassification",
    "JointCrossAttentionForEmotionRegression",
    "JointCrossAttentionModel",
    "ManifestDataset",
    "ManifestError",
    "ManifestReport",
    "build_affwild2_dataset",
    "build_manifest_dataset",
    "concordance_correlation_coefficient",
    "per_video_ccc",
    # Corpora, folds, labels, batches and metrics for training (the training loop: `av_emotion.training`).
    "AVEmotionCollator",
    "BuildReport",
    "CREMAD_LABELS",
    "CorpusBuild",
    "FOLD_PROTOCOLS",
    "Fold",
    "RAVDESS_LABELS",
    "build_corpus",
    "build_cremad",
    "build_ravdess",
    "build_synthetic_corpus",
    "get_fold",
    "label_index_map",
    "load_metric",
    "map_label",
    "speaker_independent_folds",
    "split_by_fold",
    "__version__",
]
