"""The pipeline over many inputs: preprocessing in worker processes, results in input order, batches of one shape.

Generated media only (tiny checkpoint, short clips of different lengths, a 60-s video split among workers), so
these run on a fresh machine in seconds.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from transformers import pipeline

from av_emotion.pipelines.parallel_preprocessing import WORKER_NICENESS, WorkItem, work_items
from av_emotion.processing import SilentAudioWarning, media
from av_emotion.processing.media import MediaError
from tests.pipelines.generated_media import write_talking_clip, write_video
from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint

WORKERS = 2


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    checkpoint = save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_parallel"))
    return pipeline("audio-video-emotion", model=str(checkpoint), device="cpu")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[str]:
    """Six clips of three lengths (the tiny processor keeps each clip's own length), lengths interleaved."""
    folder = tmp_path_factory.mktemp("parallel_clips")
    durations = [2.0, 3.2, 2.0, 2.6, 3.2, 2.0]
    emotions = ["happy", "sad", "angry", "neutral", "fearful", "surprised"]
    return [
        str(write_talking_clip(folder / f"{index}_{emotion}.mp4", duration, actor=index + 1, emotion=emotion))
        for index, (duration, emotion) in enumerate(zip(durations, emotions))
    ]


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> str:
    """60 s: with 4-s windows, 15 windows, which two workers share as runs of 8 and 7."""
    return str(write_video(tmp_path_factory.mktemp("parallel_long") / "sixty_seconds.mkv", 60.0))


@pytest.fixture(scope="module")
def not_media(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("parallel_bad") / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    return str(path)


def scores(result):
    """Labels and scores of a whole-clip result, or of every window and the aggregate of a timeline."""
    if isinstance(result, dict):
        return [scores(entry["labels"]) for entry in result["timeline"]] + [scores(result["aggregate"])]
    return [(item["label"], item["score"]) for item in result]


def reference(classifier, inputs, **params):
    """One input through `ChunkPipeline.run_single`: preprocess's generator, one forward per chunk, in this process.

    A single-input call also goes through `get_iterator` (transformers wraps it in a list), so this is the
    independent reference.
    """
    preprocess_params, forward_params, postprocess_params = classifier._sanitize_parameters(**params)
    return classifier.run_single(inputs, preprocess_params, forward_params, postprocess_params)


def assert_same_up_to_batching(together, single):
    """Same labels in the same order, scores within 1e-5: a convolution over a batch of several clips sums in
    another order than over one clip (float32), so batched scores differ from batch-1 scores by about 1e-7."""
    assert [label for label, _ in scores(together)] == [label for label, _ in scores(single)]
    assert [score for _, score in scores(together)] == pytest.approx([score for _, score in scores(single)], abs=1e-5)


def test_workers_give_the_sequential_outputs_in_input_order(classifier, clips):
    one_by_one = [reference(classifier, path) for path in clips]
    sequential = classifier(clips, num_workers=0)
    parallel = classifier(clips, num_workers=WORKERS)
    assert [scores(result) for result in parallel] == [scores(result) for result in sequential]  # bit-identical
    assert [scores(result) for result in sequential] == [scores(result) for result in one_by_one]
    assert len({tuple(scores(result)) for result in parallel}) == len(clips)  # distinct clips: order is tested


def test_windows_of_one_video_shared_by_workers_equal_the_single_call(classifier, long_video, clips):
    single = reference(classifier, long_video, window_s=4.0)  # one generator over all 15 windows
    inputs = [clips[0], long_video, clips[1]]
    parallel = classifier(inputs, window_s=4.0, num_workers=WORKERS)
    assert [entry["start"] for entry in parallel[1]["timeline"]] == [entry["start"] for entry in single["timeline"]]
    assert scores(parallel[1]) == scores(single)
    # The short clips are one window each, in their places.
    assert scores(parallel[0]) == scores(reference(classifier, clips[0], window_s=4.0))
    assert scores(parallel[2]) == scores(reference(classifier, clips[1], window_s=4.0))
    assert scores(classifier(long_video, window_s=4.0)) == scores(single)  # a single call, no workers


def test_a_long_video_is_split_into_runs_of_windows():
    items = list(work_items(["a.mkv"], {}, num_workers=WORKERS))
    assert items == [WorkItem(0, "a.mkv")]  # no window_s: whole inputs


def test_runs_of_windows_cover_the_video_once(long_video, clips):
    items = list(work_items([long_video, clips[0]], {"window_s": 4.0}, num_workers=WORKERS))
    assert [(item.index, item.windows, item.part, item.num_parts) for item in items] == [
        (0, slice(0, 8), 0, 2),
        (0, slice(8, None), 1, 2),  # the last run is open-ended
        (1, None, 0, 1),  # a 2-s clip is one window: not split
    ]
    many = list(work_items([long_video], {"window_s": 1.0}, num_workers=WORKERS))
    assert len(many) == 8 and many[0].windows == slice(0, 8)  # 60 windows: runs of at most 8


@pytest.mark.parametrize("num_workers", [0, WORKERS])
def test_a_bad_file_in_the_middle_raises_at_its_turn_naming_it(classifier, clips, not_media, num_workers):
    stream = classifier((path for path in [clips[0], not_media, clips[1]]), num_workers=num_workers)
    first = next(stream)
    assert scores(first) == scores(reference(classifier, clips[0]))
    with pytest.raises(MediaError) as error:
        next(stream)
    assert str(error.value).startswith(not_media)  # the file first, as without workers
    with pytest.raises(MediaError, match="notes.mp4"):
        classifier([clips[0], not_media, clips[1]], num_workers=num_workers)


def test_equal_shapes_batch_together_and_match_batch_one(classifier, clips, monkeypatch):
    one_by_one = [reference(classifier, path) for path in clips]
    batches: list[list[int]] = []
    forward = classifier._forward

    def recording_forward(chunk, **kwargs):
        batches.append([int(mask.sum()) for mask in chunk["audio_mask"]])  # real audio frames of each clip
        return forward(chunk, **kwargs)

    monkeypatch.setattr(classifier, "_forward", recording_forward)
    batched = classifier(clips, batch_size=3, num_workers=WORKERS)
    # Clips of 2.0, 3.2, 2.0, 2.6, 3.2, 2.0 s: the three 2.0-s clips fill one batch; the others run when the
    # inputs are exhausted, each group alone. Nothing is padded: every batch holds one length.
    assert sorted(len(batch) for batch in batches) == [1, 2, 3]
    assert all(len(set(batch)) == 1 for batch in batches)
    for single, together in zip(one_by_one, batched):
        assert_same_up_to_batching(together, single)


def test_a_rare_shape_does_not_hold_back_later_inputs(classifier, clips):
    """With max_wait chunks, a lone clip's bucket runs before the inputs are exhausted; results stay in order."""
    from av_emotion.pipelines.parallel_preprocessing import run_in_order

    forwarded: list[int] = []
    delivered: list[int] = []

    def forward(batch):
        forwarded.append(len(batch["audio_mask"]))
        return classifier.forward(batch)

    def postprocess(outputs):
        delivered.append(len(forwarded))
        return classifier.postprocess(outputs)

    inputs = [clips[1]] + [clips[0]] * 6  # one 3.2-s clip, then 2.0-s clips
    results = list(
        run_in_order(
            inputs,
            preprocess=classifier.preprocess,
            forward=forward,
            postprocess=postprocess,
            collate=lambda items: __import__("av_emotion").pipelines.collate_chunks(items),
            preprocess_params={},
            num_workers=0,
            batch_size=4,
            max_wait=2,
        )
    )
    # The 3.2-s clip waits for 2 later chunks, then runs alone and is delivered before the stream ends.
    assert forwarded[0] == 1 and delivered[0] < len(forwarded)
    for together, path in zip(results, inputs):
        assert_same_up_to_batching(together, reference(classifier, path))


def test_worker_warnings_reach_the_caller(classifier, clips, tmp_path):
    muted = str(write_video(tmp_path / "muted.mp4", 3.0, fps=10, silent_audio=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = classifier([clips[0], muted], num_workers=WORKERS, return_details=True)
    silent = [w for w in caught if issubclass(w.category, SilentAudioWarning)]
    assert len(silent) == 1 and "muted.mp4" in str(silent[0].message)
    assert results[1]["modalities"] == ["video"] and results[0]["modalities"] == ["video", "audio"]


def test_a_worker_error_keeps_its_type_and_where_it_happened(classifier, tmp_path):
    missing = str(tmp_path / "does_not_exist.mp4")
    with pytest.raises(MediaError) as error:
        classifier([missing, missing], num_workers=WORKERS)
    assert str(error.value).startswith(missing)
    notes = "".join(getattr(error.value, "__notes__", []))
    assert "raised in a pipeline worker process" in notes


def test_bad_worker_and_batch_settings(classifier, clips):
    with pytest.raises(ValueError, match="num_workers must be 0"):
        classifier(clips[:2], num_workers=-1)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        classifier(clips[:2], batch_size=0)


def test_paths_as_pathlib(classifier, clips):
    assert scores(classifier([Path(clips[0])], num_workers=WORKERS)[0]) == scores(reference(classifier, clips[0]))


def test_a_cut_download_shared_by_workers_gives_the_same_windows_and_one_warning(classifier, tmp_path_factory):
    """A file whose last 1.8 s are lost: each run of windows meets the loss on its own; the caller sees it once."""
    from av_emotion.processing.media import TruncatedMediaWarning
    from tests.processing.test_damaged_tails import FULL_S, TAIL_LOST_S, cut_download

    path = str(cut_download(tmp_path_factory, FULL_S - TAIL_LOST_S, "parallel_cut_tail"))
    results = {}
    for workers in (0, WORKERS):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results[workers] = classifier([path], window_s=1.0, num_workers=workers)[0]
        truncated = [w for w in caught if issubclass(w.category, TruncatedMediaWarning)]
        assert len(truncated) == 1 and path in str(truncated[0].message)
    assert [entry["start"] for entry in results[WORKERS]["timeline"]] == [
        entry["start"] for entry in results[0]["timeline"]
    ]
    assert len(results[0]["timeline"]) < FULL_S  # the windows past the loss are left out
    assert scores(results[WORKERS]) == scores(results[0])


def test_workers_decode_with_one_thread_at_a_lower_priority(classifier, clips, tmp_path, monkeypatch):
    """The workers fill the cores the model leaves (see `_init_worker`): one FFmpeg decoder thread each, niced."""
    opened = media._OpenMedia.open
    record = tmp_path / "opened.txt"

    def recording_open(source, limits):
        result = opened(source, limits)
        with record.open("a") as log:  # the workers are forked: this function runs in them
            log.write(f"{os.getpid()} {os.nice(0)} {result.frame_reader.stream.thread_count}\n")
        return result

    monkeypatch.setattr(media._OpenMedia, "open", staticmethod(recording_open))
    parallel = classifier(clips[:4], num_workers=WORKERS)
    in_workers = [line.split() for line in record.read_text().splitlines()]
    record.unlink()
    sequential = classifier(clips[:4], num_workers=0)
    in_this_process = [line.split() for line in record.read_text().splitlines()]

    assert [scores(result) for result in parallel] == [scores(result) for result in sequential]
    assert len(in_workers) == 4 and all(int(pid) != os.getpid() for pid, _, _ in in_workers)
    assert all(int(nice) >= os.nice(0) + min(WORKER_NICENESS, 19 - os.nice(0)) for _, nice, _ in in_workers)
    assert all(int(threads) == 1 for _, _, threads in in_workers)
    # This process keeps FFmpeg's own choice (0: about one thread per core) and its priority.
    assert in_this_process == [[str(os.getpid()), str(os.nice(0)), "0"]] * 4
