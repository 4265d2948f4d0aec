"""Files whose end is damaged: decoded as far as they go, in whole-clip and windowed modes alike, with a warning.

Three generated files (PyAV, so no FFmpeg CLI is needed):

- a video joined from 12 one-second parts with FFmpeg's concat demuxer and stream copy (`ffmpeg -f concat -c copy`):
  each part's AAC track is shorter than its video, so the audio has a gap at every join and its samples, counted
  from the start, end 0.5 s before the header says (such a file used to be refused as "truncated" for whole-clip
  prediction while its windows decoded);
- a Matroska video whose last 1.8 s of frames are missing: its header (the track's DURATION tag) says 8 s, the
  frames stop at 6.2 s, the audio is whole (such a file used to be refused by the whole-clip presets and decoded
  by the ones with a short centred window);
- a web-ready (faststart) mp4 cut in its last 1.8 s, as an interrupted download leaves it (both streams end early).

Frame `k` is a flat grey of `factory.level(k)` and the audio a 440 Hz tone, so the tests tell which frames and
samples were decoded from how the files were written.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from av_emotion import AVEmotionProcessor
from av_emotion.processing.media import (
    MIN_REMAINING_FRACTION,
    MediaError,
    TruncatedMediaWarning,
    decode_clip,
    iter_windows,
)
from tests.robustness.factory import AudioTrack, VideoTrack, frame_number, write_media

FPS = 10
RATE = 16000
SIZE = (32, 48)
SEGMENT_S = 1.0
SEGMENT_AUDIO_S = 0.95  # shorter than the part's video, as in clips recorded or cut apart
NUM_SEGMENTS = 12
TAIL_LOST_S = 1.8
FULL_S = 8.0


def concat_copy(parts: list[Path], path: Path) -> Path:
    """What `ffmpeg -f concat -safe 0 -i list.txt -c copy out.mp4` does: FFmpeg's concat demuxer, packets copied."""
    listing = path.with_suffix(".txt")
    listing.write_text("".join(f"file '{part.resolve()}'\n" for part in parts))
    with av.open(str(listing), format="concat", options={"safe": "0"}) as source, av.open(str(path), "w") as out:
        streams = {stream.index: out.add_stream_from_template(stream) for stream in source.streams}
        last_dts: dict[int, int] = {}
        for packet in source.demux():
            if packet.dts is None:
                continue
            index = packet.stream.index
            if index in last_dts and packet.dts <= last_dts[index]:
                # FFmpeg's CLI answers non-monotonic timestamps at a join by moving them one tick on; so do we.
                packet.dts = last_dts[index] + 1
                packet.pts = max(packet.pts, packet.dts)
            last_dts[index] = packet.dts
            packet.stream = streams[index]
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def joined(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("concat")
    part = write_media(
        folder / "part.mp4",
        VideoTrack(size=SIZE, fps=FPS, num_frames=int(SEGMENT_S * FPS)),
        [AudioTrack(rate=44100, layout="stereo", duration_s=SEGMENT_AUDIO_S)],
        duration_s=SEGMENT_S,
    )
    return concat_copy([part] * NUM_SEGMENTS, folder / "joined.mp4")


@pytest.fixture(scope="module")
def frames_lost(tmp_path_factory) -> Path:
    """An 8-s mkv whose video track says 8 s but whose frames stop at 6.2 s; the audio is whole."""
    folder = tmp_path_factory.mktemp("frames_lost")
    kept_s = FULL_S - TAIL_LOST_S
    whole = write_media(
        folder / "written.mkv",
        VideoTrack(size=SIZE, fps=FPS, num_frames=int(round(kept_s * FPS))),
        [AudioTrack(codec="flac", rate=RATE)],
        duration_s=FULL_S,
    )
    data = whole.read_bytes()
    tag = f"00:00:0{kept_s:.9f}".encode()
    assert data.count(tag) == 1, "the video track's DURATION tag was not found"
    path = folder / "frames_lost.mkv"
    path.write_bytes(data.replace(tag, f"00:00:0{FULL_S:.9f}".encode()))
    return path


def cut_download(tmp_path_factory, cut_at_s: float, name: str) -> Path:
    """A faststart mp4 of `FULL_S` s (frames 0..79, tone), keeping only the bytes before the packets at `cut_at_s`."""
    folder = tmp_path_factory.mktemp(name)
    whole = write_media(
        folder / "whole.mp4",
        VideoTrack(size=SIZE, fps=FPS, num_frames=int(FULL_S * FPS)),
        [AudioTrack(rate=RATE)],
        duration_s=FULL_S,
        container_options={"movflags": "faststart"},
    )
    with av.open(str(whole)) as container:
        cut = min(
            packet.pos
            for packet in container.demux()
            if packet.pts is not None and packet.pos is not None and packet.pts * packet.time_base >= cut_at_s
        )
    path = folder / f"{name}.mp4"
    path.write_bytes(whole.read_bytes()[:cut])
    return path


@pytest.fixture(scope="module")
def download_cut(tmp_path_factory) -> Path:
    return cut_download(tmp_path_factory, FULL_S - TAIL_LOST_S, "cut_tail")


def decode_warned(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clip = decode_clip(*args, **kwargs)
    return clip, [w for w in caught if issubclass(w.category, TruncatedMediaWarning)]


def windows_warned(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clips = list(iter_windows(*args, **kwargs))
    return clips, [w for w in caught if issubclass(w.category, TruncatedMediaWarning)]


def packet_joins(path: Path) -> tuple[np.ndarray, float, float]:
    """From the container's audio packet timestamps: where packets resume after a gap, the last packet's start and
    the usual packet spacing (seconds). The mp4 muxer folds a gap into the previous packet's duration, so gaps are
    read from the starts, not the durations."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        starts = np.asarray([float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None])
    step = float(np.median(np.diff(starts)))
    joins = starts[1:][np.diff(starts) > step + 0.003]
    return joins, float(starts[-1]), step


def written_segment_starts(clip_audio: np.ndarray, start_s: float) -> np.ndarray:
    """Times where the tone resumes after a run of zeros (the gaps at the joins), seconds."""
    silent = np.abs(clip_audio) < 1e-3
    # Smooth over the tone's own zero crossings: a gap is at least 2 ms of silence.
    run = np.convolve(silent.astype(float), np.ones(32), mode="same") >= 32
    resumes = np.flatnonzero(run[:-1] & ~run[1:]) + 1
    return start_s + resumes / RATE


# ------------------------------------------------------------------------------------------------------------
# concat-joined
# ------------------------------------------------------------------------------------------------------------


def test_concat_joined_file_decodes_whole_with_its_audio_at_its_timestamps(joined):
    clip, warned = decode_warned(joined, 8, RATE)
    assert clip.has_audio and clip.has_video and not clip.truncated_streams and not warned
    assert clip.end_s == pytest.approx(NUM_SEGMENTS * SEGMENT_S, abs=0.05)
    # Each part's tone starts at its own place on the timeline (k seconds), not where the samples counted from the
    # start would put it; the samples of the last part end where it ends, not half a second early.
    joins, last_packet, step = packet_joins(joined)
    assert len(joins) == NUM_SEGMENTS - 1
    starts = written_segment_starts(clip.audio, clip.start_s)
    starts = starts[(starts > 0.5 * SEGMENT_S) & (starts < clip.end_s - 0.5 * SEGMENT_S)]
    np.testing.assert_allclose(starts, joins, atol=0.003)
    np.testing.assert_allclose(np.diff(starts), SEGMENT_S, atol=0.003)
    last_sound = np.flatnonzero(np.abs(clip.audio) > 1e-3)[-1] / RATE + clip.start_s
    assert last_packet < last_sound <= last_packet + step + 0.003
    assert last_sound - (NUM_SEGMENTS - 1) * SEGMENT_S == pytest.approx(SEGMENT_AUDIO_S, abs=0.05)


def test_concat_joined_file_whole_clip_and_windows_agree(joined):
    clip, _ = decode_warned(joined, 8, RATE)
    windows, warned = windows_warned(joined, 3.0, 3.0, 8, RATE)
    assert not warned and len(windows) == 4
    for window in windows:
        lo = int(round((window.start_s - clip.start_s) * RATE))
        part = clip.audio[lo : lo + window.audio.shape[0]]
        # The same samples at the same times (resampler edge effects aside, at most a few samples at each join).
        assert np.mean(np.abs(part - window.audio) > 0.05) < 0.002, f"window at {window.start_s:.1f} s"


def test_concat_joined_file_through_the_processor(joined):
    processor = AVEmotionProcessor.from_preset("synthetic")
    batch = processor(paths=[joined])
    assert batch["has_audio"].tolist() == [True] and batch["audio_mask"].all()
    windows = list(processor.iter_clips(joined, window_s=3.0))
    assert all(w.has_audio and w.has_video for w in windows)


# ------------------------------------------------------------------------------------------------------------
# video frames lost at the end
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_frames", [5, 8, 32])
def test_lost_frames_whole_clip_samples_within_the_frames_left(frames_lost, num_frames):
    clip, warned = decode_warned(frames_lost, num_frames, RATE)
    kept_s = FULL_S - TAIL_LOST_S
    assert clip.truncated_streams == {"video": pytest.approx(kept_s, abs=1e-3)}
    assert len(warned) == 1 and "video stream is truncated" in str(warned[0].message)
    assert str(frames_lost) in str(warned[0].message)
    # T frames sampled uniformly over [0, 6.2): the written frame on screen at each segment centre.
    targets = (np.arange(num_frames) + 0.5) * kept_s / num_frames
    want = np.floor(targets * FPS + 1e-6).astype(int) % 19
    assert [frame_number(f) for f in clip.frames] == want.tolist()
    # The audio is whole and untouched: the full range, the tone to the end.
    assert clip.audio.shape == (int(FULL_S * RATE),) and np.abs(clip.audio[-RATE // 10 :]).max() > 0.3


def test_lost_frames_every_preset_decodes_it(frames_lost):
    """It used to be refused by the whole-clip presets and decoded by those with a short centred window."""
    for preset in ("synthetic", "mocanu2023", "cpu_small", "avt_ca2024", "jca2022"):
        processor = AVEmotionProcessor.from_preset(preset, do_face_crop=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncatedMediaWarning)
            batch = processor(paths=[frames_lost])
        assert batch["has_video"].tolist() == [True] and batch["video_mask"].all(), preset
        assert batch["has_audio"].tolist() == [True], preset


def test_lost_frames_windows_leave_the_video_out_where_less_than_half_remains(frames_lost):
    windows, warned = windows_warned(frames_lost, 2.0, 2.0, 4, RATE)
    assert [round(w.start_s, 3) for w in windows] == [0.0, 2.0, 4.0, 6.0]
    # 6.0-8.0 s holds 0.2 s of frames (< MIN_REMAINING_FRACTION): the video is missing there, the audio is used.
    assert [w.has_video for w in windows] == [True, True, True, False]
    assert all(w.has_audio for w in windows)
    assert windows[-1].lost_streams == ("video",)
    assert len(warned) == 1 and "treated as missing" in str(warned[0].message)
    # A window that still holds more than half keeps its frames, sampled within them.
    windows, _ = windows_warned(frames_lost, 4.0, 2.0, 4, RATE)
    last = windows[-1]
    assert (last.start_s, last.has_video) == (pytest.approx(FULL_S - 4.0), True)
    assert (last.frame_times < FULL_S - TAIL_LOST_S).all()
    assert last.truncated_streams["video"] == pytest.approx(FULL_S - TAIL_LOST_S, abs=1e-3)


def test_a_lost_stream_needs_no_allow_missing_flag(frames_lost):
    processor = AVEmotionProcessor.from_preset("synthetic")
    with pytest.warns(TruncatedMediaWarning):
        clips = list(processor.iter_clips(frames_lost, window_s=2.0, stride_s=2.0))
    batch = processor.process_clips(clips)
    assert batch["has_video"].tolist() == [True, True, True, False]
    assert not batch["video_mask"][3].any() and batch["video_mask"][:3].all()


def test_the_warning_can_be_filtered(frames_lost):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", TruncatedMediaWarning)
        decode_clip(frames_lost, 8, RATE)
    with pytest.warns(TruncatedMediaWarning):
        decode_clip(frames_lost, 8, RATE)


# ------------------------------------------------------------------------------------------------------------
# an interrupted download: both streams end early
# ------------------------------------------------------------------------------------------------------------


def test_cut_download_uses_both_streams_as_far_as_they_go(download_cut):
    clip, warned = decode_warned(download_cut, 8, RATE)
    assert set(clip.truncated_streams) == {"video", "audio"} and len(warned) == 2
    video_end, audio_end = clip.truncated_streams["video"], clip.truncated_streams["audio"]
    for end in (video_end, audio_end):
        assert FULL_S - TAIL_LOST_S - 0.3 < end <= FULL_S - TAIL_LOST_S + 0.3
    assert (clip.frame_times < video_end).all()
    # Only the samples the file holds: the processor masks the rest.
    assert clip.audio.shape == (int(round(audio_end * RATE)),)
    assert np.abs(clip.audio[-RATE // 10 :]).max() > 0.3
    processor = AVEmotionProcessor.from_preset("synthetic")
    with pytest.warns(TruncatedMediaWarning):
        batch = processor(paths=[download_cut])
    hop = processor.feature_extractor.effective_hop_length
    assert int(batch["audio_mask"].sum()) == 1 + clip.audio.shape[0] // hop


def test_cut_download_whole_clip_and_windows_cover_the_same_data(download_cut):
    clip, _ = decode_warned(download_cut, 8, RATE)
    windows, warned = windows_warned(download_cut, 2.0, 2.0, 4, RATE)
    # [6, 8) holds less than half: the windows stop there, as the whole clip stops at the data's end.
    assert [w.start_s for w in windows] == [0.0, 2.0, 4.0]
    assert any("left out" in str(w.message) for w in warned)
    joined = np.concatenate([w.audio for w in windows])
    np.testing.assert_allclose(joined, clip.audio[: joined.shape[0]], atol=1e-4)


def test_too_little_left_is_refused(tmp_path_factory):
    path = cut_download(tmp_path_factory, 0.3 * FULL_S, "mostly_lost")
    with pytest.raises(MediaError) as excinfo:
        decode_clip(path, 8, RATE)
    message = str(excinfo.value)
    assert message.startswith(str(path)) and "truncated" in message and "re-download" in message
    assert f"MIN_REMAINING_FRACTION={MIN_REMAINING_FRACTION:g}" in message
    # Its windows are used as far as the data goes, then stop with a warning.
    windows, warned = windows_warned(path, 1.0, 1.0, 4, RATE)
    assert [w.start_s for w in windows] == [0.0, 1.0]  # [2, 3) holds 0.4 s
    assert any("left out" in str(w.message) for w in warned)
    # A window in which nothing remains is refused when it is the first one asked for.
    with pytest.raises(MediaError, match="truncated"):
        decode_clip(path, 8, RATE, start_s=5.0, end_s=7.0)


def test_pipeline_predicts_a_damaged_tail_in_both_modes(frames_lost, download_cut, joined, tmp_path_factory):
    from transformers import pipeline

    from av_emotion.pipelines import NoFaceWarning
    from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint

    warnings.simplefilter("ignore", NoFaceWarning)  # flat grey frames hold no face; pytest restores the filters

    classifier = pipeline(
        "audio-video-emotion", model=str(save_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))), device="cpu"
    )
    for path in (frames_lost, download_cut):
        with pytest.warns(TruncatedMediaWarning):
            whole = classifier(str(path))
        with pytest.warns(TruncatedMediaWarning):
            timeline = classifier(str(path), window_s=2.0)
        assert whole and timeline["timeline"] and timeline["aggregate"]
    whole = classifier(str(joined))
    timeline = classifier(str(joined), window_s=3.0)
    assert whole and len(timeline["timeline"]) == 4


def test_frame_times_of_a_damaged_tail_are_real_frames(frames_lost):
    """Break-check of the reader: no frame is repeated past the data end to fill the header's length."""
    clip, _ = decode_warned(frames_lost, 16, RATE)
    assert len(np.unique(clip.frame_times)) == 16
    assert Fraction(clip.frame_times.max()).limit_denominator(100) < FULL_S - TAIL_LOST_S


def test_cli_predict_reports_the_damaged_tail(frames_lost, capsys, tmp_path_factory):
    from av_emotion.cli import main
    from tests.pipelines.tiny_checkpoint import save_tiny_checkpoint

    checkpoint = save_tiny_checkpoint(tmp_path_factory.mktemp("tiny_cli"))
    for extra in ([], ["--window", "2"]):
        code = main(["predict", str(frames_lost), "--model", str(checkpoint), "--device", "cpu", "--json", *extra])
        err = capsys.readouterr().err
        assert code == 0, err
        lines = [line for line in err.splitlines() if line.startswith("av-emotion predict: warning:")]
        assert any("video stream is truncated" in line and str(frames_lost) in line for line in lines), err
