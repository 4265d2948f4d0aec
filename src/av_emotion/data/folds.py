"""Speaker-independent cross-validation folds with fixed, documented speaker lists.

No speaker is ever in two splits of one fold, and the lists below are literals (or ranges with literal
bounds) in actor-number order, never the order a filesystem lists folders in.

Protocols (`FOLD_PROTOCOLS[name]`):

- `ravdess_6fold` — HiCMAE (Sun et al. 2023, github.com/sunlicai/HiCMAE, `saved/data/ravdess/...`):
  6 folds, each testing 4 consecutive actors (1-4, 5-8, ..., 21-24) and training on the other 20. HiCMAE
  has no validation split; `Fold.with_validation(n)` carves one from the training actors when a recipe
  needs early stopping.
- `ravdess_5fold_4_4_16` — Chumachenko et al. 2022 ("Self-attention fusion for audiovisual emotion
  recognition with incomplete data", ICPR; `ravdess_preprocessing/create_annotations.py` of
  katerynaCh/multimodal-emotion-recognition): 5 folds of 4 test / 4 validation / 16 training actors,
  fold k testing actors 4k+1..4k+4 and validating on 4k+5..4k+8. Two slips of the public script are not
  copied: it indexes actors by `os.listdir` position (0-based) instead of actor number, and fold 3's
  training list has `9` where `19` is meant. Actors 21-24 are never tested, as in the paper's lists.
- `cremad_5fold` — HiCMAE's CREMA-D preparation (`preprocess/creamd_av.py`): 5 folds over actors
  1001..1091 in blocks of 18 consecutive ids (the last block takes 19: 1073..1091); no validation split
  (see `with_validation`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, replace

import datasets


@dataclass(frozen=True)
class Fold:
    """One fold: the speakers of each split.

    Attributes:
        index: Fold number, from 0.
        test: Speakers evaluated on.
        validation: Speakers used for model selection / early stopping (may be empty).
        train: Speakers trained on.
    """

    index: int
    test: tuple[Hashable, ...]
    validation: tuple[Hashable, ...]
    train: tuple[Hashable, ...]

    def __post_init__(self) -> None:
        splits = {"train": self.train, "validation": self.validation, "test": self.test}
        for name, members in splits.items():
            if len(set(members)) != len(members):
                raise ValueError(f"fold {self.index}: a speaker appears twice in its {name} list")
        names = list(splits)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                shared = set(splits[first]) & set(splits[second])
                if shared:
                    raise ValueError(f"fold {self.index}: speakers {sorted(shared)} are in both {first} and {second}")

    @property
    def speakers(self) -> tuple[Hashable, ...]:
        """Every speaker of the fold."""
        return self.train + self.validation + self.test

    def split_of(self, speaker: Hashable) -> str:
        """`"train"`, `"validation"` or `"test"`; `KeyError` for a speaker outside the fold."""
        for name, members in (("train", self.train), ("validation", self.validation), ("test", self.test)):
            if speaker in members:
                return name
        raise KeyError(speaker)

    def with_validation(self, num_speakers: int) -> Fold:
        """Return a copy whose validation split takes `num_speakers` speakers from the training list.

        Rule (our choice, deterministic): the training speakers that follow the highest test speaker, in
        ascending order, wrapping around. For RAVDESS `ravdess_6fold` fold 0 (test 1-4) and 4 speakers this
        gives validation 5-8, the 4/4/16 shape of Chumachenko et al. Keeps an existing validation split
        when `num_speakers` is 0.
        """
        if num_speakers <= 0:
            return self
        if self.validation:
            raise ValueError(f"fold {self.index} already has a validation split {list(self.validation)}")
        if num_speakers >= len(self.train):
            raise ValueError(f"cannot take {num_speakers} validation speakers from {len(self.train)} training speakers")
        ordered = sorted(self.train)
        top_test = max(self.test)
        start = next((i for i, speaker in enumerate(ordered) if speaker > top_test), 0)
        rotated = ordered[start:] + ordered[:start]
        validation = tuple(sorted(rotated[:num_speakers]))
        train = tuple(speaker for speaker in self.train if speaker not in validation)
        return replace(self, validation=validation, train=train)


@dataclass(frozen=True)
class FoldProtocol:
    """A named cross-validation protocol: its corpus, its folds and where it comes from."""

    name: str
    corpus: str
    folds: tuple[Fold, ...]
    source: str

    def __len__(self) -> int:
        return len(self.folds)

    def __getitem__(self, index: int) -> Fold:
        if not 0 <= index < len(self.folds):
            raise IndexError(f"{self.name} has folds 0..{len(self.folds) - 1}, not {index}")
        return self.folds[index]


def _complement(all_speakers: Sequence[int], *excluded: Iterable[int]) -> tuple[int, ...]:
    removed = set().union(*map(set, excluded))
    return tuple(speaker for speaker in all_speakers if speaker not in removed)


_RAVDESS_ACTORS = tuple(range(1, 25))

# HiCMAE: test blocks of 4 consecutive actors.
_RAVDESS_HICMAE_TEST = (
    (1, 2, 3, 4),
    (5, 6, 7, 8),
    (9, 10, 11, 12),
    (13, 14, 15, 16),
    (17, 18, 19, 20),
    (21, 22, 23, 24),
)

# Chumachenko et al. 2022: (test, validation) per fold; training is the other 16 actors.
_RAVDESS_CHUMACHENKO = (
    ((1, 2, 3, 4), (5, 6, 7, 8)),
    ((5, 6, 7, 8), (9, 10, 11, 12)),
    ((9, 10, 11, 12), (13, 14, 15, 16)),
    ((13, 14, 15, 16), (17, 18, 19, 20)),
    ((17, 18, 19, 20), (21, 22, 23, 24)),
)

_CREMAD_SPEAKERS = tuple(range(1001, 1092))
# HiCMAE: blocks of 18 ids, the last one 19.
_CREMAD_HICMAE_TEST = (
    tuple(range(1001, 1019)),
    tuple(range(1019, 1037)),
    tuple(range(1037, 1055)),
    tuple(range(1055, 1073)),
    tuple(range(1073, 1092)),
)

FOLD_PROTOCOLS: dict[str, FoldProtocol] = {
    "ravdess_6fold": FoldProtocol(
        name="ravdess_6fold",
        corpus="ravdess",
        folds=tuple(
            Fold(index, test, (), _complement(_RAVDESS_ACTORS, test)) for index, test in enumerate(_RAVDESS_HICMAE_TEST)
        ),
        source="HiCMAE (Sun et al. 2023): 6 folds of 4 test actors, 20 training actors",
    ),
    "ravdess_5fold_4_4_16": FoldProtocol(
        name="ravdess_5fold_4_4_16",
        corpus="ravdess",
        folds=tuple(
            Fold(index, test, validation, _complement(_RAVDESS_ACTORS, test, validation))
            for index, (test, validation) in enumerate(_RAVDESS_CHUMACHENKO)
        ),
        source="Chumachenko et al. 2022: 5 folds of 4 test / 4 validation / 16 training actors",
    ),
    "cremad_5fold": FoldProtocol(
        name="cremad_5fold",
        corpus="cremad",
        folds=tuple(
            Fold(index, test, (), _complement(_CREMAD_SPEAKERS, test)) for index, test in enumerate(_CREMAD_HICMAE_TEST)
        ),
        source="HiCMAE (Sun et al. 2023): 5 folds over actors 1001-1091 in blocks of 18 (last 19)",
    ),
}


def get_fold(protocol: str, index: int, *, validation_speakers: int = 0) -> Fold:
    """Fold `index` of `protocol`, with `validation_speakers` carved from training when it has none."""
    if protocol not in FOLD_PROTOCOLS:
        raise ValueError(f"unknown fold protocol {protocol!r}; choose one of {sorted(FOLD_PROTOCOLS)}")
    fold = FOLD_PROTOCOLS[protocol][index]
    if validation_speakers and not fold.validation:
        fold = fold.with_validation(validation_speakers)
    return fold


def speaker_independent_folds(
    speakers: Iterable[Hashable], num_folds: int, *, validation_speakers: int = 0
) -> tuple[Fold, ...]:
    """Folds for a corpus without a published protocol (the synthetic corpus, a manifest).

    Speakers are sorted (never taken in discovery order) and cut into `num_folds` contiguous blocks of
    near-equal size; fold k tests block k, and `validation_speakers` are carved from training by
    `Fold.with_validation`.
    """
    ordered = sorted(set(speakers))
    if num_folds < 2 or num_folds > len(ordered):
        raise ValueError(f"num_folds must be between 2 and the number of speakers ({len(ordered)}), got {num_folds}")
    sizes = [len(ordered) // num_folds + (1 if k < len(ordered) % num_folds else 0) for k in range(num_folds)]
    folds, start = [], 0
    for index, size in enumerate(sizes):
        test = tuple(ordered[start : start + size])
        start += size
        fold = Fold(index, test, (), tuple(s for s in ordered if s not in test))
        folds.append(fold.with_validation(validation_speakers))
    return tuple(folds)


def split_by_fold(
    dataset: datasets.Dataset,
    fold: Fold,
    *,
    speaker_column: str = "speaker",
    allow_unassigned: bool = False,
) -> datasets.DatasetDict:
    """Split `dataset` by speaker into `train`, `validation` (when the fold has one) and `test`.

    Raises `ValueError` when a speaker of the dataset is in none of the fold's lists (pass
    `allow_unassigned=True` to drop such rows), or when the train or test split ends up empty.
    """
    if speaker_column not in dataset.column_names:
        raise ValueError(f"dataset has no {speaker_column!r} column; its columns are {dataset.column_names}")
    speakers = dataset[speaker_column]
    assignment: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    unassigned = set()
    for row, speaker in enumerate(speakers):
        try:
            assignment[fold.split_of(speaker)].append(row)
        except KeyError:
            unassigned.add(speaker)
    if unassigned and not allow_unassigned:
        raise ValueError(
            f"speakers {sorted(unassigned)} of the dataset are in no split of fold {fold.index}; use the fold "
            f"protocol of this corpus, or pass allow_unassigned=True to leave them out"
        )
    for name in ("train", "test"):
        if not assignment[name]:
            raise ValueError(
                f"fold {fold.index}: the {name} split is empty (its speakers: {list(getattr(fold, name))})"
            )
    splits = {name: dataset.select(rows) for name, rows in assignment.items() if rows or name != "validation"}
    if fold.validation and not assignment["validation"]:
        raise ValueError(f"fold {fold.index}: no clip of validation speakers {list(fold.validation)} in the dataset")
    return datasets.DatasetDict(splits)
