"""Emotion label sets of the supported corpora, and the documented map between them.

Both corpora use the same English names for the emotions they share, so a model trained on one can be
read in the other's vocabulary through `map_label` / `label_index_map`:

| RAVDESS (8)  | CREMA-D (6) | note                                                                  |
|--------------|-------------|-----------------------------------------------------------------------|
| neutral      | neutral     |                                                                       |
| calm         | -           | no CREMA-D class; `calm_as_neutral=True` maps it to neutral (a common |
|              |             | merge: calm is the low-arousal neighbour of neutral in RAVDESS)       |
| happy        | happy       |                                                                       |
| sad          | sad         |                                                                       |
| angry        | angry       |                                                                       |
| fearful      | fearful     |                                                                       |
| disgust      | disgust     |                                                                       |
| surprised    | -           | no CREMA-D class; always unmapped (`None`)                            |

Label order is the corpus' own code order, so class index = code - 1 for RAVDESS (codes 01..08) and the
position of the code in `ANG DIS FEA HAP NEU SAD` for CREMA-D. The synthetic corpus uses RAVDESS' set.
"""

from __future__ import annotations

from collections.abc import Mapping

# RAVDESS emotion codes 01..08 (Livingstone & Russo 2018, file-name field 3), in code order.
RAVDESS_LABELS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")

# CREMA-D emotion codes (Cao et al. 2014), in the order the corpus documents them.
CREMAD_CODES: tuple[str, ...] = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
CREMAD_LABELS: tuple[str, ...] = ("angry", "disgust", "fearful", "happy", "neutral", "sad")
CREMAD_CODE_TO_LABEL: Mapping[str, str] = dict(zip(CREMAD_CODES, CREMAD_LABELS))

LABEL_SETS: Mapping[str, tuple[str, ...]] = {
    "ravdess": RAVDESS_LABELS,
    "cremad": CREMAD_LABELS,
    "synthetic": RAVDESS_LABELS,
}


def get_label_set(name: str) -> tuple[str, ...]:
    """Return the ordered label names of a corpus (`"ravdess"`, `"cremad"` or `"synthetic"`)."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise ValueError(f"unknown label set {name!r}; choose one of {sorted(LABEL_SETS)}") from None


def map_label(label: str, source: str, target: str, *, calm_as_neutral: bool = False) -> str | None:
    """Map one emotion name from the `source` corpus' label set to the `target` one.

    Returns `None` where the target has no such class (RAVDESS `surprised`, and `calm` unless
    `calm_as_neutral=True`, have no CREMA-D counterpart). Raises `ValueError` for a name that is not in
    the source set.
    """
    source_labels, target_labels = get_label_set(source), get_label_set(target)
    if label not in source_labels:
        raise ValueError(f"{label!r} is not a {source} label; the {source} labels are {list(source_labels)}")
    if calm_as_neutral and label == "calm":
        label = "neutral"
    return label if label in target_labels else None


def label_index_map(source: str, target: str, *, calm_as_neutral: bool = False) -> dict[int, int | None]:
    """Class-index map from `source` to `target` (`None` for classes without a counterpart).

    Example: `label_index_map("ravdess", "cremad")[4]` is 0 (RAVDESS `angry` is CREMA-D class 0).
    """
    source_labels, target_labels = get_label_set(source), get_label_set(target)
    mapping: dict[int, int | None] = {}
    for index, label in enumerate(source_labels):
        mapped = map_label(label, source, target, calm_as_neutral=calm_as_neutral)
        mapping[index] = None if mapped is None else target_labels.index(mapped)
    return mapping
