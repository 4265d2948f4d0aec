"""Losses shared by the architectures.

- Emotional-metric loss (Mocanu et al. 2023): triplet-style loss whose class margins follow a learnable
  relation matrix between emotions (learned adversarially: margin moves toward the confused pairs).
- Concordance correlation coefficient loss (Praveen et al. 2022): 1 - CCC per dimension.
"""

from __future__ import annotations

import torch  # noqa: F401

# ---------------------------------------------------------------------------------------------------
# Emotional-metric loss (Mocanu et al. 2023)
# ---------------------------------------------------------------------------------------------------

# Positions of emotion categories on the valence-arousal circumplex (Russell 1980, "A circumplex model of
# affect", Fig. 2: 28 affect words scaled onto a circle). Each word sits at an angle θ on the unit circle,
# valence = cos θ, arousal = sin θ; the angles are approximate readings of that figure. Russell's
# terms used: happy 7.8°, angry 99.0°, "afraid" 116.0° (fearful), sad 207.5°, calm 316.2°, "astonished"
# 69.8° (surprised). Our choices where the paper has no term: neutral sits at the centre (0, 0); disgust
# is not among the 28 words and takes the angle of "annoyed" (123.0°), the nearest negative, moderately
# aroused term. Stored as (valence, arousal) rounded to 3 decimals.
RUSSELL_CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "calm": (0.722, -0.692),
    "happy": (0.991, 0.136),
    "sad": (-0.887, -0.462),
    "angry": (-0.156, 0.988),
    "fearful": (-0.438, 0.899),
    "disgust": (-0.545, 0.839),
    "surprised": (0.345, 0.938),
}

# Other spellings of the same categories (CREMA-D codes, noun forms), looked up case-insensitively.
EMOTION_NAME_ALIASES: dict[str, str] = {
    "neu": "neutral",
    "hap": "happy",
    "happiness": "happy",
    "sadness": "sad",
    "ang": "angry",
    "anger": "angry",
    "fea": "fearful",
    "fear": "fearful",
    "dis": "disgust",
    "disgusted": "disgust",
    "surprise": "surprised",
}


def circumplex_positions(
    labels: list[str], table: dict[str, tuple[float, float]] | dict[str, list[float]] | None = None
) -> list[tuple[float, float] | None]:
    """Look up the (valence, arousal) position of each label name; None for a name the table lacks.

    Names are matched case-insensitively, through `EMOTION_NAME_ALIASES` (e.g. "ANG" -> "angry").
    `table` defaults to `RUSSELL_CIRCUMPLEX`.
    """
    table = RUSSELL_CIRCUMPLEX if table is None else table
    lowered = {name.lower(): tuple(position) for name, position in table.items()}
    positions: list[tuple[float, float] | None] = []
    for label in labels:
        name = str(label).lower()
        name = name if name in lowered else EMOTION_NAME_ALIASES.get(name, name)
        positions.append(lowered.get(name))
    return positions


def emotional_metric_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    margins: torch.Tensor,
    mining: str = "batch_hard",
    normalize_embeddings: bool = True,
) -> torch.Tensor:
    """Triplet loss whose margin depends on the pair of classes, `max(0, d(a, p) - d(a, n) + m[y_a, y_n])`.

    `d` is the Euclidean distance (between L2-normalised embeddings when `normalize_embeddings`). For an
    anchor `a`, positives are the other samples of its class and negatives the samples of other classes.

    Mining (which triplets count):
      - `"batch_hard"` (Hermans et al. 2017): per anchor, the farthest positive and the negative with the
        largest `m[y_a, y_n] - d(a, n)` (the hardest once the class-pair margin is counted); the loss is
        the mean over anchors that have at least one positive and one negative.
      - `"semi_hard"` (Schroff et al. 2015, as in TensorFlow Addons' `triplet_semihard_loss`): per
        (anchor, positive) pair, the hardest negative that is still farther than the positive; if there is
        none, the negative with the smallest hinge value (the least hard). Mean over the pairs that have a
        negative. Memory grows as batch³.

    Args:
        embeddings: `(batch, features)`.
        labels: `(batch,)` class indices in `[0, num_classes)`.
        margins: `(num_classes, num_classes)` margin per pair of classes (the diagonal is unused).
        mining: `"batch_hard"` or `"semi_hard"`.
        normalize_embeddings: L2-normalise the embeddings first (distances then lie in [0, 2]).

    Returns:
        A scalar. Zero (still attached to the graph) when no anchor has both a positive and a negative:
        a batch of one sample or of one class.
    """
    if mining not in ("batch_hard", "semi_hard"):
        raise ValueError(f"mining must be 'batch_hard' or 'semi_hard', got {mining!r}")
    if embeddings.ndim != 2 or labels.shape != embeddings.shape[:1]:
        raise ValueError(
            f"expected embeddings (batch, features) and labels (batch,), got {tuple(embeddings.shape)} and "
            f"{tuple(labels.shape)}"
        )
    if margins.ndim != 2 or margins.shape[0] != margins.shape[1]:
        raise ValueError(f"margins must be a square (num_classes, num_classes) matrix, got {tuple(margins.shape)}")
    zero = embeddings.sum() * 0.0 + margins.sum() * 0.0
    if embeddings.shape[0] < 2:
        return zero
    if normalize_embeddings:
        embeddings = torch.nn.functional.normalize(embeddings, dim=-1)
    labels = labels.long()
    # Squared distances from the Gram matrix; clamp before sqrt so identical points give no NaN gradient.
    squared_norms = (embeddings * embeddings).sum(dim=-1)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * embeddings @ embeddings.T
    distances = squared.clamp_min(1e-12).sqrt()
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    pair_margins = margins[labels[:, None], labels[None, :]].to(distances.dtype)
    very_negative = torch.finfo(distances.dtype).min

    if mining == "batch_hard":
        valid = positive.any(dim=1) & negative.any(dim=1)
        if not bool(valid.any()):
            return zero
        hardest_positive = distances.masked_fill(~positive, very_negative).max(dim=1).values
        hardest_negative_term = (pair_margins - distances).masked_fill(~negative, very_negative).max(dim=1).values
        losses = torch.relu(hardest_positive + hardest_negative_term)
        return losses[valid].mean()

    # semi_hard: hinge[a, p, n] = d(a, p) - d(a, n) + m[y_a, y_n]
    hinge = distances[:, :, None] - distances[:, None, :] + pair_margins[:, None, :]
    triplet = positive[:, :, None] & negative[:, None, :]
    valid_pairs = triplet.any(dim=-1)
    if not bool(valid_pairs.any()):
        return zero
    farther = triplet & (distances[:, None, :] > distances[:, :, None])
    semi_hard = hinge.masked_fill(~farther, very_negative).max(dim=-1).values
    least_hard = hinge.masked_fill(~triplet, torch.finfo(distances.dtype).max).min(dim=-1).values
    chosen = torch.where(farther.any(dim=-1), semi_hard, least_hard)
    return torch.relu(chosen)[valid_pairs].mean()


class EmotionRelationMetric(torch.nn.Module):
    """A learnable semantic distance between emotion classes, and the triplet loss whose margins it sets.

    Parameterisation: one free value `θ_ij` per unordered pair of classes; the distance is
    `D_ij = softplus(θ_ij)` (positive), normalised to `D̂ = D / mean_{i<j} D`, and the margin between
    classes i and j is `margin · D̂_ij`. With the mean fixed at 1 the average margin stays `margin`, and
    learning can only move margin from one pair to another. A prior term `mean_{i<j} (D̂_ij - P̂_ij)²` keeps
    the learned relations near the normalised valence-arousal distances `P̂` they start from (Russell's
    circumplex), so they stay interpretable.

    How the relations learn (our reading; Mocanu et al. 2023 publish only the abstract: "a learnable metric
    extending the triplet loss using the semantic relations between emotion categories", giving "more compact
    intra-class representations and increased inter-class separability"). The embeddings *minimise* the
    triplet loss; the relations *maximise* it (a gradient reversal between the loss and the margins), under
    the fixed mean and the prior term, which they minimise as usual. So margin flows toward the class pairs
    whose triplets are currently violated (the pairs the model confuses get wider margins, as in adaptive-
    margin losses) and away from pairs already separated, and the prior pulls it back toward the circumplex.
    Why not let the relations minimise the same loss as the embeddings: a margin that sets its own hinge is
    lowered exactly where the hinge is active, so the confused pairs would be relaxed (measured before this
    change: fearful/disgust on one class centre went 0.101 -> 0.006 while angry/calm stayed ~1.57), which
    works against the paper's compact classes and wide margins. Why not freeze them at the prior: the paper
    calls the metric learnable. Why not learn them from the class-centre geometry: close centres would again
    mean small margins, the same self-fulfilling relaxation.

    Initialisation: `D = P`, the Euclidean distances between the classes' (valence, arousal) positions,
    floored at `min_prior_distance` so that no pair starts without a margin. A class without a known
    position is put at the mean distance of the known pairs (1.0 when none are known) from every other.

    Args:
        positions: one `(valence, arousal)` per class, or None where unknown (see `circumplex_positions`).
        margin: mean margin over class pairs (0.2 as in Schroff et al. 2015 on normalised embeddings).
        mining: `"batch_hard"` or `"semi_hard"` (see `emotional_metric_loss`).
        normalize_embeddings: L2-normalise embeddings before measuring distances.
        prior_weight: weight of the prior term inside `forward`'s result.
        min_prior_distance: floor on the initial distance of any pair.
    """

    def __init__(
        self,
        positions: list[tuple[float, float] | None],
        margin: float = 0.2,
        mining: str = "batch_hard",
        normalize_embeddings: bool = True,
        prior_weight: float = 1.0,
        min_prior_distance: float = 0.05,
    ) -> None:
        super().__init__()
        if mining not in ("batch_hard", "semi_hard"):
            raise ValueError(f"mining must be 'batch_hard' or 'semi_hard', got {mining!r}")
        self.num_labels = len(positions)
        self.margin = margin
        self.mining = mining
        self.normalize_embeddings = normalize_embeddings
        self.prior_weight = prior_weight
        # Kept as Python floats, not a buffer: models are built on the meta device by `from_pretrained`,
        # and a plain list survives that and is rebuilt from the config, so it need not be saved.
        self.prior_distances = self._prior_pair_distances(positions, min_prior_distance)
        self.pair_logits = torch.nn.Parameter(torch.empty(len(self.prior_distances)))
        self.reset_parameters()

    @staticmethod
    def _prior_pair_distances(positions: list[tuple[float, float] | None], floor: float) -> list[float]:
        """Distance per unordered pair (i < j, row-major), floored; the known pairs' mean where unknown."""
        distances: list[float | None] = []
        for i in range(len(positions)):
            for j in range(i + 1, len(positions)):
                if positions[i] is None or positions[j] is None:
                    distances.append(None)
                else:
                    (v_i, a_i), (v_j, a_j) = positions[i], positions[j]
                    distances.append(max(((v_i - v_j) ** 2 + (a_i - a_j) ** 2) ** 0.5, floor))
        known = [distance for distance in distances if distance is not None]
        fallback = sum(known) / len(known) if known else 1.0
        return [fallback if distance is None else distance for distance in distances]

    def prior_pair_logits(self) -> torch.Tensor:
        """Return the `θ` that give the prior distances, `softplus⁻¹(P) = P + log(1 - exp(-P))`, `(num_pairs,)`."""
        prior = torch.tensor(self.prior_distances, dtype=torch.float32, device=self.pair_logits.device)
        return prior + torch.log(-torch.expm1(-prior))

    def reset_parameters(self) -> None:
        """Set the learnable distances back to the circumplex prior."""
        with torch.no_grad():
            self.pair_logits.copy_(self.prior_pair_logits())

    def _expand(self, pair_values: torch.Tensor) -> torch.Tensor:
        matrix = pair_values.new_zeros(self.num_labels, self.num_labels)
        rows, cols = torch.triu_indices(self.num_labels, self.num_labels, offset=1, device=pair_values.device)
        matrix = matrix.index_put((rows, cols), pair_values)
        return matrix.index_put((cols, rows), pair_values)

    def _normalised_pair_distances(self) -> torch.Tensor:
        distances = torch.nn.functional.softplus(self.pair_logits)
        return distances / distances.mean().clamp_min(1e-12) if distances.numel() else distances

    def relation_matrix(self) -> torch.Tensor:
        """Learned semantic distance between classes, `(num_labels, num_labels)`, symmetric.

        Zero diagonal, off-diagonal mean 1; entry (i, j) times `margin` is the triplet margin between
        classes i and j.
        """
        return self._expand(self._normalised_pair_distances())

    def prior_relation_matrix(self) -> torch.Tensor:
        """Return the valence-arousal distances the metric started from, normalised like `relation_matrix`."""
        prior = torch.tensor(self.prior_distances, dtype=torch.float32, device=self.pair_logits.device)
        return self._expand(prior / prior.mean().clamp_min(1e-12) if prior.numel() else prior)

    def margins(self) -> torch.Tensor:
        """Triplet margin per pair of classes, `(num_labels, num_labels)`: `margin · relation_matrix()`."""
        return self.margin * self.relation_matrix()

    def prior_loss(self) -> torch.Tensor:
        """Mean squared gap between the learned and the prior normalised distances (0 at initialisation)."""
        learned = self._normalised_pair_distances()
        if learned.numel() == 0:
            return self.pair_logits.sum() * 0.0
        prior = torch.tensor(self.prior_distances, dtype=learned.dtype, device=learned.device)
        return ((learned - prior / prior.mean()) ** 2).mean()

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Triplet loss with the learned margins plus `prior_weight` times the prior term (a scalar).

        `embeddings (batch, features)`, `labels (batch,)` class indices. The value is the plain sum; the
        gradient that reaches the relation parameters through the triplet term is reversed (see the class
        docstring): descending this loss trains the embeddings to meet the margins and moves margin toward
        the violated class pairs.
        """
        margins = self.margins()
        # Same value, negated gradient: detached(m) + (detached(m) - m). Tensor arithmetic only, so the
        # forward stays exportable (no custom autograd.Function).
        adversarial_margins = 2.0 * margins.detach() - margins
        triplet = emotional_metric_loss(
            embeddings, labels, adversarial_margins, mining=self.mining, normalize_embeddings=self.normalize_embeddings
        )
        return triplet + self.prior_weight * self.prior_loss()


# ---------------------------------------------------------------------------------------------------
# Concordance correlation coefficient (Praveen et al. 2022)
# ---------------------------------------------------------------------------------------------------
# Lin's concordance correlation coefficient, CCC = 2 s_xy / (s_x^2 + s_y^2 + (mu_x - mu_y)^2), with population
# (1/N) moments as in Lin 1989 and the ABAW challenges. It is written without the correlation coefficient rho,
# whose sqrt(var) factors give NaN gradients for constant inputs (the authors' loss has that form); here a
# constant prediction gives a zero numerator and a denominator of at least `eps`, so CCC = 0 and finite
# gradients.

CCC_EPSILON = 1e-8
"""Added to the CCC denominator: CCC of a constant prediction against a constant target is 0, not NaN. It
shifts a non-degenerate CCC by about eps / (var_x + var_y), negligible for affect values in [-1, 1]."""


def concordance_correlation_coefficient(
    pred: torch.Tensor,
    target: torch.Tensor,
    dim: int | tuple[int, ...] | None = None,
    mask: torch.Tensor | None = None,
    eps: float = CCC_EPSILON,
) -> torch.Tensor:
    """Lin's concordance correlation coefficient between predictions and targets, in [-1, 1].

    Args:
        pred: predictions, any shape.
        target: targets, same shape as `pred`.
        dim: the dimension(s) the coefficient is computed over (the samples); the others are kept, so
            `pred` (N, 2) with `dim=0` gives one CCC per column (valence, arousal). `None`: all elements.
        mask: optional bool tensor broadcastable to `pred`; False entries are left out of every moment (their
            values, NaN included, are ignored). A reduction with no valid entry gives CCC 0.
        eps: added to the denominator (see `CCC_EPSILON`).

    Returns:
        The CCC with the `dim` dimensions reduced (a 0-d tensor for `dim=None`).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if dim is None:
        dim = tuple(range(pred.ndim))
    pred = pred.float()
    target = target.float()
    if mask is None:
        weight = torch.ones_like(pred)
    else:
        weight = torch.broadcast_to(mask.to(torch.bool), pred.shape).to(pred.dtype)
        # torch.where, not multiplication: a masked-out NaN must not turn the sums into NaN.
        pred = torch.where(weight > 0, pred, torch.zeros_like(pred))
        target = torch.where(weight > 0, target, torch.zeros_like(target))
    count = weight.sum(dim=dim, keepdim=True).clamp(min=1.0)
    mean_pred = (weight * pred).sum(dim=dim, keepdim=True) / count
    mean_target = (weight * target).sum(dim=dim, keepdim=True) / count
    centred_pred = weight * (pred - mean_pred)
    centred_target = weight * (target - mean_target)
    count = count.squeeze(dim)
    covariance = (centred_pred * centred_target).sum(dim=dim) / count
    var_pred = centred_pred.square().sum(dim=dim) / count
    var_target = centred_target.square().sum(dim=dim) / count
    mean_gap = (mean_pred - mean_target).squeeze(dim).square()
    return 2.0 * covariance / (var_pred + var_target + mean_gap + eps)


class CCCLoss(torch.nn.Module):
    """Sum (or mean) over targets of 1 - CCC, the training loss of Praveen et al. 2022: (1 - CCC_v) + (1 - CCC_a).

    `forward(pred, target, mask=None)`: `pred` and `target` of shape (..., K) with the K targets last (for
    example (B, 2) clip-level or (B, L, 2) per sub-clip); the CCC of each target is computed over all leading
    dimensions together (every sub-clip of every clip in the batch, as the paper's loss over the batch).
    `mask` (...,) or (..., K) bool marks the entries to use; NaN targets are always left out (a missing
    annotation). Returns a 0-d tensor in [0, 2K] (sum) or [0, 2] (mean). Note that with one valid entry the
    variances are 0 and the CCC is 0 (loss 1 per target): use batches, or per-step labels.
    """

    def __init__(self, reduction: str = "sum", eps: float = CCC_EPSILON):
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(
                f"reduction must be 'sum' (the paper: summed over valence and arousal) or 'mean', got {reduction!r}"
            )
        self.reduction = reduction
        self.eps = eps

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(..., K), (..., K), optional bool (...,) or (..., K) -> 0-d loss."""
        if pred.shape != target.shape or pred.ndim < 1:
            raise ValueError(
                f"pred and target must both be (..., K), got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        valid = ~torch.isnan(target)
        if mask is not None:
            if mask.shape == pred.shape[:-1]:
                mask = mask.unsqueeze(-1)
            valid = valid & torch.broadcast_to(mask.to(torch.bool), pred.shape)
        num_targets = pred.shape[-1]
        ccc = concordance_correlation_coefficient(
            pred.reshape(-1, num_targets),
            target.reshape(-1, num_targets),
            dim=0,
            mask=valid.reshape(-1, num_targets),
            eps=self.eps,
        )
        loss = (1.0 - ccc).sum()
        return loss / num_targets if self.reduction == "mean" else loss


def smooth_sequence(values: torch.Tensor, window: int, method: str = "median") -> torch.Tensor:
    """Smooth a per-frame sequence along its first axis with a centred sliding window.

    Args:
        values: (N,) or (N, K) per-frame predictions of one video, in frame order.
        window: odd window length in frames; 1 returns the input. The ends are padded by repeating the
            first / last frame, so the output has N frames.
        method: `"median"` (robust to single-frame spikes) or `"mean"`.

    Returns:
        Tensor of the shape of `values`.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing window must be a positive odd number of frames, got {window}")
    if method not in ("median", "mean"):
        raise ValueError(f"smoothing method must be 'median' or 'mean', got {method!r}")
    if window == 1 or values.shape[0] == 0:
        return values
    squeeze = values.ndim == 1
    columns = values.reshape(values.shape[0], -1).T.unsqueeze(0)  # (1, K, N)
    half = window // 2
    padded = torch.nn.functional.pad(columns.float(), (half, half), mode="replicate")[0]  # (K, N + 2 half)
    windows = padded.unfold(dimension=1, size=window, step=1)  # (K, N, window)
    smoothed = windows.median(dim=-1).values if method == "median" else windows.mean(dim=-1)
    smoothed = smoothed.T.to(values.dtype)
    return smoothed.reshape(-1) if squeeze else smoothed


def per_video_ccc(
    predictions: dict[str, torch.Tensor | list],
    targets: dict[str, torch.Tensor | list],
    smoothing_window: int | None = None,
    smoothing: str = "median",
    invalid_value: float | None = -5.0,
    target_names: tuple[str, ...] | list[str] = ("valence", "arousal"),
    eps: float = CCC_EPSILON,
) -> dict[str, float]:
    """Score per-frame predictions with the per-video protocol of Praveen et al. 2022: smooth, then one global CCC.

    Each video's per-frame predictions are optionally smoothed along time (within the video only), then the
    frames of all videos are concatenated and one CCC per target is computed over all of them (a global CCC,
    not an average of per-video CCCs). Frames whose target is NaN or `invalid_value` (-5 in Aff-Wild2) are
    left out after smoothing, so smoothing still sees every predicted frame.

    Args:
        predictions: video id -> (N_i, K) per-frame predictions (tensor, numpy array or nested list).
        targets: video id -> (N_i, K) per-frame targets; the same ids and frame counts as `predictions`.
        smoothing_window: odd window in frames, or None / 1 for no smoothing.
        smoothing: `"median"` or `"mean"` (see `smooth_sequence`).
        invalid_value: target value marking an unannotated frame, or None.
        target_names: names of the K columns, used in the result keys.
        eps: CCC denominator epsilon.

    Returns:
        `{"ccc_<name>": float for each target, "ccc_mean": their mean, "num_frames": frames evaluated}`.
    """
    missing = sorted(set(predictions) ^ set(targets))
    if missing:
        raise ValueError(
            f"predictions and targets must cover the same videos; these ids are in only one of them: {missing[:10]}"
        )
    if not predictions:
        raise ValueError("per_video_ccc needs at least one video")
    all_pred, all_target = [], []
    for video_id in sorted(predictions):
        pred = torch.as_tensor(predictions[video_id], dtype=torch.float32)
        target = torch.as_tensor(targets[video_id], dtype=torch.float32)
        pred = pred.unsqueeze(-1) if pred.ndim == 1 else pred
        target = target.unsqueeze(-1) if target.ndim == 1 else target
        if pred.shape != target.shape or pred.shape[-1] != len(target_names):
            raise ValueError(
                f"video {video_id!r}: predictions {tuple(pred.shape)} and targets {tuple(target.shape)} must both be "
                f"(frames, {len(target_names)}) for targets {tuple(target_names)}"
            )
        if smoothing_window is not None and smoothing_window > 1:
            pred = smooth_sequence(pred, smoothing_window, smoothing)
        all_pred.append(pred)
        all_target.append(target)
    pred = torch.cat(all_pred)
    target = torch.cat(all_target)
    valid = ~torch.isnan(target)
    if invalid_value is not None:
        valid &= target != invalid_value
    ccc = concordance_correlation_coefficient(pred, target, dim=0, mask=valid, eps=eps)
    result = {f"ccc_{name}": float(value) for name, value in zip(target_names, ccc)}
    result["ccc_mean"] = float(ccc.mean())
    result["num_frames"] = int(valid.all(dim=-1).sum())
    return result
