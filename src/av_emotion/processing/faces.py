"""Find the speaker's face in sampled frames, track it across them, and crop it with a margin.

The detector is OpenCV's frontal-face Haar cascade (`haarcascade_frontalface_default.xml`), which ships inside the
`opencv-python-headless` wheel (`cv2.data.haarcascades`), so face cropping works offline on a fresh machine with
no model download. OpenCV 5 removed `CascadeClassifier`; the package pins `opencv-python-headless<5`.

The cascade is the expensive part (10-25 ms a frame on one core, whatever the frame's resolution, because its cost
is in scanning face-sized windows), so by default it does not run on every frame (`tracker="template"`):

1. **Detect** the largest face on a grey copy downscaled to `detection_width` pixels (the first frame, and whenever
   the track is lost). The crop is taken from the frame as given, at its resolution.
2. **Track** it through the next frames by template matching: the face as last detected, shrunk to about
   `_TEMPLATE_FACE_PX` pixels, is looked for by normalised cross-correlation in a region around its last position
   (about 1 ms a frame). A correlation below `min_track_score` means the track is lost (the face moved far,
   turned, or left the frame) and the detector runs on that frame.
3. **Re-detect** every `redetect_every` frames even while the track holds (as in 1.), so the box follows changes of
   size and the template follows changes of expression.

Frames need not be converted at full size for that: a crop keeps only the output's resolution of the face. When the
processor decodes a file, `FaceResolutionFrameSize` converts its frames at the smallest size at which the first
frame's face crop still spans `FACE_RESOLUTION_HEADROOM` times the output size (about a third of 720p for 112-pixel
crops of a RAVDESS face), which is most of what face cropping used to add to a bare decode.

`tracker="cascade"` keeps the previous behaviour: the cascade on every frame, searched around the last box first.
Either way the boxes are smoothed (an exponential moving average of centre and size) so the crop does not jitter.
A frame where the face is neither detected nor tracked reuses the last box (frames before the first detection use
the first box); a clip with no face at all falls back to a centre crop and is flagged with `face_found=False`.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["FaceCropResult", "FaceCropper", "FaceResolutionFrameSize", "ProbedFace", "crop_largest_face"]

CASCADE_FILE = "haarcascade_frontalface_default.xml"

_local = threading.local()
# While tracking, the search region is scaled so the face is about this many pixels wide: large enough for the
# cascade's 24-pixel window to find it reliably, small enough to search in a few milliseconds. Our choice.
# (Used by `tracker="cascade"`. The template tracker re-detects on the whole downscaled frame instead: the local
# search's boxes come out up to 10% larger than a full-resolution detection's, the whole-frame search's within 2%.)
_TRACK_FACE_PX = 80.0
# The template tracker matches the face shrunk to this width, pixels: one pixel there is 1/40 of the face, finer
# than the cascade's own box jitter between frames. Our choice.
_TEMPLATE_FACE_PX = 40.0
# The template is looked for this far (a fraction of the face size) beyond its last box on each side. Our choice:
# half a face between two sampled frames covers head movement in emotion corpora; a larger jump loses the track
# and the detector finds the face again.
_TEMPLATE_SEARCH = 0.5
# A template (or search region) whose grey levels vary less than this (standard deviation, 0-255) has nothing to
# match: a flat wall, a blank frame. Tracking is then not attempted and the detector decides.
_MIN_TEXTURE_STD = 4.0
# With the template tracker, the whole-frame search for large faces (a quarter of the shorter side or more) runs on a
# copy this many pixels high (for landscape frames): the smallest face searched is then 36 pixels, half again the
# cascade's 24-pixel window. Our choice (about a third cheaper than at 480 px wide).
_LARGE_FACE_SHORT_SIDE_PX = 144
# `FaceResolutionFrameSize` converts frames so that the first frame's face crop has this many times the output's
# pixels per side: room for the face to shrink (or the box to tighten at a re-detection) by a fifth later in the clip
# before its crop is enlarged. Our choice: 1.25 (RAVDESS and CREMA-D faces vary in size by about 10% within a clip).
FACE_RESOLUTION_HEADROOM = 1.25
# ... and at least this wide for small outputs (a 32-px crop does not need a 32-px face, but the cascade's 24-pixel
# window and the 40-pixel template do need a face larger than that to keep finding it). Our choice.
_MIN_DECODED_FACE_PX = 64
TRACKERS = ("template", "cascade")


def _cascade() -> cv2.CascadeClassifier:
    """Load the bundled cascade once per thread (OpenCV classifiers are not safe to share across threads)."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        path = os.path.join(cv2.data.haarcascades, CASCADE_FILE)
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(
                f"{path}: OpenCV could not load its bundled face cascade; reinstall opencv-python-headless<5"
            )
        _local.cascade = cascade
    return cascade


@dataclass
class FaceCropResult:
    """Face crops of one clip.

    Attributes:
        crops: `(T, h, w, 3)` uint8 RGB, each crop resized to the cropper's `output_size`.
        boxes: `(T, 4)` int64 `(x0, y0, x1, y1)` crop boxes in full-frame pixels (margin included, exclusive end).
        detected: `(T,)` bool, whether the face was found in each frame, by the detector or by the tracker (False:
            the box was carried over).
        face_found: Whether any frame had a face; False means the crops are centre crops.
        tracked: `(T,)` bool, the frames whose face the template tracker found without running the detector (a
            subset of `detected`; all False with `tracker="cascade"`).
    """

    crops: np.ndarray
    boxes: np.ndarray
    detected: np.ndarray
    face_found: bool
    tracked: np.ndarray | None = None

    @property
    def detection_rate(self) -> float:
        """Fraction of frames with a detected face."""
        return float(self.detected.mean()) if self.detected.size else 0.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceCropper:
    """Detect, track and crop the largest face in each frame of a clip.

    Args:
        margin: Context kept around the detected face on each side, as a fraction of the face box size. Our
            choice: 0.2 (brow, chin and cheeks stay in the crop; Haar boxes are tight around eyes and mouth).
        output_size: Side of the square output crops in pixels, or `(height, width)`.
        detection_width: Width the frame is downscaled to for detection over the whole frame, pixels, or None for
            full resolution. Our choice: 480 (faces of more than ~5% of the frame width are still found; boxes
            within about 1% of the frame width of a full-resolution detection on the RAVDESS and CREMA-D samples).
        smoothing: Weight of the previous box in the moving average of box centre and size, in [0, 1); 0 turns
            smoothing off. Our choice: 0.5.
        min_face_fraction: Smallest face searched, as a fraction of the frame's shorter side (speed and fewer
            false positives). Our choice: 0.08.
        scale_factor: Scale step of the cascade's image pyramid (OpenCV's `scaleFactor`).
        min_neighbors: Overlapping detections a face needs (OpenCV's `minNeighbors`; higher means fewer false
            positives).
        square: Make crop boxes square (the face models take square inputs), centred on the face.
        tracker: How the face is followed between detections. `"template"` (default, our choice: several times
            cheaper): template matching between detections, the detector only on the first frame, when the track
            is lost, and every `redetect_every` frames. `"cascade"`: the detector on every frame (the behaviour
            before the tracker; the most detector evidence, the slowest).
        redetect_every: With `tracker="template"`, run the detector at least every this many frames even while
            the track holds, so the box size and the template follow expression and head movement; 1 runs it on
            every frame. Our choice: 16 (one detection per clip at the presets' 15-16 frames, two at 32, four at
            64; on the RAVDESS and CREMA-D samples boxes stay within 2.5% of the frame width of a full-resolution
            detection in every frame even without re-detection).
        min_track_score: With `tracker="template"`, the normalised cross-correlation (in [-1, 1]) the face's
            template must reach in a frame to count as found there; below it the track is lost and the detector
            runs. Our choice: 0.6 (tracked RAVDESS and CREMA-D faces score 0.8-1.0; a face that left the frame
            scores below 0.5).
    """

    def __init__(
        self,
        margin: float = 0.2,
        output_size: int | tuple[int, int] = 112,
        detection_width: int | None = 480,
        smoothing: float = 0.5,
        min_face_fraction: float = 0.08,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        square: bool = True,
        tracker: str = "template",
        redetect_every: int = 16,
        min_track_score: float = 0.6,
    ) -> None:
        if margin < 0:
            raise ValueError(f"margin must be >= 0 (a fraction of the face size), got {margin}")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if detection_width is not None and detection_width < 32:
            raise ValueError(
                f"detection_width must be at least 32 pixels (or None for full resolution), got {detection_width}"
            )
        if tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {TRACKERS}, got {tracker!r}")
        if int(redetect_every) < 1:
            raise ValueError(f"redetect_every must be at least 1 frame, got {redetect_every}")
        if not -1 <= min_track_score <= 1:
            raise ValueError(f"min_track_score is a correlation in [-1, 1], got {min_track_score}")
        self.margin = float(margin)
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.detection_width = None if detection_width is None else int(detection_width)
        self.smoothing = float(smoothing)
        self.min_face_fraction = float(min_face_fraction)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.square = bool(square)
        self.tracker = tracker
        self.redetect_every = int(redetect_every)
        self.min_track_score = float(min_track_score)

    def detect(self, frame: np.ndarray, near: np.ndarray | None = None) -> np.ndarray:
        """Detect faces in one `(H, W, 3)` uint8 RGB frame; returns `(N, 4)` float `(x0, y0, x1, y1)` boxes.

        With `near` (the face box tracked from the previous frame, full-frame pixels) only a region of twice its
        size around it is searched, scaled so the face is about `_TRACK_FACE_PX` pixels, for faces of 0.6x to
        1.6x its size: several times cheaper than a full search (`tracker="cascade"` uses it on every frame). If nothing is found there, the whole frame is
        searched, first for large faces (a quarter of the shorter side or more: the common case in emotion
        corpora, and cheap), then down to `min_face_fraction`.
        """
        height, width = frame.shape[:2]
        cascade = _cascade()
        if near is not None:
            side = float(max(near[2] - near[0], near[3] - near[1]))
            x0, y0 = int(max(0, near[0] - side / 2)), int(max(0, near[1] - side / 2))
            x1, y1 = int(min(width, near[2] + side / 2)), int(min(height, near[3] + side / 2))
            scale = min(1.0, _TRACK_FACE_PX / side)
            # Grey levels are per pixel: converting only the region gives the same pixels, cheaper.
            region = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
            if scale < 1.0:
                size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
                region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
            smallest, largest = max(20, int(0.6 * side * scale)), int(1.6 * side * scale) + 1
            if min(region.shape) > smallest:
                faces = cascade.detectMultiScale(
                    cv2.equalizeHist(region),
                    scaleFactor=self.scale_factor,
                    minNeighbors=self.min_neighbors,
                    minSize=(smallest, smallest),
                    maxSize=(largest, largest),
                )
                if len(faces):
                    return self._to_boxes(np.asarray(faces, dtype=np.float64), scale, x0, y0)
        grey_full = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        scaled: dict[float, np.ndarray] = {}
        for fraction in dict.fromkeys((max(0.25, self.min_face_fraction), self.min_face_fraction)):
            scale = 1.0 if self.detection_width is None else min(1.0, self.detection_width / width)
            if self.tracker == "template" and fraction >= 0.25:
                # Large faces need no detail to be found: a coarser copy is searched faster, boxes within 1% of
                # the frame width of the finer copy's on the real samples.
                scale = min(scale, _LARGE_FACE_SHORT_SIDE_PX / min(height, width))
            if scale not in scaled:
                grey = grey_full
                if scale < 1.0:
                    size = (round(width * scale), round(height * scale))
                    grey = cv2.resize(grey_full, size, interpolation=cv2.INTER_AREA)
                scaled[scale] = cv2.equalizeHist(grey)
            grey = scaled[scale]
            min_side = max(20, int(min(grey.shape) * fraction))
            faces = cascade.detectMultiScale(
                grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_side, min_side)
            )
            if len(faces):
                return self._to_boxes(np.asarray(faces, dtype=np.float64), scale, 0, 0)
        return np.zeros((0, 4), dtype=np.float64)

    @staticmethod
    def _to_boxes(faces: np.ndarray, scale: float, x0: int, y0: int) -> np.ndarray:
        """OpenCV `(x, y, w, h)` boxes in a region scaled by `scale` and offset by `(x0, y0)` -> full-frame corners."""
        faces = faces / scale
        x, y = faces[:, 0] + x0, faces[:, 1] + y0
        return np.stack([x, y, x + faces[:, 2], y + faces[:, 3]], axis=1)

    @staticmethod
    def _choose(tracked: np.ndarray | None, faces: np.ndarray) -> int:
        """Index of the face to follow among `(N >= 1, 4)` detections.

        The one overlapping `tracked` most; the largest on the first frame or when none overlaps (the face was lost).
        """
        areas = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
        if tracked is not None:
            overlaps = [_iou(face, tracked) for face in faces]
            best = int(np.argmax(overlaps))
            if overlaps[best] > 0.1:
                return best
        return int(np.argmax(areas))

    def update(self, tracked: np.ndarray | None, faces: np.ndarray) -> np.ndarray | None:
        """Advance the tracked face box by one frame's detections `(N, 4)`; returns the new box (or `tracked`).

        The first face tracked is the largest; afterwards the detection overlapping the tracked box most is
        followed, with centre and size smoothed. If none overlaps (the face was lost), the track restarts,
        unsmoothed, at the largest.
        """
        if len(faces) == 0:
            return tracked
        choice = faces[self._choose(tracked, faces)]
        if tracked is None or _iou(choice, tracked) <= 0.1:
            # First face, or the face reappeared elsewhere: start the track there (averaging the two places would
            # crop neither).
            return choice.copy()
        # Smooth centre and size, not corners, so the box does not drift when its size changes.
        centre = self.smoothing * _centre(tracked) + (1 - self.smoothing) * _centre(choice)
        size = self.smoothing * _size(tracked) + (1 - self.smoothing) * _size(choice)
        return np.concatenate([centre - size / 2, centre + size / 2])

    def track(self, frames: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """Detect and track the face through `(T, H, W, 3)` frames.

        Returns:
            `(T, 4)` float face boxes in full-frame pixels (None when no frame has a face) and `(T,)` bool flags
            saying in which frames the face was found (detected, or tracked with `tracker="template"`). Frames
            without one carry the last box over; frames before the first detection take the first box.
        """
        boxes, found, _ = self._track(frames)
        return boxes, found

    def _track(
        self, frames: np.ndarray, first_face: np.ndarray | None = None
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """`track`, plus `(T,)` bool flags of the frames found by the template tracker alone.

        `first_face` (a box in the frames' pixels) stands for the detection on the first frame, already run.
        """
        num = len(frames)
        boxes = np.zeros((num, 4), dtype=np.float64)
        found = np.zeros(num, dtype=bool)
        by_template = np.zeros(num, dtype=bool)
        tracked: np.ndarray | None = None  # smoothed box: what the crop follows
        template: _FaceTemplate | None = None  # the face as last detected, for the template tracker
        since_detection = 0
        for t, frame in enumerate(frames):
            faces = np.zeros((0, 4), dtype=np.float64)
            due = template is None or since_detection >= self.redetect_every
            if not due:
                faces = template.find(frame, self.min_track_score)
                by_template[t] = len(faces) > 0
            if not by_template[t]:  # re-detection due, or the track was lost
                # The template tracker detects on the whole downscaled frame: the same search as the first frame's,
                # and the closest to a full-resolution detection (see `_TRACK_FACE_PX`).
                if t == 0 and first_face is not None:
                    faces = np.asarray(first_face, dtype=np.float64).reshape(1, 4)
                else:
                    faces = self.detect(frame, near=tracked if self.tracker == "cascade" else None)
                if len(faces) and self.tracker == "template":
                    template = _FaceTemplate.cut(frame, faces[self._choose(tracked, faces)])
                    since_detection = 0
                elif due and template is not None:
                    # The periodic re-detection missed a face the template still finds (a turned head, a hand):
                    # keep following it, and try the detector again `redetect_every` frames on.
                    faces = template.find(frame, self.min_track_score)
                    by_template[t] = len(faces) > 0
                    since_detection = 0
            since_detection += 1
            found[t] = len(faces) > 0
            tracked = self.update(tracked, faces)
            if tracked is not None:
                boxes[t] = tracked
        if tracked is None:
            return None, found, by_template
        first = int(np.argmax(found))
        boxes[:first] = boxes[first]
        return boxes, found, by_template

    def crop_box(self, face: np.ndarray, height: int, width: int) -> np.ndarray:
        """Expand a face box by the margin (square if asked), shifted to lie inside a `height` x `width` frame."""
        centre, size = _centre(face), _size(face) * (1 + 2 * self.margin)
        if self.square:
            size = np.full(2, min(size.max(), height, width))
        else:
            size = np.minimum(size, [width, height])
        size = np.round(size).astype(np.int64)
        lo = np.round(centre - size / 2).astype(np.int64)
        lo = np.clip(lo, 0, [width - size[0], height - size[1]])
        return np.concatenate([lo, lo + size])

    def centre_box(self, height: int, width: int) -> np.ndarray:
        """Return the crop used when no face is found: the largest centred square (whole frame if not square)."""
        if not self.square:
            return np.array([0, 0, width, height], dtype=np.int64)
        side = min(height, width)
        x0, y0 = (width - side) // 2, (height - side) // 2
        return np.array([x0, y0, x0 + side, y0 + side], dtype=np.int64)

    def __call__(self, frames: np.ndarray, first_face: np.ndarray | None = None) -> FaceCropResult:
        """Crop the tracked face from `(T, H, W, 3)` uint8 RGB frames into `(T, h, w, 3)` crops.

        `first_face`: the largest face's box `(x0, y0, x1, y1)` in the first frame, in the frames' pixels, when a
        detection already found it (`ProbedFace`); the first frame is then not searched again.
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be a (T, H, W, 3) uint8 RGB array, got shape {frames.shape} and dtype {frames.dtype}"
            )
        num, height, width = frames.shape[:3]
        faces, detected, tracked = self._track(frames, first_face)
        if faces is None:
            boxes = np.repeat(self.centre_box(height, width)[None], num, axis=0)
        else:
            boxes = np.stack([self.crop_box(face, height, width) for face in faces])
        out_h, out_w = self.output_size
        crops = np.empty((num, out_h, out_w, 3), dtype=np.uint8)
        for t, (x0, y0, x1, y1) in enumerate(boxes):
            crops[t] = _resize_crop(frames[t, y0:y1, x0:x1], out_h, out_w)
        return FaceCropResult(
            crops=crops, boxes=boxes, detected=detected, face_found=faces is not None, tracked=tracked
        )


@dataclass
class _FaceTemplate:
    """A face's grey patch, shrunk by `step` to about `_TEMPLATE_FACE_PX` wide, and its box in full-frame pixels."""

    patch: np.ndarray
    box: np.ndarray
    step: int

    @classmethod
    def cut(cls, frame: np.ndarray, face: np.ndarray) -> _FaceTemplate | None:
        """Cut the template of `face` `(x0, y0, x1, y1)` from an RGB frame; None if the patch is too flat to track."""
        height, width = frame.shape[:2]
        x0, y0 = max(0, int(round(face[0]))), max(0, int(round(face[1])))
        x1, y1 = min(width, int(round(face[2]))), min(height, int(round(face[3])))
        # Shrink by a whole factor (even from 4 up, see `_grey_region`): OpenCV's area resize is several times
        # faster then, and exact.
        step = max(1, round((x1 - x0) / _TEMPLATE_FACE_PX))
        step = 2 * round(step / 2) if step >= 4 else step
        x1, y1 = x0 + (x1 - x0) // step * step, y0 + (y1 - y0) // step * step
        if min(x1 - x0, y1 - y0) < 8 * step:
            return None
        patch = _grey_region(frame, x0, y0, x1, y1, step)
        if patch.std() < _MIN_TEXTURE_STD:
            return None
        return cls(patch=patch, box=np.array([x0, y0, x1, y1], dtype=np.float64), step=step)

    def find(self, frame: np.ndarray, min_score: float) -> np.ndarray:
        """Look for the face near its last box; returns its new `(1, 4)` box, or `(0, 4)` if the track is lost.

        The template keeps the size of the last detection; a found face moves the template's box with it, so the
        next frame is searched around the new position.
        """
        lost = np.zeros((0, 4), dtype=np.float64)
        height, width = frame.shape[:2]
        step = self.step
        side_x, side_y = self.box[2] - self.box[0], self.box[3] - self.box[1]
        x0 = int(max(0, self.box[0] - _TEMPLATE_SEARCH * side_x))
        y0 = int(max(0, self.box[1] - _TEMPLATE_SEARCH * side_y))
        x1 = int(min(width, self.box[2] + _TEMPLATE_SEARCH * side_x))
        y1 = int(min(height, self.box[3] + _TEMPLATE_SEARCH * side_y))
        x1, y1 = x0 + (x1 - x0) // step * step, y0 + (y1 - y0) // step * step
        patch_h, patch_w = self.patch.shape
        if (y1 - y0) // step < patch_h or (x1 - x0) // step < patch_w:
            return lost
        region = _grey_region(frame, x0, y0, x1, y1, step)
        if region.std() < _MIN_TEXTURE_STD:
            return lost
        scores = cv2.matchTemplate(region, self.patch, cv2.TM_CCOEFF_NORMED)
        _, score, _, (best_x, best_y) = cv2.minMaxLoc(scores)
        if not score >= min_score:  # also False for NaN
            return lost
        new_x0, new_y0 = x0 + best_x * step, y0 + best_y * step
        self.box = np.array([new_x0, new_y0, new_x0 + side_x, new_y0 + side_y], dtype=np.float64)
        return self.box[None].copy()


def _grey_region(frame: np.ndarray, x0: int, y0: int, x1: int, y1: int, step: int) -> np.ndarray:
    """Grey copy of `frame[y0:y1, x0:x1]` shrunk by the whole factor `step` (area averaging), uint8.

    For an even `step` of 4 or more, every `step / 2`-th pixel is taken first and 2 x 2 of those averaged: far fewer
    pixels to convert, and for matching a face shrunk about tenfold the result barely differs from a full average.
    """
    region = frame[y0:y1, x0:x1]
    if step >= 4 and step % 2 == 0:
        every = step // 2
        region, step = np.ascontiguousarray(region[::every, ::every]), 2
    grey = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY)  # OpenCV reads the row-strided view without a copy
    if step > 1:
        grey = cv2.resize(grey, (grey.shape[1] // step, grey.shape[0] // step), interpolation=cv2.INTER_AREA)
    return grey


def _resize_crop(region: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize an `(h, w, 3)` crop to `(out_h, out_w)`: area averaging when shrinking, bilinear when enlarging.

    A large shrink first averages whole `k x k` blocks (OpenCV's fast path for whole factors, several times
    faster than a fractional area resize of the full crop), then area-resizes the rest of the way; the fewer than
    `k` rows and columns beyond a multiple of `k` are dropped, half on each side (less than one output pixel).
    """
    height, width = region.shape[:2]
    step = min(height // out_h, width // out_w)
    if step >= 2:
        # Trim the rows and columns beyond a multiple of `step` evenly from both sides, so the crop stays centred.
        top, left = height % step // 2, width % step // 2
        height, width = height // step * step, width // step * step
        region = region[top : top + height, left : left + width]
        region = cv2.resize(region, (width // step, height // step), interpolation=cv2.INTER_AREA)
    if region.shape[:2] == (out_h, out_w):
        return region
    shrinking = region.shape[0] > out_h or region.shape[1] > out_w
    return cv2.resize(region, (out_w, out_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _size(box: np.ndarray) -> np.ndarray:
    return np.array([box[2] - box[0], box[3] - box[1]])


@dataclass(frozen=True)
class ProbedFace:
    """The face `FaceResolutionFrameSize` found in a clip's first frame.

    `box` is `(x0, y0, x1, y1)` in pixels of the frame at `source_size` `(height, width)`, its full size.
    """

    box: np.ndarray
    source_size: tuple[int, int]

    def scaled_to(self, height: int, width: int) -> np.ndarray:
        """Return the box in pixels of the same frame at `height` x `width`."""
        return self.box * np.tile([width / self.source_size[1], height / self.source_size[0]], 2)


@dataclass(frozen=True)
class FaceResolutionFrameSize:
    """A `media.FrameSizePolicy`: a clip's frames at the smallest size that keeps its face crop's resolution.

    A crop takes the face box plus margin and shrinks it to `cropper.output_size`; every pixel of the frame beyond
    that resolution is converted from YUV, held and averaged away again. So the clip's first frame is converted at
    about the detection size (`cropper.detection_width` wide, or a little less), the largest face detected there,
    and the frames converted at the smallest whole fraction of their size (a half, a third, ...) at which that
    face's crop box still spans `headroom` times the output size (and the face at least 64 pixels, so that small
    outputs do not shrink it below what the detector and the tracker find). Whole fractions are FFmpeg's fast case;
    other sizes convert up to twice slower than the full size. On a 720p RAVDESS clip that is a third or a quarter of
    the full size for 112-pixel crops, a half for 224-pixel ones. Without a face in the first frame, when the face is
    too small for any reduction, or when the frames are no wider than the detection size, frames stay at full size.
    The face found comes back with the frames (`DecodedClip.frame_size_basis`, a `ProbedFace`) and the processor hands it to the cropper, which starts
    its track there instead of searching the first frame again (a detection costs about 7 ms).

    The cropper then runs on the reduced frames as on full ones: its boxes are in the reduced frame's pixels
    (`source_size / frame size` times smaller).
    """

    cropper: FaceCropper
    headroom: float = FACE_RESOLUTION_HEADROOM

    def __post_init__(self) -> None:
        if not self.headroom >= 1:
            raise ValueError(
                f"headroom must be at least 1 (the crop box at the output's resolution), got {self.headroom}"
            )

    def probe_size(self, source_size: tuple[int, int]) -> tuple[int, int] | None:
        """`(height, width)` of the detection copy (`cropper.detection_width` wide); None if the frames are no wider.

        None means no probe and full-size frames: frames that small cost little to hold and crop whole, and the
        reduction would save next to nothing (CREMA-D's 480x360: `benchmarks/processing.py`).
        """
        height, width = source_size
        target = self.cropper.detection_width
        if target is None:  # detection at full resolution was asked for: probe at full size
            return source_size
        if width <= target:
            return None
        return _divided(source_size, math.ceil(width / target))  # a whole fraction: the scaler's fast case

    def choose(
        self, probe: np.ndarray, source_size: tuple[int, int]
    ) -> tuple[tuple[int, int] | None, ProbedFace | None]:
        """`(height, width)` for the clip's frames from its first frame `probe` (None: full size), and its face.

        The face found there (None if none) lets the cropper start its track without searching the first frame
        again.
        """
        faces = self.cropper.detect(probe)
        if not len(faces):
            return None, None
        height, width = source_size
        face = ProbedFace(faces[FaceCropper._choose(None, faces)], probe.shape[:2]).scaled_to(height, width)
        found = ProbedFace(face, source_size)
        x0, y0, x1, y1 = self.cropper.crop_box(face, height, width)
        out_h, out_w = self.cropper.output_size
        scale = max(
            self.headroom * max(out_h / (y1 - y0), out_w / (x1 - x0)),
            _MIN_DECODED_FACE_PX / min(face[2] - face[0], face[3] - face[1]),
        )
        # A whole fraction of the size: FFmpeg's area scaler converts 720p to a half, a third or a quarter about as
        # fast as without scaling, and to sizes in between up to twice slower (measured on RAVDESS frames).
        factor = math.floor(1 / scale)
        return (_divided((height, width), factor) if factor >= 2 else None), found


def _divided(size: tuple[int, int], factor: int) -> tuple[int, int]:
    """`(height, width)` divided by a whole `factor`, rounded, at least 1 pixel."""
    return max(1, round(size[0] / factor)), max(1, round(size[1] / factor))


def crop_largest_face(frames: np.ndarray, output_size: int | tuple[int, int] = 112, **kwargs) -> FaceCropResult:
    """Crop the largest tracked face from `(T, H, W, 3)` uint8 RGB frames (`FaceCropper(**kwargs)` once)."""
    return FaceCropper(output_size=output_size, **kwargs)(frames)
