import itertools
import math

import pytest
import torch

from av_emotion.modeling.losses import (
    RUSSELL_CIRCUMPLEX,
    EmotionRelationMetric,
    circumplex_positions,
    emotional_metric_loss,
)

# ---------------------------------------------------------------------------------------------------
# Emotional-metric loss
# ---------------------------------------------------------------------------------------------------

# Five 2-D points in three classes, and a non-uniform margin per class pair.
POINTS = [[0.0, 0.0], [0.3, 0.1], [1.0, 0.2], [0.8, 0.9], [0.1, 0.7]]
LABELS = [0, 0, 1, 1, 2]
MARGINS = [[0.0, 0.5, 0.2], [0.5, 0.0, 0.9], [0.2, 0.9, 0.0]]
# A second layout where some positives are farther than every negative (semi-hard's fallback branch).
SPREAD_POINTS = [[0.0, 0.0], [2.0, 0.0], [0.2, 0.1], [0.5, 0.5], [1.9, 0.3]]


def _distance(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))


def _hand_batch_hard(points, labels, margins):
    losses = []
    for a in range(len(points)):
        positives = [p for p in range(len(points)) if p != a and labels[p] == labels[a]]
        negatives = [n for n in range(len(points)) if labels[n] != labels[a]]
        if not positives or not negatives:
            continue
        hardest_positive = max(_distance(points[a], points[p]) for p in positives)
        worst = max(margins[labels[a]][labels[n]] - _distance(points[a], points[n]) for n in negatives)
        losses.append(max(0.0, hardest_positive + worst))
    return sum(losses) / len(losses) if losses else 0.0


def _hand_semi_hard(points, labels, margins):
    losses = []
    for a, p in itertools.permutations(range(len(points)), 2):
        if labels[a] != labels[p]:
            continue
        negatives = [n for n in range(len(points)) if labels[n] != labels[a]]
        if not negatives:
            continue
        d_ap = _distance(points[a], points[p])
        hinge = {n: d_ap - _distance(points[a], points[n]) + margins[labels[a]][labels[n]] for n in negatives}
        farther = [n for n in negatives if _distance(points[a], points[n]) > d_ap]
        chosen = max(hinge[n] for n in farther) if farther else min(hinge.values())
        losses.append(max(0.0, chosen))
    return sum(losses) / len(losses) if losses else 0.0


@pytest.mark.parametrize("points", [POINTS, SPREAD_POINTS])
@pytest.mark.parametrize(("mining", "reference"), [("batch_hard", _hand_batch_hard), ("semi_hard", _hand_semi_hard)])
def test_metric_loss_matches_hand_computation(points, mining, reference):
    loss = emotional_metric_loss(
        torch.tensor(points), torch.tensor(LABELS), torch.tensor(MARGINS), mining=mining, normalize_embeddings=False
    )
    expected = reference(points, LABELS, MARGINS)
    assert expected > 0
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_metric_loss_matches_hand_computation_on_normalised_embeddings():
    normalised = [[x / math.hypot(x, y), y / math.hypot(x, y)] for x, y in POINTS[1:]]
    loss = emotional_metric_loss(torch.tensor(POINTS[1:]), torch.tensor(LABELS[1:]), torch.tensor(MARGINS))
    # After removing the first point only class 1 has a positive pair.
    assert loss.item() == pytest.approx(_hand_batch_hard(normalised, LABELS[1:], MARGINS), abs=1e-5)


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
def test_metric_loss_zero_when_classes_separated_beyond_margins_and_positive_otherwise(mining):
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    margins = torch.tensor(MARGINS)
    centres = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    jitter = torch.tensor([[0.05, 0.0], [-0.05, 0.0]] * 3)
    separated = centres[labels] + jitter  # within-class 0.1, between classes >= 2.9 > 0.1 + 0.9
    loss = emotional_metric_loss(separated, labels, margins, mining=mining, normalize_embeddings=False)
    assert loss.item() == 0.0
    # Bring classes 1 and 2 to 0.5 apart: 0.1 - 0.5 + 0.9 > 0 for that pair only.
    close = centres.clone()
    close[2] = torch.tensor([3.0, 0.5])
    loss = emotional_metric_loss(close[labels] + jitter, labels, margins, mining=mining, normalize_embeddings=False)
    assert loss.item() > 0.0
    # The same geometry is fine when the 1-2 margin is small: the margin, not the geometry, decides.
    small = margins.clone()
    small[1, 2] = small[2, 1] = 0.1
    loss = emotional_metric_loss(close[labels] + jitter, labels, small, mining=mining, normalize_embeddings=False)
    assert loss.item() == 0.0


@pytest.mark.parametrize("mining", ["batch_hard", "semi_hard"])
@pytest.mark.parametrize("labels", [[3], [1, 1, 1], [0, 1, 2]])
def test_metric_loss_degenerate_batches_are_zero_and_differentiable(mining, labels):
    embeddings = torch.randn(len(labels), 4, requires_grad=True)
    loss = emotional_metric_loss(embeddings, torch.tensor(labels), torch.full((4, 4), 0.3), mining=mining)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(embeddings.grad, torch.zeros_like(embeddings))


def test_metric_loss_identical_embeddings_give_finite_gradients():
    embeddings = torch.ones(4, 3, requires_grad=True)
    loss = emotional_metric_loss(embeddings, torch.tensor([0, 0, 1, 1]), torch.full((2, 2), 0.2))
    loss.backward()
    assert loss.item() == pytest.approx(0.2, abs=1e-4)
    assert torch.isfinite(embeddings.grad).all()


def test_metric_loss_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mining must be 'batch_hard' or 'semi_hard'"):
        emotional_metric_loss(torch.randn(2, 3), torch.tensor([0, 1]), torch.zeros(2, 2), mining="all")
    with pytest.raises(ValueError, match=r"labels \(batch,\)"):
        emotional_metric_loss(torch.randn(2, 3), torch.tensor([0, 1, 1]), torch.zeros(2, 2))


# --- the learnable relation metric ---------------------------------------------------------------

RAVDESS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def _normalised_prior(names):
    positions = [RUSSELL_CIRCUMPLEX[name] for name in names]
    distances = {
        (i, j): max(math.dist(positions[i], positions[j]), 0.05)
        for i, j in itertools.combinations(range(len(names)), 2)
    }
    mean = sum(distances.values()) / len(distances)
    return {pair: value / mean for pair, value in distances.items()}


def test_relation_matrix_starts_at_the_valence_arousal_distances():
    metric = EmotionRelationMetric(circumplex_positions(RAVDESS))
    relation = metric.relation_matrix()
    assert relation.shape == (8, 8)
    torch.testing.assert_close(relation, relation.T)
    assert torch.equal(relation.diagonal(), torch.zeros(8))
    for (i, j), expected in _normalised_prior(RAVDESS).items():
        assert relation[i, j].item() == pytest.approx(expected, rel=1e-5)
    off_diagonal = relation[~torch.eye(8, dtype=torch.bool)]
    assert off_diagonal.mean().item() == pytest.approx(1.0, rel=1e-6)
    angry, calm, disgust = RAVDESS.index("angry"), RAVDESS.index("calm"), RAVDESS.index("disgust")
    assert relation[angry, calm] > 3 * relation[angry, disgust]
    torch.testing.assert_close(metric.margins(), 0.2 * relation)
    torch.testing.assert_close(metric.prior_relation_matrix(), relation)
    assert metric.prior_loss().item() == pytest.approx(0.0, abs=1e-10)


def test_circumplex_lookup_aliases_and_unknown_labels():
    positions = circumplex_positions(["ANG", "Fear", "happiness", "bored"])
    assert positions[:3] == [RUSSELL_CIRCUMPLEX["angry"], RUSSELL_CIRCUMPLEX["fearful"], RUSSELL_CIRCUMPLEX["happy"]]
    assert positions[3] is None
    relation = EmotionRelationMetric(positions).relation_matrix()
    # The unknown class sits at the mean of the known distances from everyone; the known distances
    # average to that same value, so after normalisation the unknown row is exactly 1.
    torch.testing.assert_close(relation[3, :3], torch.ones(3))
    raw = {pair: math.dist(positions[pair[0]], positions[pair[1]]) for pair in [(0, 1), (0, 2), (1, 2)]}
    mean_known = sum(raw.values()) / 3
    for (i, j), distance in raw.items():
        assert relation[i, j].item() == pytest.approx(distance / mean_known, rel=1e-5)


def test_learning_the_metric_cannot_collapse_the_margins():
    torch.manual_seed(0)
    metric = EmotionRelationMetric(circumplex_positions(RAVDESS), prior_weight=0.0)
    embeddings = torch.randn(32, 6)
    labels = torch.arange(8).repeat(4)
    optimizer = torch.optim.SGD(metric.parameters(), lr=5.0)
    first = metric(embeddings, labels).item()
    for _ in range(50):
        optimizer.zero_grad()
        loss = metric(embeddings, labels)
        loss.backward()
        optimizer.step()
    assert metric.pair_logits.grad.abs().sum() > 0
    # The metric does learn: it moves margin toward the violated pairs, which raises the triplet term...
    assert loss.item() > first
    relation = metric.relation_matrix()
    # ...but the mean margin cannot shrink: it stays metric_margin.
    assert relation[~torch.eye(8, dtype=torch.bool)].mean().item() == pytest.approx(1.0, rel=1e-5)
    assert metric.margins()[~torch.eye(8, dtype=torch.bool)].mean().item() == pytest.approx(0.2, rel=1e-5)
    assert metric.prior_loss().item() > 0


FEARFUL, DISGUST, ANGRY, CALM = (RAVDESS.index(name) for name in ("fearful", "disgust", "angry", "calm"))


def test_violated_pairs_get_wider_margins_not_narrower():
    # Fearful and disgust share one class centre (every triplet between them is violated); the other six
    # classes are far apart. Training only the relations (embeddings fixed) must not relax the violated
    # pair: its margin grows, and the margin of a well-separated pair (angry/calm) does not.
    torch.manual_seed(0)
    centres = 3.0 * torch.randn(8, 6)
    centres[DISGUST] = centres[FEARFUL]
    embeddings = centres.repeat(4, 1) + 0.1 * torch.randn(32, 6)
    labels = torch.arange(8).repeat(4)
    metric = EmotionRelationMetric(circumplex_positions(RAVDESS))
    before = metric.relation_matrix().detach()
    optimizer = torch.optim.SGD(metric.parameters(), lr=1.0)
    for _ in range(100):
        optimizer.zero_grad()
        metric(embeddings, labels).backward()
        optimizer.step()
    after = metric.relation_matrix().detach()
    assert after[FEARFUL, DISGUST] > 1.5 * before[FEARFUL, DISGUST]
    assert after[ANGRY, CALM] <= before[ANGRY, CALM] + 1e-6
    # The value is still the plain triplet loss with the learned margins plus the prior term.
    expected = emotional_metric_loss(embeddings, labels, metric.margins()) + metric.prior_loss()
    torch.testing.assert_close(metric(embeddings, labels), expected)


def _train_embedding(metric_weight: float, seed: int = 0, steps: int = 300):
    """Train a small MLP embedding + classifier on 8 Gaussian classes (fearful/disgust overlapping).

    Returns (mean within-class spread / mean between-centre distance, fearful-disgust centre distance over
    their summed spreads), both on L2-normalised embeddings as the metric loss measures them.
    """
    generator = torch.Generator().manual_seed(123)
    centres = torch.randn(8, 16, generator=generator)
    centres[DISGUST] = centres[FEARFUL] + 0.5 * torch.randn(16, generator=generator)
    inputs = centres.repeat_interleave(40, 0) + 0.6 * torch.randn(320, 16, generator=generator)
    targets = torch.arange(8).repeat_interleave(40)
    torch.manual_seed(seed)
    encoder = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    head = torch.nn.Linear(8, 8)
    metric = EmotionRelationMetric(circumplex_positions(RAVDESS))
    parameters = [*encoder.parameters(), *head.parameters(), *metric.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=0.01)
    for _ in range(steps):
        batch = torch.randperm(320)[:64]
        embeddings = encoder(inputs[batch])
        loss = torch.nn.functional.cross_entropy(head(embeddings), targets[batch])
        if metric_weight:
            loss = loss + metric_weight * metric(embeddings, targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        embeddings = torch.nn.functional.normalize(encoder(inputs), dim=-1)
        class_centres = torch.stack([embeddings[targets == k].mean(0) for k in range(8)])
        spread = torch.stack([(embeddings[targets == k] - class_centres[k]).norm(dim=-1).mean() for k in range(8)])
        between = torch.cdist(class_centres, class_centres)[~torch.eye(8, dtype=torch.bool)].mean()
        pair = (class_centres[FEARFUL] - class_centres[DISGUST]).norm() / (spread[FEARFUL] + spread[DISGUST])
    return (spread.mean() / between).item(), pair.item()


def test_metric_loss_makes_classes_more_compact_and_the_confused_pair_more_separated():
    # The paper's claim (Mocanu et al. 2023, abstract): more compact classes, wider inter-class margins.
    compactness_without, confused_without = _train_embedding(metric_weight=0.0)
    compactness_with, confused_with = _train_embedding(metric_weight=1.0)
    assert compactness_with < 0.9 * compactness_without
    assert confused_with > 1.4 * confused_without


def test_relation_metric_with_two_or_one_classes():
    two = EmotionRelationMetric(circumplex_positions(["happy", "sad"]))
    assert two.relation_matrix().tolist() == [[0.0, 1.0], [1.0, 0.0]]
    one = EmotionRelationMetric(circumplex_positions(["happy"]))
    assert one.relation_matrix().tolist() == [[0.0]]
    assert one(torch.randn(3, 4), torch.zeros(3, dtype=torch.long)).item() == 0.0
