"""Configuration of the audio-video metric-fusion model (Mocanu, Tapu & Zaharia 2023)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from av_emotion.data.labels import RAVDESS_LABELS as RAVDESS_EMOTIONS  # the 8 RAVDESS emotions, code order
from av_emotion.modeling.losses import RUSSELL_CIRCUMPLEX
from av_emotion.modeling.modules.resnet import RESNET_STAGE_BLOCKS
from av_emotion.modeling.outputs import KEYS_TO_IGNORE_AT_INFERENCE

# The eight RAVDESS emotions in the order of their file-name codes 01-08 (Livingstone & Russo 2018).


@strict
class AVMetricFusionConfig(PreTrainedConfig):
    r"""Configuration of [`AVMetricFusionModel`] and [`AVMetricFusionForEmotionClassification`].

    Mocanu, Tapu & Zaharia (2023), "Multimodal emotion recognition using cross modal audio-video fusion
    with attention and deep metric learning", Image and Vision Computing. Only the abstract is public:
    a visual 3D-CNN with spatial, channel and temporal attention; an audio 2D-CNN on a spectrogram with
    temporal attention; audio-video cross-attention fusion; and a classification loss with a learnable
    emotional metric that extends the triplet loss with the semantic relations between emotions. The
    backbone depth, snippet count, frame size, spectrogram parameters and loss formula are not
    published: every such value below is marked "our choice" and says why.

    The model reads a clip as `num_snippets` consecutive snippets. The video (`num_snippets *
    frames_per_snippet` frames) and the log-mel spectrogram (its frames split into `num_snippets` equal
    parts) are encoded snippet by snippet, giving two sequences of `num_snippets` vectors of width
    `hidden_size` that the temporal and cross-modal attention work on.

    Args:
        num_snippets (`int`, *optional*, defaults to 4):
            Snippets per clip, S. Our choice: 4 snippets of about 0.9 s cover a 3-4 s RAVDESS utterance.
        frames_per_snippet (`int`, *optional*, defaults to 8):
            Video frames per snippet, F; the model expects exactly S·F frames. Our choice: 8 frames per
            snippet (32 a clip, about 9 frames/s over 3.6 s), enough for the temporal kernels of a 3D ResNet.
        num_channels (`int`, *optional*, defaults to 3):
            Channels of the video frames (RGB).
        num_mel_bins (`int`, *optional*, defaults to 64):
            Mel bands of `input_features`; must match the processor. Our choice: 64, as in the audio front
            end of Praveen et al. 2022 (the paper does not give its spectrogram parameters).
        video_resnet_depth (`int`, *optional*, defaults to 18):
            Depth of the per-snippet 3D ResNet (10, 18 or 34). Our choice: 18, the usual R3D-18 (Tran et
            al. 2018); the paper says "3D-CNN" without a depth.
        video_resnet_widths (`list[int]`, *optional*, defaults to `[64, 128, 256, 512]`):
            Channel widths of the four video ResNet stages (Tran et al. 2018).
        video_conv_type (`str`, *optional*, defaults to `"3d"`):
            `"3d"` (R3D, full 3x3x3 kernels) or `"2plus1d"` (R(2+1)D). Our choice: `"3d"`, since the paper says
            3D-CNN.
        video_temporal_downsample (`bool`, *optional*, defaults to `True`):
            Whether ResNet stages 2-4 also halve time inside a snippet (as in R3D-18).
        video_backbone_layout (`str`, *optional*, defaults to `"default"`):
            `"torchvision"` builds the `"2plus1d"` backbone exactly as torchvision's `r2plus1d_18` (factorised
            stem, one intermediate width per block) so its Kinetics-400 weights load (`av-emotion convert`);
            `"default"` uses Tran et al.'s per-convolution widths and a 3x7x7 stem. R3D is the same either way.
        channel_attention_reduction (`int`, *optional*, defaults to 16):
            Bottleneck ratio of the channel attention. Our choice: squeeze-and-excitation (Hu et al. 2018)
            on the last video feature map, with their r = 16.
        spatial_attention_hidden_size (`int`, *optional*, defaults to 128):
            Width of the scoring layer of the spatial attention. Our choice: spatial attention is a softmax
            over the positions of the last feature map (averaged over the snippet's remaining time steps)
            followed by the weighted mean, so each snippet yields one vector and a map of where the model
            looked.
        audio_resnet_depth (`int`, *optional*, defaults to 18):
            Depth of the per-snippet 2D ResNet on the log-mel spectrogram. Our choice: ResNet-18 with one
            input channel, as in Praveen et al. 2022; the paper says "2D-CNN".
        audio_resnet_widths (`list[int]`, *optional*, defaults to `[64, 128, 256, 512]`):
            Channel widths of the four audio ResNet stages.
        audio_stem_pool (`bool`, *optional*, defaults to `True`):
            Keep the 3x3 max-pool of the ImageNet stem in the audio ResNet (turn off for very short snippets).
        hidden_size (`int`, *optional*, defaults to 256):
            Width D of the snippet vectors of both modalities (each encoder ends with a linear projection to
            it) and of the temporal and cross-modal attention. Our choice.
        num_attention_heads (`int`, *optional*, defaults to 4):
            Heads of the temporal and cross-modal attention; must divide `hidden_size`. Our choice.
        attention_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the attention weights of the temporal and cross-modal attention.
        hidden_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the attention updates before the residual connection.
        use_position_embeddings (`bool`, *optional*, defaults to `True`):
            Add a learned embedding of the snippet index to each modality's sequence before the temporal
            attention, which otherwise ignores order. Our choice.
        fusion_hidden_size (`int`, *optional*, defaults to 256):
            Width of the fused clip embedding: `GELU(Linear([audio; video]))` over the concatenated
            masked means of the two cross-attended sequences. It is what the classifier and the metric loss
            read. Our choice (the paper: "concatenation and a classifier").
        classifier_dropout (`float`, *optional*, defaults to 0.3):
            Dropout before the classifier. Our choice.
        metric_loss_weight (`float`, *optional*, defaults to 0.5):
            λ in `loss = cross-entropy + λ · emotional-metric loss`. Our choice; 0 disables the metric loss.
        metric_margin (`float`, *optional*, defaults to 0.2):
            Mean triplet margin over pairs of classes; pair (i, j) gets `metric_margin · relation[i, j]`. Our
            choice: 0.2, FaceNet's margin on L2-normalised embeddings (Schroff et al. 2015).
        metric_mining (`str`, *optional*, defaults to `"batch_hard"`):
            `"batch_hard"` (Hermans et al. 2017) or `"semi_hard"` (Schroff et al. 2015) triplet mining.
        metric_normalize_embeddings (`bool`, *optional*, defaults to `True`):
            L2-normalise the fused embeddings before measuring triplet distances.
        metric_prior_weight (`float`, *optional*, defaults to 1.0):
            Weight, inside the metric loss, of the term that keeps the learned class relations near their
            valence-arousal initialisation. Our choice (see `EmotionRelationMetric`): the relations are
            learned against the triplet term (margin moves toward the class pairs the model confuses, never
            away from them), and this term is what bounds how far they move.
        emotion_circumplex (`dict[str, list[float]]`, *optional*):
            (valence, arousal) position of each emotion name, used to initialise the learnable class
            relations. Defaults to `RUSSELL_CIRCUMPLEX` (Russell 1980; the coordinates and the choices for
            neutral and disgust are documented there). A label missing from it starts at the mean distance
            from every other class.
        auxiliary_loss_weight (`float`, *optional*, defaults to 0.0):
            Weight of an extra cross-entropy on each modality's own head (`audio_logits`, `video_logits`),
            trained into the encoders. Not in the paper, hence 0 by default; with 0 the two heads are still
            trained, as probes on detached branch features, so ablation scores are meaningful without
            changing what the fused model learns.
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of linear layers and position embeddings
            (convolutions use Kaiming-normal, as torchvision's ResNets).
        id2label (`dict[int, str]`, *optional*):
            Class names; defaults to the eight RAVDESS emotions (neutral, calm, happy, sad, angry, fearful,
            disgust, surprised) unless `num_labels` is given.

    Example:
    ```python
    >>> from av_emotion import AVMetricFusionConfig, AVMetricFusionForEmotionClassification

    >>> config = AVMetricFusionConfig()
    >>> model = AVMetricFusionForEmotionClassification(config)
    >>> model.emotion_relation_matrix().shape
    torch.Size([8, 8])
    ```
    """

    model_type = "av_metric_fusion"
    # Trainer passes `compute_metrics` the logits alone (branch logits, embeddings, maps are for analysis).
    keys_to_ignore_at_inference = KEYS_TO_IGNORE_AT_INFERENCE

    # Clip layout
    num_snippets: int = 4
    frames_per_snippet: int = 8
    num_channels: int = 3
    num_mel_bins: int = 64

    # Visual branch: 3D ResNet per snippet, channel and spatial attention
    video_resnet_depth: int = 18
    video_resnet_widths: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    video_conv_type: str = "3d"
    video_temporal_downsample: bool = True
    video_backbone_layout: str = "default"
    channel_attention_reduction: int = 16
    spatial_attention_hidden_size: int = 128

    # Audio branch: 2D ResNet per log-mel snippet
    audio_resnet_depth: int = 18
    audio_resnet_widths: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    audio_stem_pool: bool = True

    # Snippet sequences: temporal attention per modality, then bidirectional cross-attention
    hidden_size: int = 256
    num_attention_heads: int = 4
    attention_dropout: float | int = 0.1
    hidden_dropout: float | int = 0.1
    use_position_embeddings: bool = True

    # Fusion and classifier
    fusion_hidden_size: int = 256
    classifier_dropout: float | int = 0.3

    # Loss: cross-entropy + λ · emotional-metric loss (+ optional per-modality cross-entropy)
    metric_loss_weight: float | int = 0.5
    metric_margin: float | int = 0.2
    metric_mining: str = "batch_hard"
    metric_normalize_embeddings: bool = True
    metric_prior_weight: float | int = 1.0
    emotion_circumplex: dict[str, list[float]] | None = None
    auxiliary_loss_weight: float | int = 0.0

    # Initialisation
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label = dict(enumerate(RAVDESS_EMOTIONS))
            self.label2id = {name: index for index, name in self.id2label.items()}
        if self.emotion_circumplex is None:
            self.emotion_circumplex = {name: list(position) for name, position in RUSSELL_CIRCUMPLEX.items()}
        self.video_resnet_widths = list(self.video_resnet_widths)
        self.audio_resnet_widths = list(self.audio_resnet_widths)
        super().__post_init__(**kwargs)
        if self.label2id is None and self.id2label is not None:
            self.label2id = {name: index for index, name in self.id2label.items()}

    def validate_architecture(self):
        """Check that the hyper-parameters fit together (run by `@strict` after `__init__`)."""
        if self.num_snippets < 1 or self.frames_per_snippet < 1:
            raise ValueError(
                f"num_snippets ({self.num_snippets}) and frames_per_snippet ({self.frames_per_snippet}) must be >= 1"
            )
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        for name in ("video_resnet_depth", "audio_resnet_depth"):
            if getattr(self, name) not in RESNET_STAGE_BLOCKS:
                raise ValueError(f"{name} must be one of {sorted(RESNET_STAGE_BLOCKS)}, got {getattr(self, name)}")
        for name in ("video_resnet_widths", "audio_resnet_widths"):
            if len(getattr(self, name)) != 4:
                raise ValueError(f"{name} must give 4 stage widths, got {getattr(self, name)}")
        if self.video_conv_type not in ("3d", "2plus1d"):
            raise ValueError(f"video_conv_type must be '3d' or '2plus1d', got {self.video_conv_type!r}")
        if self.video_backbone_layout not in ("default", "torchvision"):
            raise ValueError(
                f"video_backbone_layout must be 'default' or 'torchvision', got {self.video_backbone_layout!r}"
            )
        if self.metric_mining not in ("batch_hard", "semi_hard"):
            raise ValueError(f"metric_mining must be 'batch_hard' or 'semi_hard', got {self.metric_mining!r}")


__all__ = ["RAVDESS_EMOTIONS", "AVMetricFusionConfig"]
