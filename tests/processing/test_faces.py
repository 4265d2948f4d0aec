"""Face detection, tracking and cropping on real clips, and the rules for frames without a face."""

from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from av_emotion.processing.faces import (
    CASCADE_FILE,
    FACE_RESOLUTION_HEADROOM,
    FaceCropper,
    FaceResolutionFrameSize,
    ProbedFace,
    crop_largest_face,
)
from av_emotion.processing.media import decode_clip


@pytest.fixture(scope="module")
def ravdess_frames(ravdess_av_clip: Path) -> np.ndarray:
    return decode_clip(ravdess_av_clip, num_frames=16, sampling_rate=16000).frames


def test_the_cascade_ships_inside_the_opencv_wheel():
    path = os.path.join(cv2.data.haarcascades, CASCADE_FILE)
    assert os.path.isfile(path)
    assert "site-packages" in path or "dist-packages" in path
    assert not cv2.CascadeClassifier(path).empty()


def test_faces_found_in_a_ravdess_clip(ravdess_frames: np.ndarray):
    result = FaceCropper(output_size=112)(ravdess_frames)
    assert result.face_found
    assert result.detected.mean() >= 0.95
    assert result.crops.shape == (16, 112, 112, 3) and result.crops.dtype == np.uint8
    assert result.boxes.shape == (16, 4)
    x0, y0, x1, y1 = result.boxes.T
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x1 <= 1280).all() and (y1 <= 720).all()
    np.testing.assert_array_equal(x1 - x0, y1 - y0)  # square crops
    # RAVDESS actors sit centred in front of a white wall, their face about 400-600 pixels tall.
    centre_x = (x0 + x1) / 2
    assert ((centre_x > 0.35 * 1280) & (centre_x < 0.65 * 1280)).all()
    assert ((y1 - y0 > 400) & (y1 - y0 < 720)).all()
    # The crop is mostly skin, not the white wall: its mean is well below white.
    assert result.crops.mean() < 200


def test_faces_found_in_every_shared_video(shared_data: Path):
    cropper = FaceCropper(output_size=64)
    for path in sorted([*shared_data.rglob("*.mp4"), *shared_data.rglob("*.flv")]):
        frames = decode_clip(path, num_frames=4, sampling_rate=8000, end_s=2.0).frames
        result = cropper(frames)
        assert result.face_found and result.detected.mean() >= 0.95, f"{path.name}: {result.detected}"


def test_no_face_gives_a_flagged_centre_crop():
    frames = np.full((3, 90, 160, 3), 200, dtype=np.uint8)
    frames[:, :, 35:125] = 40  # the centred square is dark, the sides light
    result = FaceCropper(output_size=32)(frames)
    assert not result.face_found
    assert not result.detected.any()
    np.testing.assert_array_equal(result.boxes, [[35, 0, 125, 90]] * 3)
    assert (result.crops == 40).all()


def test_frames_without_a_face_reuse_the_last_box(ravdess_frames: np.ndarray):
    frames = ravdess_frames[:6].copy()
    frames[0] = 255  # before the first face: takes the first box
    frames[3] = 255  # in the middle: carries the previous box over
    result = FaceCropper(output_size=64)(frames)
    assert result.detected.tolist() == [False, True, True, False, True, True]
    np.testing.assert_array_equal(result.boxes[0], result.boxes[1])
    np.testing.assert_array_equal(result.boxes[3], result.boxes[2])


def test_tracking_follows_the_overlapping_face_and_smooths():
    cropper = FaceCropper(smoothing=0.5)
    tracked = cropper.update(None, np.array([[10.0, 10, 50, 50], [100, 100, 200, 200]]))
    np.testing.assert_array_equal(tracked, [100, 100, 200, 200])  # first: the largest
    # Next frame: a larger false positive elsewhere and our face moved by 20 px; we follow ours, halfway.
    tracked = cropper.update(tracked, np.array([[300.0, 0, 500, 200], [120, 100, 220, 200]]))
    np.testing.assert_allclose(tracked, [110, 100, 210, 200])
    # No detection: unchanged.
    np.testing.assert_array_equal(cropper.update(tracked, np.zeros((0, 4))), tracked)
    # Without smoothing the box jumps to the detection.
    np.testing.assert_allclose(
        FaceCropper(smoothing=0.0).update(tracked, np.array([[130.0, 100, 230, 200]])), [130, 100, 230, 200]
    )


def test_crop_box_adds_the_margin_and_stays_inside_the_frame():
    cropper = FaceCropper(margin=0.25)
    np.testing.assert_array_equal(cropper.crop_box(np.array([100.0, 100, 200, 180]), 480, 640), [75, 65, 225, 215])
    # A face at the edge: the square is shifted inside rather than cut.
    np.testing.assert_array_equal(cropper.crop_box(np.array([0.0, 0, 100, 100]), 480, 640), [0, 0, 150, 150])
    # A face larger than the frame allows: the crop is clipped to the frame.
    box = cropper.crop_box(np.array([0.0, 0, 400, 400]), 300, 640)
    assert box[3] - box[1] == 300 and box[2] - box[0] == 300


def test_bad_frames_and_settings():
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\) uint8"):
        FaceCropper()(np.zeros((4, 32, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="smoothing"):
        FaceCropper(smoothing=1.0)
    with pytest.raises(ValueError, match="margin"):
        FaceCropper(margin=-0.1)


def test_crop_largest_face_shortcut(ravdess_frames: np.ndarray):
    result = crop_largest_face(ravdess_frames[:2], output_size=(48, 40))
    assert result.crops.shape == (2, 48, 40, 3) and result.face_found


# ------------------------------------------------------------------------------------------------------------
# The template tracker on generated frames (no shared data needed): a drawn face that OpenCV's cascade finds
# ------------------------------------------------------------------------------------------------------------


def drawn_face(side: int, mouth_open: float = 0.0) -> np.ndarray:
    """A grey `(side, side)` cartoon face the frontal-face cascade detects (dark hair, brows, eyes and mouth on a
    light oval: the contrasts its features look for). `mouth_open` in [0, 1] changes the expression."""
    s = side / 100.0
    face = np.full((side, side), 90, np.uint8)

    def ellipse(cx, cy, ax, ay, value, start=0, end=360):
        centre, axes = (round(cx * s), round(cy * s)), (max(1, round(ax * s)), max(1, round(ay * s)))
        cv2.ellipse(face, centre, axes, 0, start, end, value, -1)

    ellipse(50, 55, 36, 46, 200)  # skin
    ellipse(50, 22, 38, 20, 40, 180, 360)  # hair
    for x in (33, 67):
        ellipse(x, 38, 10, 3, 60)  # brows
        ellipse(x, 46, 8, 4, 50)  # eyes
    ellipse(50, 62, 5, 3, 140)  # nose
    ellipse(50, 77, 14, 4 + 4 * mouth_open, 70)  # mouth
    return cv2.GaussianBlur(face, (0, 0), max(0.5, side / 100))


def scene(
    height: int, width: int, faces: list[tuple[int, int, int]], seed: int, mouth_open: float = 0.0, texture: float = 0
) -> np.ndarray:
    """An RGB frame: a light wall with sensor noise and drawn faces at `(x0, y0, side)`.

    `texture` > 0 gives the wall blotches of that standard deviation (grey levels), the same in every frame: enough
    structure that only the template's correlation, not a flatness check, can tell the wall from a face.
    """
    rng = np.random.default_rng(seed)
    grey = np.full((height, width), 185.0)
    if texture:
        blotches = cv2.GaussianBlur(np.random.default_rng(1234).normal(0.0, 1.0, (height, width)), (0, 0), 6)
        grey += texture * blotches / blotches.std()
    for x0, y0, side in faces:
        grey[y0 : y0 + side, x0 : x0 + side] = drawn_face(side, mouth_open)
    grey += rng.normal(0.0, 2.0, grey.shape)
    return np.repeat(np.clip(np.rint(grey), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def full_resolution_crop_boxes(cropper: FaceCropper, frames: np.ndarray) -> list[np.ndarray | None]:
    """The reference: the cascade on every frame at full resolution, no tracking, no smoothing, largest face."""
    reference = FaceCropper(detection_width=None, smoothing=0.0, tracker="cascade")
    boxes = []
    for frame in frames:
        faces = reference.detect(frame)
        largest = faces[np.argmax(faces[:, 2] - faces[:, 0])] if len(faces) else None
        boxes.append(None if largest is None else cropper.crop_box(largest, *frame.shape[:2]))
    return boxes


@pytest.fixture
def count_detections(monkeypatch) -> list[int]:
    """Count the cascade searches `FaceCropper` runs (one entry per `detect` call: the number of faces found)."""
    calls: list[int] = []
    detect = FaceCropper.detect

    def counted(self, frame, near=None):
        faces = detect(self, frame, near=near)
        calls.append(len(faces))
        return faces

    monkeypatch.setattr(FaceCropper, "detect", counted)
    return calls


@pytest.fixture(scope="module")
def moving_face() -> np.ndarray:
    """12 frames of 720p: a 300-px face drifting right and down by 9 and 4 px a frame, its mouth opening and closing."""
    return np.stack(
        [scene(720, 1280, [(420 + 9 * t, 150 + 4 * t, 300)], seed=t, mouth_open=(t % 4) / 3) for t in range(12)]
    )


def test_drawn_face_is_found_by_the_cascade_at_full_and_reduced_resolution():
    frame = scene(720, 1280, [(420, 150, 300)], seed=0)
    full = FaceCropper(detection_width=None).detect(frame)
    small = FaceCropper(detection_width=480).detect(frame)
    assert len(full) == 1 and len(small) == 1
    # Where it was drawn, and the downscaled search within 2% of the frame width of the full-resolution one.
    assert np.abs(full[0] - [420, 150, 720, 450]).max() < 0.1 * 300
    assert np.abs(small[0] - full[0]).max() <= 0.02 * 1280


def test_tracked_boxes_stay_where_full_resolution_detection_puts_them(moving_face, count_detections):
    cropper = FaceCropper(output_size=64)
    result = cropper(moving_face)
    # One cascade search (the first frame), the other 11 frames followed by template matching.
    assert count_detections == [1]
    assert result.detected.all() and result.face_found
    assert result.tracked.tolist() == [False] + [True] * 11
    reference = full_resolution_crop_boxes(cropper, moving_face)
    assert all(box is not None for box in reference)
    deviation = np.abs(result.boxes - np.stack(reference)).max(axis=1) / 1280
    assert deviation.max() <= 0.05, deviation
    # The crop follows the face: over 11 frames it moved 99 px right; the crop centre moved with it.
    centres = (result.boxes[:, 0] + result.boxes[:, 2]) / 2
    assert 99 - 25 <= centres[-1] - centres[0] <= 99 + 25


def test_detector_runs_again_every_redetect_every_frames(moving_face, count_detections):
    result = FaceCropper(redetect_every=4)(moving_face)
    assert len(count_detections) == 3  # frames 0, 4 and 8
    assert result.tracked.tolist() == [False, True, True, True] * 3
    # The previous behaviour stays available: the cascade on every frame, no template tracking.
    count_detections.clear()
    result = FaceCropper(tracker="cascade")(moving_face)
    assert len(count_detections) == 12 and not result.tracked.any() and result.detected.all()


def test_face_that_jumps_is_detected_again_where_it_went(count_detections):
    # Five frames with the face on the left, then five with it on the right: far outside the tracker's search.
    frames = np.stack([scene(360, 640, [(60 if t < 5 else 400, 80, 160)], seed=t, texture=12) for t in range(10)])
    cropper = FaceCropper(output_size=48)
    result = cropper(frames)
    assert result.detected.all()
    # The template loses the face at the jump and the detector finds it there (2 searches in all).
    assert len(count_detections) == 2
    assert result.tracked.tolist() == [False, True, True, True, True, False, True, True, True, True]
    reference = np.stack(full_resolution_crop_boxes(cropper, frames))
    assert (np.abs(result.boxes - reference).max(axis=1) <= 0.05 * 640).all()
    # No frame's crop lies between the two places (the track restarts at the jump, unsmoothed).
    centres = (result.boxes[:, 0] + result.boxes[:, 2]) / 2
    np.testing.assert_allclose(centres[:5], 140, atol=20)
    np.testing.assert_allclose(centres[5:], 480, atol=20)


def test_tracker_does_not_claim_a_face_after_it_left(count_detections):
    """A face for 4 frames, then an empty wall: the tracker must not report faces on the wall."""
    frames = np.stack([scene(360, 640, [(240, 80, 160)] if t < 4 else [], seed=t, texture=12) for t in range(8)])
    result = FaceCropper()(frames)
    assert result.detected.tolist() == [True] * 4 + [False] * 4
    assert result.tracked.tolist() == [False, True, True, True] + [False] * 4
    # Every wall frame asked the detector (the track was lost), which found nothing.
    assert count_detections == [1, 0, 0, 0, 0]
    np.testing.assert_array_equal(result.boxes[4:], result.boxes[[3] * 4])  # the last box carried over


def test_tracker_settings_are_checked():
    with pytest.raises(ValueError, match="tracker must be one of"):
        FaceCropper(tracker="optical_flow")
    with pytest.raises(ValueError, match="redetect_every"):
        FaceCropper(redetect_every=0)
    with pytest.raises(ValueError, match="min_track_score"):
        FaceCropper(min_track_score=1.5)


def test_video_processor_reports_the_share_of_frames_with_a_face(tmp_path: Path):
    from av_emotion.processing import AVEmotionVideoProcessor

    half = np.stack([scene(360, 640, [(240, 80, 160)] if t < 4 else [], seed=t, texture=12) for t in range(8)])
    wall = np.stack([scene(360, 640, [], seed=t, texture=12) for t in range(8)])
    processor = AVEmotionVideoProcessor(num_frames=8, size={"height": 32, "width": 32}, return_face_fraction=True)
    batch = processor([half, wall])
    assert batch["face_fraction"].tolist() == [0.5, 0.0]  # no face: 0, as with the detector on every frame
    assert batch["face_found"].tolist() == [True, False]
    # The tracker settings save and load with the processor; the previous behaviour gives the same shares here.
    processor.face_tracker, processor.face_redetect_every = "cascade", 3
    processor.save_pretrained(tmp_path)
    loaded = AVEmotionVideoProcessor.from_pretrained(tmp_path)
    cropper = loaded.face_cropper()
    assert (cropper.tracker, cropper.redetect_every, cropper.min_track_score) == ("cascade", 3, 0.6)
    assert loaded([half, wall])["face_fraction"].tolist() == [0.5, 0.0]
    with pytest.raises(ValueError, match="face_tracker must be one of"):
        loaded([half], face_tracker="kalman")


def test_crops_are_the_area_resized_boxes(moving_face):
    """Each crop is its box of the frame, area-resized: within resampling differences of OpenCV's one-step area
    resize (bilinear differs from it by about as much on these sharp drawn edges)."""
    result = FaceCropper(output_size=(56, 48))(moving_face)
    for frame, crop, (x0, y0, x1, y1) in zip(moving_face, result.crops, result.boxes):
        expected = cv2.resize(frame[y0:y1, x0:x1], (48, 56), interpolation=cv2.INTER_AREA)
        assert crop.shape == expected.shape
        difference = np.abs(crop.astype(int) - expected.astype(int))
        assert difference.mean() < 3.5 and difference.max() <= 60, (difference.mean(), difference.max())
        # Against the same box moved by 8 pixels (about 1% of the frame width) the crop differs clearly more.
        moved = cv2.resize(frame[y0 + 8 : y1 + 8, x0 + 8 : x1 + 8], (48, 56), interpolation=cv2.INTER_AREA)
        assert np.abs(crop.astype(int) - moved.astype(int)).mean() > 2 * difference.mean()


# ------------------------------------------------------------------------------------------------------------
# Frames decoded at the face's resolution (`face_decode_size="face"`, `FaceResolutionFrameSize`)
# ------------------------------------------------------------------------------------------------------------


def write_video(path: Path, frames: np.ndarray, fps: int = 10) -> Path:
    """An h264 mp4 of `(T, H, W, 3)` RGB frames, near lossless (crf 12), no audio."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "12"})
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def face_processor(**settings):
    from av_emotion.processing import AVEmotionProcessor

    common = {"num_frames": 12, "clip_duration_s": None, "size": {"height": 112, "width": 112}}
    return AVEmotionProcessor.from_preset("mocanu2023", **common, **settings)


def test_frames_are_decoded_at_the_size_that_keeps_the_face_crops_resolution(tmp_path: Path, moving_face):
    path = write_video(tmp_path / "face.mp4", moving_face)
    processor = face_processor()
    cropper = processor.video_processor.face_cropper()
    reduced = processor.load_clip(path, modalities=("video",))
    full = processor.load_clip(path, modalities=("video",), face_decode_size="full")
    assert full.frames.shape == (12, 720, 1280, 3) and reduced.source_size == (720, 1280)
    # Frames at a whole fraction 1/k of the size (aspect kept), the largest k at which the first frame's crop box
    # still spans FACE_RESOLUTION_HEADROOM x 112 = 140 pixels (the drawn face is 300 px, its crop box 420 px).
    height, width = reduced.frames.shape[1:3]
    k = round(1280 / width)
    assert k >= 2 and (height, width) == (round(720 / k), round(1280 / k))
    result = cropper(reduced.frames)
    x0, y0, x1, y1 = result.boxes[0]
    assert x1 - x0 >= FACE_RESOLUTION_HEADROOM * 112 - 3
    assert (x1 - x0) * k / (k + 1) < FACE_RESOLUTION_HEADROOM * 112 + 3  # 1/(k+1) would have been too small
    # Found in every frame, and where the full-size frames put it (within 3% of the frame width; 2% measured).
    reference = cropper(full.frames)
    assert result.detected.all() and reference.detected.all()
    to_full = np.array([1280 / width, 720 / height] * 2)
    assert np.abs(result.boxes * to_full - reference.boxes).max() <= 0.03 * 1280
    # Each crop holds what the same box of the full-size frame holds, area-resized: the reduced frames lost no
    # detail the crop keeps (0.96 grey levels apart here; 1.9 from frames a quarter smaller, whose 105-px boxes
    # are enlarged to 112).
    differences = []
    for t, box in enumerate(np.round(result.boxes * to_full).astype(int)):
        expected = cv2.resize(
            full.frames[t, box[1] : box[3], box[0] : box[2]], (112, 112), interpolation=cv2.INTER_AREA
        )
        differences.append(np.abs(result.crops[t].astype(int) - expected).mean())
    assert max(differences) < 1.5, differences


def test_frames_stay_full_size_without_a_face_or_with_a_face_too_small_to_reduce(tmp_path: Path, moving_face):
    wall = np.stack([scene(360, 640, [], seed=t, texture=12) for t in range(4)])
    clip = face_processor().load_clip(write_video(tmp_path / "wall.mp4", wall), modalities=("video",))
    assert clip.frames.shape[1:3] == (360, 640)
    # A 420-px crop box for 400-px crops: 1.25 x 400 = 500 px needs more than the full size.
    policy = FaceResolutionFrameSize(FaceCropper(output_size=400))
    probe = cv2.resize(moving_face[0], policy.probe_size((720, 1280))[::-1], interpolation=cv2.INTER_AREA)
    size, found = policy.choose(probe, (720, 1280))
    assert size is None and isinstance(found, ProbedFace)  # full size, but the face found is kept
    face = FaceCropper().detect(probe)[0]  # the face the choice was made on, in the probe's pixels
    np.testing.assert_allclose(found.scaled_to(*probe.shape[:2]), face)
    assert FaceResolutionFrameSize(FaceCropper(output_size=112)).choose(probe, (720, 1280))[0] is not None
    # Small outputs keep the face at least 64 px wide, for the detector and the tracker (not 16 x 1.25 / 1.4 = 14).
    (height, width), _ = FaceResolutionFrameSize(FaceCropper(output_size=16)).choose(probe, (720, 1280))
    k = round(1280 / width)
    side = (face[2] - face[0]) * 1280 / probe.shape[1]
    assert side / k >= 64 > side / (k + 1)
    # Frames no wider than the detection copy are not probed (converting them whole costs less than a detection);
    # wider ones are probed at a whole fraction of their size no wider than it.
    assert FaceResolutionFrameSize(FaceCropper()).probe_size((360, 480)) is None
    assert FaceResolutionFrameSize(FaceCropper()).probe_size((720, 1280)) == (240, 427)
    assert FaceResolutionFrameSize(FaceCropper(detection_width=None)).probe_size((720, 1280)) == (720, 1280)
    with pytest.raises(ValueError, match="headroom must be at least 1"):
        FaceResolutionFrameSize(FaceCropper(), headroom=0.8)


def test_face_decode_size_is_checked_and_saved(tmp_path: Path):
    from av_emotion.processing import AVEmotionVideoProcessor

    processor = AVEmotionVideoProcessor()
    assert isinstance(processor.decoding_frame_size(), FaceResolutionFrameSize)
    assert processor.decoding_frame_size(face_decode_size="full") is None
    assert processor.decoding_frame_size(do_face_crop=False) == (112, 112)
    with pytest.raises(ValueError, match=r"face_decode_size must be one of \('face', 'full'\)"):
        processor.decoding_frame_size(face_decode_size="half")
    processor.face_decode_size = "full"
    processor.save_pretrained(tmp_path)
    assert AVEmotionVideoProcessor.from_pretrained(tmp_path).decoding_frame_size() is None


def test_the_face_found_while_choosing_the_frame_size_is_not_searched_again(
    tmp_path: Path, moving_face, count_detections
):
    path = write_video(tmp_path / "face.mp4", moving_face)
    processor = face_processor()
    clip = processor.load_clip(path, modalities=("video",))
    assert count_detections == [1] and isinstance(clip.frame_size_basis, ProbedFace)
    count_detections.clear()
    batch = processor.process_clips([clip], allow_missing_audio=True)
    # 12 frames, re-detection every 16: the probe's detection was the only one the clip needed.
    assert count_detections == [] and batch["face_found"].tolist() == [True]
    # The cropper started from the probe's face: the same crops as searching the first frame again, within the
    # resampling of the two copies the cascade searched (a pixel or two of box).
    cropper = processor.video_processor.face_cropper()
    searched = cropper(clip.frames)
    started = cropper(clip.frames, first_face=clip.frame_size_basis.scaled_to(*clip.frames.shape[1:3]))
    assert count_detections == [1]  # only the search without the face given
    assert np.abs(started.boxes - searched.boxes).max() <= 0.01 * clip.frames.shape[2]
    assert started.detected.all() and started.tracked.tolist() == searched.tracked.tolist()
    # A frame-sampled clip whose first frame is left out does not use it (the face was found in another frame).
    count_detections.clear()
    processor.video_processor(clip.frames, num_frames=4, first_faces=[np.array([0.0, 0.0, 10.0, 10.0])])
    assert count_detections == [1]
