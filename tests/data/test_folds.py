import itertools

import datasets
import pytest

from av_emotion.data.folds import FOLD_PROTOCOLS, Fold, get_fold, speaker_independent_folds, split_by_fold


def assert_disjoint(fold: Fold):
    for first, second in itertools.combinations((fold.train, fold.validation, fold.test), 2):
        assert not set(first) & set(second)


@pytest.mark.parametrize("name", sorted(FOLD_PROTOCOLS))
def test_protocol_structure(name):
    protocol = FOLD_PROTOCOLS[name]
    universe = set(range(1, 25)) if protocol.corpus == "ravdess" else set(range(1001, 1092))
    tested = []
    for index, fold in enumerate(protocol.folds):
        assert fold.index == index
        assert_disjoint(fold)
        assert set(fold.speakers) == universe  # every speaker has exactly one split in every fold
        assert len(fold.speakers) == len(universe)
        tested += fold.test
    assert len(tested) == len(set(tested))  # test blocks never overlap across folds


def test_published_shapes():
    hicmae = FOLD_PROTOCOLS["ravdess_6fold"]
    assert len(hicmae) == 6 and [f.test for f in hicmae.folds][0] == (1, 2, 3, 4)
    assert all(len(f.test) == 4 and len(f.train) == 20 and not f.validation for f in hicmae.folds)
    chum = FOLD_PROTOCOLS["ravdess_5fold_4_4_16"]
    assert len(chum) == 5
    assert all((len(f.test), len(f.validation), len(f.train)) == (4, 4, 16) for f in chum.folds)
    assert chum[2].test == (9, 10, 11, 12) and chum[2].validation == (13, 14, 15, 16) and 19 in chum[2].train
    assert chum[4].validation == (21, 22, 23, 24)
    crema = FOLD_PROTOCOLS["cremad_5fold"]
    assert [len(f.test) for f in crema.folds] == [18, 18, 18, 18, 19]
    assert crema[0].test[0] == 1001 and crema[4].test[-1] == 1091


def test_with_validation_rule():
    fold = get_fold("ravdess_6fold", 0, validation_speakers=4)
    assert fold.validation == (5, 6, 7, 8) and len(fold.train) == 16
    last = get_fold("ravdess_6fold", 5, validation_speakers=4)
    assert last.validation == (1, 2, 3, 4)  # wraps around past actor 24
    assert_disjoint(last)
    with pytest.raises(ValueError, match="already has"):
        get_fold("ravdess_5fold_4_4_16", 0).with_validation(2)


def test_fold_rejects_overlap_and_bad_index():
    with pytest.raises(ValueError, match=r"\[3\] are in both train and test"):
        Fold(0, test=(3,), validation=(), train=(1, 3))
    with pytest.raises(IndexError, match="0..5"):
        FOLD_PROTOCOLS["ravdess_6fold"][6]
    with pytest.raises(ValueError, match="unknown fold protocol"):
        get_fold("nope", 0)


def test_generic_folds_sorted_not_discovery_order():
    folds = speaker_independent_folds([7, 3, 9, 1, 5, 3, 11], 3, validation_speakers=1)
    assert [f.test for f in folds] == [(1, 3), (5, 7), (9, 11)]
    for fold in folds:
        assert_disjoint(fold)
        assert len(fold.validation) == 1 and set(fold.speakers) == {1, 3, 5, 7, 9, 11}


def test_split_by_fold_errors():
    dataset = datasets.Dataset.from_dict({"speaker": [1, 2, 99], "label": [0, 1, 0]})
    fold = Fold(0, test=(1,), validation=(), train=(2,))
    with pytest.raises(ValueError, match=r"speakers \[99\]"):
        split_by_fold(dataset, fold)
    splits = split_by_fold(dataset, fold, allow_unassigned=True)
    assert splits["test"]["speaker"] == [1] and splits["train"]["speaker"] == [2] and "validation" not in splits
    with pytest.raises(ValueError, match="train split is empty"):
        split_by_fold(dataset, Fold(0, test=(1,), validation=(), train=(5,)), allow_unassigned=True)
