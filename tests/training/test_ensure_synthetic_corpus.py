"""`ensure_synthetic_corpus`: write once, reuse only a corpus written with the recipe's own settings."""

from __future__ import annotations

import pytest

from av_emotion.training.data import ensure_synthetic_corpus

TINY = {"num_actors": 1, "clips_per_emotion": 1, "duration_s": 0.5, "frame_size": 32, "seed": 3}


def test_writes_once_then_reuses_the_same_corpus(tmp_path):
    root = tmp_path / "corpus"
    messages = []
    ensure_synthetic_corpus(root, {**TINY, "num_workers": 1}, messages.append)
    assert len(messages) == 1 and "writing the synthetic corpus" in messages[0]
    clips = sorted(root.glob("*.mp4"))
    assert len(clips) == 8  # one actor x 8 emotions
    stamps = [clip.stat().st_mtime_ns for clip in clips]

    # Same settings (the worker count is not a corpus setting): nothing is rewritten, nothing is logged.
    ensure_synthetic_corpus(root, {**TINY, "num_workers": 2}, messages.append)
    assert len(messages) == 1
    assert [clip.stat().st_mtime_ns for clip in clips] == stamps


def test_refuses_a_corpus_written_with_other_settings(tmp_path):
    root = tmp_path / "corpus"
    ensure_synthetic_corpus(root, TINY, lambda message: None)
    with pytest.raises(ValueError, match=r"num_actors: 1 there, 16 asked") as caught:
        ensure_synthetic_corpus(root, {**TINY, "num_actors": 16}, lambda message: None)
    assert str(root) in str(caught.value) and "data.root" in str(caught.value)
    assert "seed" not in str(caught.value)  # only the settings that differ are named
