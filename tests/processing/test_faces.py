"""Face detection, tracking and cropping on real clips, and the rules for frames without a face."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from av_emotion.processing.faces import CASCADE_FILE, FaceCropper, crop_largest_face
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
